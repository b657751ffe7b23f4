"""When the consensus resamples can stop early: the PAC that decide k, settled after a first stage.

With ``clusters.consensus.stop.first`` between 0 and ``resamples`` the consensus runs in two
stages. Resamples ``0 .. first - 1`` always run. :func:`stop_decision` then looks only at what
the consensus decides:

* the PAC of the cluster numbers that can be chosen (SNF's eigen-gap and rotation-cost
  estimates with ``clusters.n: auto``, else the fixed n);
* which of the two has the lower PAC, when the estimates disagree (that picks k);
* on which side of ``clusters.warn.pac`` the chosen k's PAC lies (that raises a doubt).

How far a PAC from ``first`` resamples can be from the PAC of many more is estimated from
:data:`GROUPS` disjoint groups of the first-stage resamples (resample ``r`` in group
``r % GROUPS``), each giving a PAC of its own from ``first / GROUPS`` resamples:

* ``shift``: the groups' mean PAC minus the PAC of all the first-stage resamples. PAC moves
  with the number of resamples (each pair's consensus index is noisier with fewer, and takes
  coarser values), and the move from ``first / GROUPS`` to ``first`` resamples is larger than
  the move left from ``first`` to more.
* ``sd``: the SD of the groups' PAC. It is the spread of a PAC from ``first / GROUPS``
  resamples, larger than that of a PAC from ``first``. It is not divided by ``sqrt(GROUPS)``:
  PAC counts pairs whose consensus index lies in an interval, so whole blocks of pairs cross
  its ends together and its SD shrinks much more slowly than ``1 / sqrt(resamples)`` (on the
  demo cohort, the SD of the chosen k's PAC is about 0.007 from 12 and from 50 resamples).

The error bound of a PAC is ``|shift| + t * sd`` (``t``: Student's 97.5% quantile with
``GROUPS - 1`` degrees of freedom). The rest of the resamples are skipped when:

* every deciding PAC's bound is at most ``tolerance``;
* the two estimates' PAC difference is farther from 0 than its own bound and keeps its sign
  in the groups' mean, or every group has both PAC equal (a tie stays a tie);
* the chosen k's PAC is farther from the doubt threshold than its bound.

There is one look, so no correction for sequential testing is needed. The PAC of the other
cluster numbers, which decide nothing, are reported from the resamples that ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.errors import MetpotError

#: The first-stage resamples are split into this many disjoint groups.
GROUPS = 5

#: Above this many patients the check estimates PAC on a seeded random subset of them (PAC
#: is a mean over pairs: 1,500 patients give 1.1 million pairs, a sampling error of a PAC of
#: 0.2 below 0.001; the check then holds (1 + 2) x 5 float32 matrices of 9 MB).
CHECK_MAX_SAMPLES = 1500

#: Two-sided level of the checks.
LEVEL = 0.95


def _t_quantile(groups: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, groups - 1))


def check_subset(n_samples: int, max_samples: int = CHECK_MAX_SAMPLES, seed: int = 0) -> np.ndarray:
    """The sorted positions of the patients whose pairs the check uses (all, up to
    ``max_samples`` patients)."""
    if n_samples <= max_samples:
        return np.arange(n_samples)
    rng = np.random.default_rng([int(seed), 20140101])
    return np.sort(rng.choice(n_samples, size=max_samples, replace=False))


def pac_by_group(
    n_samples: int,
    tables: Sequence[pd.DataFrame],
    ks: Sequence[int],
    groups: int = GROUPS,
    seed: int = 0,
    max_samples: int = CHECK_MAX_SAMPLES,
) -> dict:
    """PAC of some cluster numbers from all resamples and from disjoint groups of them.

    Parameters
    ----------
    n_samples : int
        Patients of the cohort.
    tables : sequence of DataFrame
        One per resample, in resample order (:func:`metpot.consensus.cluster_resample`:
        index the sample positions, one label column per k).
    ks : sequence of int
        The cluster numbers (columns of the tables) to estimate.
    groups : int
        Resample ``r`` (position in ``tables``) is in group ``r % groups``.
    seed : int
        Seed of the patient subset above ``max_samples`` patients.
    max_samples : int
        See :data:`CHECK_MAX_SAMPLES`.

    Returns
    -------
    dict
        ``pac`` (k -> PAC from every table), ``groups`` (k -> array of the PAC of each
        group alone), ``n_samples`` (patients used), ``n_resamples``.
    """
    from metpot.consensus import _co_clustered, _ratio, pac

    tables = list(tables)
    if groups < 2 or len(tables) < 2 * groups:
        raise MetpotError(
            f"the consensus stopping check needs at least {2 * groups} resamples "
            f"({groups} groups of 2), got {len(tables)}"
        )
    keep = check_subset(int(n_samples), max_samples, seed)
    m = len(keep)
    where = np.full(int(n_samples), -1)
    where[keep] = np.arange(m)
    drawn: list[list] = [[] for _ in range(groups)]
    grouped: dict[int, list[list]] = {int(k): [[] for _ in range(groups)] for k in ks}
    for r, tab in enumerate(tables):
        pos = where[tab.index.to_numpy()]
        inside = pos >= 0
        pos = pos[inside]
        drawn[r % groups].append((pos, np.zeros(len(pos), np.int64), 1))
        for k in grouped:
            levels, codes = np.unique(tab[k].to_numpy()[inside], return_inverse=True)
            grouped[k][r % groups].append((pos, codes.reshape(-1), len(levels)))
    counts = [_co_clustered(m, d) for d in drawn]
    total = np.sum(counts, axis=0)
    out: dict = {"pac": {}, "groups": {}, "n_samples": m, "n_resamples": len(tables)}
    for k, per_group in grouped.items():
        together = [_co_clustered(m, g) for g in per_group]
        out["pac"][k] = pac(_ratio(np.sum(together, axis=0), total))
        out["groups"][k] = np.array(
            [pac(_ratio(t, c)) for t, c in zip(together, counts, strict=True)]
        )
    return out


def _error(full: float, per_group: np.ndarray) -> tuple[float, float]:
    """``(shift, sd)``: the groups' mean PAC minus the PAC of all, and their SD."""
    return float(np.mean(per_group)) - full, float(np.std(per_group, ddof=1))


