"""Choosing the number of subtypes, naming them, and agreement with known labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data


def choose_n_clusters(
    estimates: Mapping[str, int], pac: Mapping[int, float] | None = None, n: int | str = "auto"
) -> tuple[int, str]:
    """Choose the number of clusters from SNF's estimates and consensus stability.

    Parameters
    ----------
    estimates : mapping
        ``eigengap_best``, ``eigengap_second``, ``rotation_cost_best``,
        ``rotation_cost_second`` (SNFtool ``estimateNumberOfClustersGivenGraph``).
    pac : mapping of int to float, optional
        Proportion of ambiguous clustering per k (lower is more stable).
    n : int or "auto"
        A fixed number is returned as is.

    Returns
    -------
    k : int
    why : str
        One sentence saying how ``k`` was chosen.

    Notes
    -----
    With ``n="auto"``: the shortlist is the k named by any of the four estimates. Without
    consensus results, the k named by most estimates wins (ties: the rotation-cost best, which
    SNF's authors recommend, then the smaller k). With consensus results, the shortlisted k
    with the lowest PAC wins (ties: more estimates naming it, then the smaller k).
    """
    if n != "auto":
        return int(n), f"fixed by configuration (clusters.n = {n})"
    order = ["rotation_cost_best", "eigengap_best", "rotation_cost_second", "eigengap_second"]
    votes: dict[int, int] = {}
    for key in order:
        votes[int(estimates[key])] = votes.get(int(estimates[key]), 0) + 1
    first_named = {k: min(i for i, key in enumerate(order) if estimates[key] == k) for k in votes}
    if not pac:
        k = min(votes, key=lambda c: (-votes[c], first_named[c], c))
        return k, (
            f"named by {votes[k]} of the 4 SNF estimates (eigen-gap and rotation cost, best "
            "and second best); no consensus resampling was run"
        )
    scored = [c for c in votes if c in pac and np.isfinite(pac[c])]
    if not scored:
        raise MetpotError("no consensus PAC available for the shortlisted numbers of clusters")
    k = min(scored, key=lambda c: (round(pac[c], 12), -votes[c], c))
    others = ", ".join(f"k={c}: {pac[c]:.3f}" for c in sorted(scored) if c != k)
    return k, (
        f"lowest consensus PAC ({pac[k]:.3f}) among the k named by the SNF estimates "
        f"(named by {votes[k]} of 4){'; ' + others if others else ''}"
    )


def agreement(labels: pd.Series, truth: pd.Series) -> dict:
    """Agreement of found subtypes with known labels.

    Parameters
    ----------
    labels : Series
        Found subtype per sample id.
    truth : Series
        Known label per sample id (samples without one are ignored).

    Returns
    -------
    dict
        ``n``, ``ari``, ``nmi`` (arithmetic normalisation, scikit-learn's default),
        ``nmi_snftool`` (SNFtool ``calNMI``) and ``confusion`` (a DataFrame, truth x subtype).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from metpot.snf import nmi as snf_nmi

    common = [s for s in labels.index if s in truth.index]
    if not common:
        raise MetpotError("no sample has both a subtype and a known label")
    a = labels.loc[common].to_numpy()
    b = truth.loc[common].astype(str).to_numpy()
    codes = pd.factorize(pd.Series(b), sort=True)[0] + 1
    confusion = pd.crosstab(pd.Series(b, name="truth"), pd.Series(a, name="subtype"))
    return {
        "n": len(common),
        "ari": float(adjusted_rand_score(b, a)),
        "nmi": float(normalized_mutual_info_score(b, a)),
        "nmi_snftool": float(snf_nmi(a, codes)),
        "confusion": confusion,
    }


def signature_scores(X: pd.DataFrame, signatures: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Mean z-score of each signature's genes per sample.

    Parameters
    ----------
    X : DataFrame
        Samples x features (not necessarily scaled: each feature is z-scored here).
    signatures : mapping of str to list of str
        Signature name -> feature ids; ids absent from ``X`` are named in a warning.

    Returns
    -------
    DataFrame
        Samples x signatures.
    """
    sd = X.std(axis=0, ddof=1).replace(0, 1.0)
    Z = (X - X.mean(axis=0)) / sd
    out = {}
    for name, genes in signatures.items():
        present = [g for g in genes if g in Z.columns]
        absent = [g for g in genes if g not in Z.columns]
        if absent:
            warn_data(f"signature {name}: {len(absent)} feature(s) not in the data: "
                      f"{name_list(absent)}")
        if not present:
            raise MetpotError(f"signature {name}: none of its features is in the data")
        out[name] = Z[present].mean(axis=1)
    return pd.DataFrame(out, index=X.index)


def name_subtypes(labels: pd.Series, scores: pd.DataFrame) -> pd.DataFrame:
    """Name each subtype after the signature it scores highest on (one name per subtype).

    Parameters
    ----------
    labels : Series
        Subtype (1..k) per sample id.
    scores : DataFrame
        Signature scores per sample (:func:`signature_scores`).

    Returns
    -------
    DataFrame
        One row per subtype: ``subtype``, ``name``, ``n``, and the mean score of each
        signature. Names are assigned by maximum total score (Hungarian assignment); a subtype
        left without a signature is named ``subtype<k>``.
    """
    from scipy.optimize import linear_sum_assignment

    means = scores.loc[labels.index].groupby(labels.to_numpy()).mean().sort_index()
    rows, cols = linear_sum_assignment(-means.to_numpy())
    names = {k: f"subtype{k}" for k in means.index}
    for r, c in zip(rows, cols, strict=True):
        names[means.index[r]] = means.columns[c]
    table = means.add_prefix("score_").reset_index(names="subtype")
    table.insert(1, "name", [names[k] for k in table["subtype"]])
    table.insert(2, "n", [int((labels == k).sum()) for k in table["subtype"]])
    return table
