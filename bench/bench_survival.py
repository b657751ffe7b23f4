"""Time Harrell's/Uno's C and the bootstrap concordance table: the previous O(n^2) code (kept
below as the named baseline) against metpot.survival, and the whole outcomes.analyse_endpoint.

python bench/bench_survival.py [--sizes 1000 4000 10000] [--old-max 4000] [--boot 1000]
                               [--old-boot 10] [--repeat 3]

The baseline's bootstrap table is timed on ``--old-boot`` resamples and scaled linearly to
``--boot`` (every resample costs the same: three predictors, both C); its values on those
resamples are compared with the new code's on the same resamples. One C is the fastest of
``--repeat`` calls, old and new alike. BLAS is limited to one
thread and the numba kernels are serial, so everything runs on one core.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from metpot import survival as sv
from metpot.outcomes import analyse_endpoint

# ---------------------------------------------------------------------------------------------
# baseline: metpot.survival's concordance before the O(n log n) rewrite (n x n matrices)
# ---------------------------------------------------------------------------------------------


def old_harrell_counts(t, e, r):
    ti, tj = t[:, None], t[None, :]
    comp = e[:, None] & ((tj > ti) | ((tj == ti) & ~e[None, :]))
    ri, rj = r[:, None], r[None, :]
    conc = np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))
    return float((conc * comp).sum()), float(comp.sum())


def old_censoring_km_left(t, e):
    km = sv.kaplan_meier(t, ~e, conf_type="none")
    kt, ks = km["time"].to_numpy(), km["surv"].to_numpy()
    ind = np.searchsorted(kt, t, side="left")
    return np.r_[1.0, ks][ind]


def old_uno_counts(t, e, r, tau):
    g = old_censoring_km_left(t, e)
    ok = e & (g > 0)
    if tau is not None:
        ok &= t < tau
    w = np.zeros_like(t)
    w[ok] = 1.0 / g[ok] ** 2
    comp = ok[:, None] & (t[:, None] < t[None, :])
    ri, rj = r[:, None], r[None, :]
    conc = np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))
    wc = comp * w[:, None]
    return float((wc * conc).sum()), float(wc.sum())


def old_harrell_c(t, e, r):
    num, den = old_harrell_counts(t, e, r)
    return num / den if den > 0 else float("nan")


def old_uno_c(t, e, r, tau=None):
    num, den = old_uno_counts(t, e, r, tau)
    return num / den if den > 0 else float("nan")


def old_bootstrap(t, e, preds, n_boot, seed, tau=None):
    """The previous concordance_table's resampling loop: (n_boot x K x 2) Harrell/Uno C."""
    names = list(preds)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(names), 2))
    for b in range(n_boot):
        idx = rng.integers(0, t.size, t.size)
        tt, ee = t[idx], e[idx]
        for k, nm in enumerate(names):
            r = preds[nm][idx]
            hn, hd = old_harrell_counts(tt, ee, r)
            un, ud = old_uno_counts(tt, ee, r, tau)
            boot[b, k] = (hn / hd if hd else np.nan, un / ud if ud else np.nan)
    return boot


def new_bootstrap(t, e, preds, n_boot, seed, tau=None):
    """The same resamples through metpot.survival's table (its C values per resample)."""
    from metpot.survival.concordance import _Layout, _ratios, _resamples

    layout = _Layout(t, e, np.array(list(preds.values())), tau)
    return _ratios(layout.sums(_resamples(t.size, n_boot, seed)))


# ---------------------------------------------------------------------------------------------


def make_data(n, seed):
    """Rounded times (ties), 60% deaths, three predictors shaped like the survival step's."""
    rng = np.random.default_rng(seed)
    subtype = rng.integers(0, 3, n)
    crs = rng.integers(0, 6, n).astype(float)
    hazard = np.exp(0.25 * crs + 0.4 * (subtype == 2))
    t = np.round(rng.exponential(30 / hazard), 1)
    e = rng.random(n) < 0.6
    preds = {
        "crs": 0.3 * crs,
        "subtype": 0.5 * (subtype == 2) - 0.2 * (subtype == 1),
        "crs_subtype": 0.28 * crs + 0.45 * (subtype == 2) - 0.15 * (subtype == 1),
    }
    return t, e, preds, rng.normal(size=n) + 0.3 * crs


