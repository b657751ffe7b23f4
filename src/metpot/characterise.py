"""Subtype characterisation: differential features per layer and gene-set scores per subtype.

Each subtype is compared with the rest of the cohort (one against the rest), feature by
feature, in every omics layer, and, when gene sets are configured, on per-sample gene-set
scores, whose results suggest a name for each subtype.

**Which data.** The tests run on *every* feature of a layer as ingested (the samples kept by
``ingest``), after the layer's configured transform (``preprocess.transform``, e.g.
``log2``) and nothing else: not only the top-variance features kept for SNF, not imputed and
not scaled. A feature left out of SNF can still mark a subtype, imputed cells would pose as
observations, and rank tests do not need scaling. Missing cells are left out of the test of
their feature (``n_in``/``n_out`` count the observed values); constant features cannot be
ranked and are named in a warning and left out of the table.

**The test.** A two-sided Mann-Whitney U test per feature (:func:`scipy.stats.mannwhitneyu`,
vectorised over features), with scipy's own choice of method made per feature: the exact
distribution of U when a group has at most 8 observed values and the feature has no ties,
else the normal approximation with tie correction and continuity correction. The effect size
is the AUC ``U / (n_in * n_out)``: the probability that a sample of the subtype has a higher
value than a sample of the rest (ties count one half); 0.5 is no difference. Means and their
difference are on the analysed scale (log2 units after a log2 transform). p-values are
adjusted with Benjamini-Hochberg (:func:`scipy.stats.false_discovery_control`) within each
subtype x layer (the features of one layer tested for one subtype form one family).

**Gene sets.** A set's score per sample is the mean z-score of its genes
(:func:`metpot.clusters.signature_scores`, the scoring that names subtypes after
``subtypes.signatures``). Per set, a Kruskal-Wallis test across all subtypes (BH over the
sets) and a Mann-Whitney test of each subtype against the rest (BH over every subtype x set
test). A subtype is *suggested* the set whose mean score is highest in it, when that set's
score is significantly higher in the subtype than in the rest (FDR below the threshold, AUC
above 0.5); otherwise no name is suggested. Several subtypes may be suggested the same set:
the table says so instead of forcing one name per subtype.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data

__all__ = [
    "DIFFERENTIAL_COLUMNS",
    "analysed_layer",
    "benjamini_hochberg",
    "differential_features",
    "gene_set_scores",
    "gene_set_tests",
    "one_vs_rest",
    "suggest_names",
    "top_features",
]

DIFFERENTIAL_COLUMNS = [
    "layer", "subtype", "name", "feature", "n_in", "n_out", "mean_in", "mean_out",
    "difference", "auc", "p_value", "fdr", "rank", "direction",
]  # fmt: skip
"""Columns of :func:`differential_features`, in order."""

#: Features listed per subtype and the FDR they must pass when ``characterise.top`` and
#: ``characterise.fdr`` are not given.
DEFAULT_TOP = 20
DEFAULT_FDR = 0.05


def settings(section: Mapping | None) -> tuple[int, float]:
    """``(top, fdr)`` of the ``characterise`` config ``section`` (None: the defaults): the
    features per subtype in the marker tables and figures, and the FDR they must pass."""
    section = {"top": DEFAULT_TOP, "fdr": DEFAULT_FDR, **(section or {})}
    return int(section["top"]), float(section["fdr"])


_EXACT_MAX_N = 8  # scipy's 'auto': exact when a group has at most 8 values and no ties


def analysed_layer(X: pd.DataFrame, transform: str = "none", layer: str = "layer") -> pd.DataFrame:
    """The values a layer is characterised on: every feature, the configured transform only.

    Parameters
    ----------
    X : DataFrame
        Samples x features as ingested (NaN = missing).
    transform : {"none", "log2"}
        The layer's ``preprocess.transform``; ``log2`` is ``log2(x + 1)``
        (:func:`metpot.preprocess.log2_transform`, which refuses negative values).
    layer : str
        Layer name for messages.

    Returns
    -------
    DataFrame
        Same shape as ``X``; missing cells stay missing (no imputation), no scaling.
    """
    if transform == "log2":
        from metpot.preprocess import log2_transform

        return log2_transform(X, layer)
    if transform != "none":
        raise MetpotError(f"layer {layer}: unknown transform {transform!r}")
    return X


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (FDR); NaN p-values stay NaN and are not counted.

    Parameters
    ----------
    p : array-like
        p-values.

    Returns
    -------
    numpy.ndarray
        :func:`scipy.stats.false_discovery_control` with ``method="bh"`` over the finite
        p-values.
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


def _has_ties(values: np.ndarray) -> np.ndarray:
    """Per column of a complete (no NaN) matrix: whether two values are equal."""
    s = np.sort(values, axis=0)
    return (s[1:] == s[:-1]).any(axis=0) if len(s) > 1 else np.zeros(values.shape[1], bool)


def _mwu(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U of ``a`` and the two-sided p-value per column, scipy's method chosen per column."""
    from scipy.stats import mannwhitneyu

    n1, n2 = len(a), len(b)
    m = a.shape[1]
    u, p = np.full(m, np.nan), np.full(m, np.nan)
    if m == 0:
        return u, p
    small = n1 <= _EXACT_MAX_N or n2 <= _EXACT_MAX_N
    exact = ~_has_ties(np.vstack([a, b])) if small else np.zeros(m, bool)
    for method, cols in (("exact", exact), ("asymptotic", ~exact)):
        if cols.any():
            res = mannwhitneyu(a[:, cols], b[:, cols], axis=0, method=method)
            u[cols], p[cols] = res.statistic, res.pvalue
    return u, p