def stop_decision(
    first: Mapping,
    estimates: Mapping[str, int],
    n: int | str,
    pac_max: float,
    tolerance: float,
    resamples: int,
) -> dict:
    """Whether the consensus can stop after the first-stage resamples.

    Parameters
    ----------
    first : mapping
        :func:`pac_by_group` of the first stage, for the deciding cluster numbers
        (:func:`deciding_ks`).
    estimates : mapping
        SNF's cluster-number estimates of the fused network
        (:func:`metpot.clusters.cluster_fused`).
    n : int or "auto"
        ``clusters.n``.
    pac_max : float
        ``clusters.warn.pac``.
    tolerance : float
        ``clusters.consensus.stop.tolerance`` (PAC units).
    resamples : int
        ``clusters.consensus.resamples`` (recorded).

    Returns
    -------
    dict
        JSON-ready: ``stop``, ``k`` (the k the first stage chooses), ``resamples_run``,
        ``resamples``, ``pac`` (per deciding k: ``pac``, ``shift``, ``sd``, ``bound``),
        ``checks`` (each ``check``, ``passed``, ``message``), ``tolerance``, ``level``,
        ``groups``, ``n_samples``.
    """
    from metpot.spectral import choose_n_clusters

    per_group = {int(k): np.asarray(v, dtype=float) for k, v in first["groups"].items()}
    n_groups = len(next(iter(per_group.values())))
    t = _t_quantile(n_groups)
    pacs = {int(k): float(v) for k, v in first["pac"].items()}
    stats = {k: _error(pacs[k], per_group[k]) for k in pacs}
    bound = {k: abs(stats[k][0]) + t * stats[k][1] for k in pacs}
    k, _ = choose_n_clusters(estimates, pacs, n)
    checks = []
    for c in sorted(pacs):
        shift, sd = stats[c]
        checks.append(
            {
                "check": f"precision k={c}",
                "passed": bool(bound[c] <= tolerance),
                "message": f"PAC of k = {c} is {pacs[c]:.4f} +- {bound[c]:.4f} (|shift| "
                f"{abs(shift):.4f} + {t:.2f} x SD {sd:.4f}; tolerance {tolerance:g})",
            }
        )
    decisive = deciding_ks(estimates, n)
    if len(decisive) == 2:
        a, b = decisive
        d = pacs[a] - pacs[b]
        diffs = per_group[a] - per_group[b]
        shift, sd = _error(d, diffs)
        tie = d == 0 and not np.any(diffs)
        settled = tie or (np.sign(d) == np.sign(d + shift) and abs(d) > abs(shift) + t * sd)
        checks.append(
            {
                "check": "choice",
                "passed": bool(settled),
                "message": f"PAC of k = {a} minus PAC of k = {b} is {d:.4f} +- "
                f"{abs(shift) + t * sd:.4f}",
            }
        )
    gap = pacs[k] - pac_max
    side = np.sign(gap) == np.sign(gap + stats[k][0]) and abs(gap) > bound[k]
    checks.append(
        {
            "check": "doubt",
            "passed": bool(side),
            "message": f"PAC of the chosen k = {k} is {pacs[k]:.4f}, "
            f"{'above' if gap > 0 else 'at or below'} clusters.warn.pac = {pac_max:g} by "
            f"{abs(gap):.4f} (bound {bound[k]:.4f})",
        }
    )
    return {
        "stop": all(c["passed"] for c in checks),
        "k": int(k),
        "resamples_run": int(first["n_resamples"]),
        "resamples": int(resamples),
        "pac": {
            str(c): {
                "pac": round(pacs[c], 6),
                "shift": round(stats[c][0], 6),
                "sd": round(stats[c][1], 6),
                "bound": round(bound[c], 6),
            }
            for c in sorted(pacs)
        },
        "checks": checks,
        "tolerance": float(tolerance),
        "level": LEVEL,
        "groups": int(n_groups),
        "n_samples": int(first["n_samples"]),
    }


def deciding_ks(estimates: Mapping[str, int], n: int | str) -> list[int]:
    """The cluster numbers the consensus can decide between: the fixed ``n``, else SNF's
    eigen-gap and rotation-cost estimates (one when they agree)."""
    if n != "auto":
        return [int(n)]
    return sorted({int(estimates["eigengap_best"]), int(estimates["rotation_cost_best"])})