def endpoint_inputs(n, seed):
    from metpot.risk_score import PITRODA_2018, fong_score
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n_patients=n, n_genes=200, n_mirnas=100, seed=seed)
    clinical = cohort["clinical"].set_index("sample_id")
    surv = sv.survival_frame(clinical, "os_months", "os_event", 1)
    crs = fong_score(
        clinical,
        node_positive="node_positive",
        disease_free_interval_months="disease_free_interval_months",
        n_liver_tumors="n_liver_tumors",
        cea_ng_ml="cea_ng_ml",
        largest_tumor_cm="largest_tumor_cm",
    )["scores"]
    codes = {"canonical": 1, "immune": 2, "stromal": 3}
    subtype = cohort["truth"].set_index("sample_id")["label"].map(codes)
    return {
        "time": surv["time"],
        "event": surv["event"],
        "subtype": subtype,
        "names": {v: k for k, v in codes.items()},
        "crs": crs,
        "landmarks": [12, 60, 120],
        "integrated_table": PITRODA_2018,
    }


def timed(fn, *args, repeat=1, **kwargs):
    """(fastest wall time of ``repeat`` calls, result)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--old-max", type=int, default=4000, help="largest n for the baseline")
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--old-boot", type=int, default=10, help="baseline resamples timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="one C: fastest of this many")
    parser.add_argument("--no-endpoint", action="store_true", help="skip analyse_endpoint")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t, e, preds, r = make_data(50, 1)  # warm-up: load the cached numba kernels
    sv.concordance_table(t, e, preds, n_boot=2)

    one, table, endpoint = [], [], []
    for n in args.sizes:
        t, e, preds, r = make_data(n, args.seed)
        tau = float(np.quantile(t, 0.9))
        old = n <= args.old_max
        new_h, ch = timed(sv.harrell_c, t, e, r, repeat=args.repeat)
        new_u, cu = timed(sv.uno_c, t, e, r, tau, repeat=args.repeat)
        if old:
            old_h, oh = timed(old_harrell_c, t, e, r, repeat=args.repeat)
            old_u, ou = timed(old_uno_c, t, e, r, tau, repeat=args.repeat)
            diff = max(abs(ch - oh) / oh, abs(cu - ou) / ou)
            one.append((n, old_h, new_h, old_u, new_u, diff))
        else:
            one.append((n, None, new_h, None, new_u, None))

        new_t, _ = timed(sv.concordance_table, t, e, preds, n_boot=args.boot, seed=args.seed)
        if old:
            old_t, ob = timed(old_bootstrap, t, e, preds, args.old_boot, args.seed)
            nb = new_bootstrap(t, e, preds, args.old_boot, args.seed)
            scaled = old_t * args.boot / args.old_boot
            table.append((n, scaled, new_t, float(np.max(np.abs(ob - nb)))))
        else:
            table.append((n, None, new_t, None))
        if not args.no_endpoint:
            inputs = endpoint_inputs(n, args.seed + 2018)
            secs, res = timed(analyse_endpoint, **inputs, n_boot=args.boot)
            endpoint.append((n, res["n"], secs))
        print(f"done n = {n}", flush=True)

    def f(x, fmt):
        return "-" if x is None else format(x, fmt)

    print("\n### One C (seconds)\n")
    print("| n | old Harrell | new Harrell | ratio | old Uno | new Uno | ratio | max rel. diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, oh, nh, ou, nu, d in one:
        rh = None if oh is None else oh / nh
        ru = None if ou is None else ou / nu
        print(
            f"| {n} | {f(oh, '.3f')} | {nh:.5f} | {f(rh, '.0f')} | {f(ou, '.3f')} | {nu:.5f} "
            f"| {f(ru, '.0f')} | {f(d, '.1e')} |"
        )
    print(f"\n### Bootstrap concordance table, 3 predictors x {args.boot} resamples (seconds)\n")
    print(
        f"| n | old (timed on {args.old_boot}, scaled) | new | ratio "
        f"| max abs. diff of the {args.old_boot} resamples' C |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, o, nw, d in table:
        print(
            f"| {n} | {f(o, '.1f')} | {nw:.2f} | {f(None if o is None else o / nw, '.0f')} "
            f"| {f(d, '.1e')} |"
        )
    if endpoint:
        print(f"\n### outcomes.analyse_endpoint (OS, CRS + subtype, {args.boot} resamples)\n")
        print("| n simulated | patients analysed | seconds |")
        print("|---:|---:|---:|")
        for n, m, s in endpoint:
            print(f"| {n} | {m} | {s:.2f} |")


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