def one_vs_rest(X: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Mann-Whitney U test of every feature, each group against the rest.

    Parameters
    ----------
    X : DataFrame
        Samples x features (NaN = missing: left out of that feature's test). Every feature
        needs two distinct observed values (see :func:`differential_features`).
    labels : Series
        Group per sample id (every sample of ``X``).

    Returns
    -------
    DataFrame
        One row per group x feature, groups in sorted order and features in ``X``'s order:
        ``subtype``, ``feature``, ``n_in``, ``n_out`` (observed values), ``mean_in``,
        ``mean_out``, ``difference`` (``mean_in - mean_out``), ``u`` (U of the group), ``auc``
        (``u / (n_in * n_out)``) and ``p_value`` (two-sided; exact or asymptotic as
        :func:`scipy.stats.mannwhitneyu`'s ``method="auto"`` chooses for that feature alone).
        A feature without an observed value in the group or in the rest gets NaN statistics.
    """
    missing = [s for s in X.index if s not in labels.index]
    if missing:
        raise MetpotError(f"one_vs_rest: sample(s) without a subtype: {name_list(missing)}")
    lab = labels.loc[X.index].to_numpy()
    V = X.to_numpy(dtype=float)
    nan = np.isnan(V)
    complete = ~nan.any(axis=0)
    Vz = np.where(nan, 0.0, V)
    rows = []
    for g in sorted(pd.unique(lab)):
        inside = lab == g
        n_in = (~nan[inside]).sum(axis=0)
        n_out = (~nan[~inside]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in = Vz[inside].sum(axis=0) / n_in
            mean_out = Vz[~inside].sum(axis=0) / n_out
        u, p = np.full(V.shape[1], np.nan), np.full(V.shape[1], np.nan)
        u[complete], p[complete] = _mwu(V[inside][:, complete], V[~inside][:, complete])
        for j in np.flatnonzero(~complete):
            a = V[inside & ~nan[:, j], j]
            b = V[~inside & ~nan[:, j], j]
            if len(a) and len(b):
                uj, pj = _mwu(a[:, None], b[:, None])
                u[j], p[j] = uj[0], pj[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = u / (n_in * n_out)
        rows.append(
            pd.DataFrame(
                {
                    "subtype": g,
                    "feature": X.columns,
                    "n_in": n_in,
                    "n_out": n_out,
                    "mean_in": mean_in,
                    "mean_out": mean_out,
                    "difference": mean_in - mean_out,
                    "u": u,
                    "auc": auc,
                    "p_value": p,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _testable(X: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Drop (with a warning naming them) features with fewer than two distinct values."""
    V = X.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        lo, hi = np.nanmin(V, axis=0), np.nanmax(V, axis=0)
    empty = np.isnan(V).all(axis=0)
    const = ~empty & (lo == hi)
    if empty.any():
        names = X.columns[empty].tolist()
        warn_data(
            f"layer {layer}: {len(names)} feature(s) without an observed value not tested: "
            f"{name_list(names)}"
        )
    if const.any():
        names = X.columns[const].tolist()
        warn_data(f"layer {layer}: {len(names)} constant feature(s) not tested: {name_list(names)}")
    return X.loc[:, ~(empty | const)]


def differential_features(
    X: pd.DataFrame,
    labels: pd.Series,
    layer: str = "layer",
    names: Mapping | None = None,
) -> pd.DataFrame:
    """Differential features of one layer, each subtype against the rest.

    Parameters
    ----------
    X : DataFrame
        Samples x features on the analysed scale (:func:`analysed_layer`).
    labels : Series
        Subtype per sample id; samples of ``X`` without one are an error.
    layer : str
        Layer name (first column, and messages).
    names : mapping, optional
        Subtype -> name (``clusters/subtypes.tsv``); default ``subtype<k>``.

    Returns
    -------
    DataFrame
        :data:`DIFFERENTIAL_COLUMNS`, sorted by subtype then rank: the statistics of
        :func:`one_vs_rest`, ``fdr`` (Benjamini-Hochberg within the subtype x layer),
        ``rank`` (1 = smallest p-value; ties by the larger ``|auc - 0.5|``, then the layer's
        feature order) and ``direction`` (``up``: higher in the subtype, AUC > 0.5;
        ``down``; ``none``). Features with fewer than two distinct observed values are left
        out, with a warning naming them.
    """
    X = _testable(X, layer)
    if X.shape[1] == 0:
        raise MetpotError(f"layer {layer}: no feature can be tested (every one is constant)")
    table = one_vs_rest(X, labels)
    table.insert(0, "layer", layer)
    table.insert(2, "name", [(names or {}).get(k, f"subtype{k}") for k in table["subtype"]])
    pos = np.tile(np.arange(X.shape[1]), table["subtype"].nunique())
    parts = []
    for _, g in table.groupby("subtype", sort=True):
        g = g.copy()
        g["fdr"] = benjamini_hochberg(g["p_value"])
        p = g["p_value"].to_numpy(float)
        order = np.lexsort(
            (pos[g.index], -np.abs(g["auc"].to_numpy(float) - 0.5), np.where(np.isnan(p), 2, p))
        )
        rank = np.empty(len(g), dtype=int)
        rank[order] = np.arange(1, len(g) + 1)
        g["rank"] = rank
        parts.append(g.iloc[order])
    out = pd.concat(parts, ignore_index=True)
    auc = out["auc"].to_numpy(float)
    out["direction"] = np.select([auc > 0.5, auc < 0.5], ["up", "down"], "none")
    return out[DIFFERENTIAL_COLUMNS]


def top_features(
    table: pd.DataFrame, top: int = DEFAULT_TOP, fdr: float = DEFAULT_FDR
) -> pd.DataFrame:
    """The top features of every layer x subtype x direction among those passing the FDR.

    Parameters
    ----------
    table : DataFrame
        :func:`differential_features` of one or more layers (stacked).
    top : int
        Features kept per layer x subtype x direction (``up`` first, then ``down``).
    fdr : float
        Features with ``fdr`` below it pass.

    Returns
    -------
    DataFrame
        The rows kept, by layer (in table order), subtype, direction, rank.
    """
    passing = table[(table["fdr"] < fdr) & table["direction"].isin(["up", "down"])]
    layers = list(dict.fromkeys(table["layer"]))
    passing = passing.assign(
        _layer=passing["layer"].map({v: i for i, v in enumerate(layers)}),
        _dir=(passing["direction"] == "down").astype(int),
    )
    keys = ["_layer", "subtype", "_dir"]
    passing = passing.sort_values([*keys, "rank"], kind="stable")
    out = passing.groupby(keys, sort=False).head(top)
    return out.drop(columns=["_layer", "_dir"]).reset_index(drop=True)


def gene_set_scores(
    X: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], layer: str = "layer"
) -> pd.DataFrame:
    """Per-sample gene-set scores: the mean z-score of each set's genes.

    Parameters
    ----------
    X : DataFrame
        Samples x features on the analysed scale.
    gene_sets : mapping of str to list of str
        ``characterise.gene_sets``: set name -> genes.
    layer : str
        Layer name for messages.

    Returns
    -------
    DataFrame
        Samples x sets (:func:`metpot.clusters.signature_scores`). Genes absent from the
        layer are named in a warning; a set with none of its genes is a
        :class:`~metpot.errors.MetpotError` naming ``characterise.gene_sets.<name>``.
    """
    from metpot.clusters import signature_scores

    return signature_scores(
        X, gene_sets, config_key="characterise.gene_sets", where=f"layer {layer}"
    )


def gene_set_tests(
    scores: pd.DataFrame, labels: pd.Series, names: Mapping | None = None
) -> pd.DataFrame:
    """Tests of gene-set scores across subtypes and of each subtype against the rest.

    Parameters
    ----------
    scores : DataFrame
        Samples x sets (:func:`gene_set_scores`).
    labels : Series
        Subtype per sample id.
    names : mapping, optional
        Subtype -> name.

    Returns
    -------
    DataFrame
        ``gene_set``, ``test`` (``kruskal_wallis`` across all subtypes, ``mann_whitney`` one
        subtype against the rest), ``subtype`` and ``name`` (empty for Kruskal-Wallis),
        ``n_in``, ``n_out``, ``mean_in``, ``mean_out``, ``difference``, ``auc``,
        ``statistic`` (H, or U of the subtype), ``p_value`` and ``fdr``: Benjamini-Hochberg
        over the sets for Kruskal-Wallis, over every subtype x set for the one-vs-rest tests.
    """
    from scipy.stats import kruskal

    lab = labels.loc[scores.index]
    kw = []
    for s in scores.columns:
        v = scores[s]
        groups = [v[(lab == k).to_numpy()].dropna().to_numpy() for k in sorted(lab.unique())]
        groups = [g for g in groups if len(g)]
        if len(groups) >= 2 and np.ptp(np.concatenate(groups)) > 0:
            res = kruskal(*groups)
            h, p = float(res.statistic), float(res.pvalue)
        else:
            h = p = np.nan
        kw.append({"gene_set": s, "test": "kruskal_wallis", "statistic": h, "p_value": p})
    kw = pd.DataFrame(kw)
    kw["fdr"] = benjamini_hochberg(kw["p_value"])
    ovr = one_vs_rest(scores, lab).rename(columns={"feature": "gene_set", "u": "statistic"})
    ovr["fdr"] = benjamini_hochberg(ovr["p_value"])
    ovr["test"] = "mann_whitney"
    ovr["name"] = [(names or {}).get(k, f"subtype{k}") for k in ovr["subtype"]]
    ovr["subtype"] = ovr["subtype"].astype("Int64")
    cols = [
        "gene_set", "test", "subtype", "name", "n_in", "n_out", "mean_in", "mean_out",
        "difference", "auc", "statistic", "p_value", "fdr",
    ]  # fmt: skip
    out = pd.concat([kw, ovr], ignore_index=True)
    for col in ("subtype", "n_in", "n_out"):
        out[col] = out[col].astype("Int64")
    order = {s: i for i, s in enumerate(scores.columns)}
    out = out.assign(_set=out["gene_set"].map(order), _kw=out["test"] != "kruskal_wallis")
    out = out.sort_values(["_set", "_kw", "subtype"], kind="stable")
    return out[cols].reset_index(drop=True)


def suggest_names(tests: pd.DataFrame, fdr: float = DEFAULT_FDR) -> pd.DataFrame:
    """The name the gene sets suggest for each subtype (or none), without forcing uniqueness.

    Parameters
    ----------
    tests : DataFrame
        :func:`gene_set_tests`.
    fdr : float
        A subtype's highest-scoring set is suggested when its one-vs-rest ``fdr`` is below
        this and its scores are higher in the subtype (AUC > 0.5).

    Returns
    -------
    DataFrame
        One row per subtype: ``subtype``, ``name`` (the current name), ``n``,
        ``suggested`` (the set, or ``none``), ``gene_set`` (the set scoring highest in the
        subtype), its ``mean_in``, ``mean_out``, ``auc`` and ``fdr``, ``shared_with`` (other
        subtypes, by name, suggested the same set; ``;``-joined) and ``note``.
    """
    ovr = tests[tests["test"] == "mann_whitney"]
    rows = []
    for k, g in ovr.groupby("subtype", sort=True):
        best = g.loc[g["mean_in"].astype(float).idxmax()]
        ok = bool(best["fdr"] < fdr and best["auc"] > 0.5)
        if ok:
            note = ""
        elif best["auc"] <= 0.5:
            note = f"{best['gene_set']} scores highest here but not above the rest"
        else:
            note = (
                f"{best['gene_set']} scores highest here but not significantly above the rest "
                f"(FDR {best['fdr']:.2g} >= {fdr:g})"
            )
        rows.append(
            {
                "subtype": int(k),
                "name": best["name"],
                "n": int(best["n_in"]),
                "suggested": best["gene_set"] if ok else "none",
                "gene_set": best["gene_set"],
                "mean_in": float(best["mean_in"]),
                "mean_out": float(best["mean_out"]),
                "auc": float(best["auc"]),
                "fdr": float(best["fdr"]),
                "note": note,
            }
        )
    out = pd.DataFrame(rows)
    shared = []
    for r in out.itertuples():
        others = out[(out["suggested"] == r.suggested) & (out["subtype"] != r.subtype)]
        shared.append(";".join(others["name"].astype(str)) if r.suggested != "none" else "")
    out.insert(9, "shared_with", shared)
    for i, s in enumerate(shared):
        if s:
            out.loc[i, "note"] = f"{out.loc[i, 'suggested']} is also suggested for {s}"
    return out
