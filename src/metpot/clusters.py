"""Choosing the number of subtypes, naming them, and agreement with known labels.

The rule that chooses between SNF's eigen-gap and rotation-cost estimates,
:func:`~metpot.spectral.choose_n_clusters`, lives in :mod:`metpot.spectral` and is
importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot._snf_inputs import _as_square
from metpot.errors import MetpotError, name_list, warn_data
from metpot.spectral import (
    choose_n_clusters,
    cluster_number_scores,
    estimates_from_scores,
    spectral_clusterings,
)

ESTIMATE_KEYS = ("eigengap_best", "eigengap_second", "rotation_cost_best", "rotation_cost_second")


def cluster_fused(W, ks: Sequence[int], variant: str = "snftool-2.3", solver: str = "auto") -> dict:
    """Cluster-number estimates, their scores and the labels of every k for one network.

    One eigen-decomposition per Laplacian SNFtool uses: the eigenvalues
    ``1 .. max(ks) + 1`` of the zero-diagonal Laplacian of
    ``estimateNumberOfClustersGivenGraph`` (:func:`metpot.spectral.cluster_number_scores`) and
    the eigenpairs ``1 .. max(ks) + 2`` of the Laplacian of ``spectralClustering``
    (:func:`metpot.spectral.spectral_clusterings`), instead of one decomposition per k and per
    estimate.

    Parameters
    ----------
    W : array_like, shape (n, n)
        Fused network.
    ks : sequence of int
        Candidate numbers of clusters (each ``2 <= k < n``).
    variant : {"snftool-2.3", "snftool-2.2"}
        SNFtool generation (decides the eigen-gap weighting).
    solver : {"auto", "dense", "lanczos"}
        Eigen solver (see :func:`metpot.spectral.spectral_clusterings`).

    Returns
    -------
    dict
        ``estimates``: :data:`ESTIMATE_KEYS` -> int (or None for a second best of a single
        candidate); ``scores``: the :func:`metpot.spectral.cluster_number_scores` table;
        ``labels``: k -> labels 1..k (numpy.ndarray of int).
    """
    W = _as_square(W, "W")
    scores = cluster_number_scores(W, ks, variant=variant, solver=solver)
    estimates = dict(zip(ESTIMATE_KEYS, estimates_from_scores(scores), strict=True))
    labels = spectral_clusterings(W, [int(k) for k in ks], solver=solver)
    return {"estimates": estimates, "scores": scores, "labels": labels}


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


def signature_scores(
    X: pd.DataFrame,
    signatures: Mapping[str, Sequence[str]],
    config_key: str | None = None,
    where: str = "the data",
) -> pd.DataFrame:
    """Mean z-score of each signature's genes per sample.

    Parameters
    ----------
    X : DataFrame
        Samples x features (not necessarily scaled: each feature is z-scored here, over its
        present values; missing values are left out of the means).
    signatures : mapping of str to list of str
        Signature name -> feature ids; ids absent from ``X`` are named in a warning.
    config_key : str, optional
        The config key holding ``signatures`` (e.g. ``characterise.gene_sets``): messages
        then name ``<config_key>.<name>``; default ``signature <name>``.
    where : str
        What ``X`` is, for messages (e.g. ``layer mrna``).

    Returns
    -------
    DataFrame
        Samples x signatures.

    Raises
    ------
    MetpotError
        If none of a signature's features is in ``X``.
    """
    from metpot.snf import standard_normalization

    Z = pd.DataFrame(standard_normalization(X, ignore_nan=True), index=X.index, columns=X.columns)
    out = {}
    for name, genes in signatures.items():
        label = f"{config_key}.{name}" if config_key else f"signature {name}"
        present = [g for g in genes if g in Z.columns]
        absent = [g for g in genes if g not in Z.columns]
        if absent:
            warn_data(f"{label}: {len(absent)} feature(s) not in {where}: {name_list(absent)}")
        if not present:
            raise MetpotError(f"{label}: none of its features is in {where}")
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


def resample_tables(table: pd.DataFrame, ids: pd.Index, ks: Sequence[int]) -> list[pd.DataFrame]:
    """The consensus chunks' stacked table as one table per resample, in resample order.

    Parameters
    ----------
    table : DataFrame
        ``resample``, ``sample_id`` and ``k<k>`` label columns.
    ids : Index
        Sample ids of the full cohort.
    ks : sequence of int
        The cluster numbers.

    Returns
    -------
    list of DataFrame
        Index: the sample positions in ``ids``; columns: ``ks``.
    """
    pos = pd.Series(np.arange(len(ids)), index=ids)
    tables = []
    for _, block in table.groupby("resample", sort=True):
        frame = block[[f"k{k}" for k in ks]].set_axis(list(ks), axis=1)
        tables.append(frame.set_axis(pos[block["sample_id"]].to_numpy(), axis=0))
    return tables


def cluster_number_estimates(W, ks: Sequence[int], variant: str = "snftool-2.3") -> dict:
    """SNF's four cluster-number estimates of a network (those of :func:`cluster_fused`,
    without the clusterings)."""
    scores = cluster_number_scores(_as_square(W, "W"), ks, variant=variant)
    return dict(zip(ESTIMATE_KEYS, estimates_from_scores(scores), strict=True))


def consensus_from_chunks(
    table: pd.DataFrame, ids: pd.Index, labels: Mapping[int, np.ndarray], ks: Sequence[int]
) -> dict | None:
    """Consensus matrices, PAC, CDF and per-sample stability from resample assignments.

    Parameters
    ----------
    table : DataFrame
        ``resample``, ``sample_id`` and ``k<k>`` label columns (the consensus chunks, stacked).
    ids : Index
        Sample ids of the full cohort (the order of the matrices).
    labels : mapping of int to array
        Labels of the full cohort per k (for per-sample stability).
    ks : sequence of int
        The candidate numbers of clusters.

    Returns
    -------
    dict or None
        :func:`metpot.consensus.consensus_summary` plus ``matrix`` and ``stability`` (per
        k); None when there is no resample.
    """
    from metpot.consensus import consensus_matrices, consensus_summary, sample_stability

    if table.empty:
        return None
    tables = resample_tables(table, ids, ks)
    matrices = consensus_matrices(len(ids), tables)
    summary = consensus_summary(matrices, n_resamples=len(tables))
    summary["matrix"] = matrices
    summary["stability"] = {k: sample_stability(matrices[k], labels[k]) for k in ks}
    return summary


def cluster_network(
    W: np.ndarray,
    ks: Sequence[int],
    variant: str,
    n: int | str = "auto",
    resamples: pd.DataFrame | None = None,
    ids: pd.Index | None = None,
) -> dict:
    """Cluster a fused network for every candidate k and choose the number of subtypes.

    Parameters
    ----------
    W : ndarray
        The fused network (N x N).
    ks : sequence of int
        Candidate numbers of clusters (each below N).
    variant : str
        SNFtool generation of the cluster-number estimates.
    n : int or "auto"
        ``clusters.n``.
    resamples : DataFrame, optional
        Consensus resample assignments (:func:`consensus_from_chunks`).
    ids : Index, optional
        Sample ids of ``W`` (needed with ``resamples``).

    Returns
    -------
    dict
        ``k``, ``why``, ``estimates`` (the four SNF estimates), ``scores`` (DataFrame per
        candidate), ``labels`` (k -> labels 1..k), ``consensus`` (or None).
    """
    fit = cluster_fused(W, ks, variant=variant)  # one eigen-decomposition per Laplacian
    estimates, scores = fit["estimates"], fit["scores"]
    labels = {k: np.asarray(v).astype(int) for k, v in fit["labels"].items()}
    consensus = None
    if resamples is not None:
        consensus = consensus_from_chunks(resamples, ids, labels, ks)
    pac = {k: consensus["pac"][str(k)] for k in ks} if consensus else None
    k, why = choose_n_clusters(estimates, pac, n)
    if k not in labels:
        raise MetpotError(f"config: clusters.n = {k} is not below the {W.shape[0]} samples")
    return {
        "k": k,
        "why": why,
        "estimates": estimates,
        "scores": scores,
        "labels": labels,
        "consensus": consensus,
    }


def input_order(samples: pd.DataFrame, layer: str) -> list[str]:
    """Sample ids of ``layer`` in the order of its input file.

    Parameters
    ----------
    samples : DataFrame
        The ingest step's sample table (``ingest/samples.tsv``): one row per sample seen, the
        first layer's samples first and in its file's order, with one ``in_<layer>`` flag per
        layer (booleans, or their text ``True``/``False``).
    layer : str
        The first omics layer (the only one whose file order the table keeps).

    Returns
    -------
    list of str
        The layer's sample ids, kept or dropped, as they came in the file.
    """
    flag = f"in_{layer}"
    if flag not in samples.columns:
        raise MetpotError(f"sample table: no column {flag!r} (layer {layer!r})")
    present = samples[flag].astype(str).str.lower().eq("true")
    return samples.loc[present, "sample_id"].astype(str).tolist()


def contiguity_chance(n: int, m: int) -> float:
    """Chance that ``m`` of ``n`` samples in random order occupy consecutive positions.

    ``(n - m + 1) / C(n, m)``: the ``n - m + 1`` runs of length ``m`` among the ``C(n, m)``
    equally likely position sets.
    """
    if not 1 <= m <= n:
        raise MetpotError(f"contiguity_chance needs 1 <= m <= n, got m = {m}, n = {n}")
    return (n - m + 1) / math.comb(n, m)


def k_doubts(
    labels: pd.Series,
    k: int,
    candidates: Sequence[int],
    mode: int | str,
    pac: float | None,
    *,
    pac_max: float,
    min_size: int,
    batch_chance: float,
    order: Sequence[str] | None = None,
    order_name: str = "the input file",
    names: Mapping[int, str] | None = None,
) -> list[dict]:
    """Doubts about the chosen number of subtypes and about the subtypes themselves.

    Parameters
    ----------
    labels : Series
        Subtype (1..k) per sample id.
    k : int
        The chosen number of subtypes.
    candidates : sequence of int
        The candidate numbers of subtypes that were considered.
    mode : int or "auto"
        ``clusters.n``: the edge rule applies only when k was chosen automatically.
    pac : float or None
        Consensus PAC of the chosen k (None without consensus resamples).
    pac_max : float
        ``clusters.warn.pac``: a PAC above it is a doubt.
    min_size : int
        ``clusters.warn.min_size``: a subtype with fewer patients is a doubt.
    batch_chance : float
        ``clusters.warn.batch_chance``: a contiguous subtype is named only when the chance
        of such a run under a random sample order is below it.
    order : sequence of str, optional
        Sample ids in the order of the input file (:func:`input_order`); ids not in
        ``labels`` (dropped samples) are skipped. Without it no subtype is checked for
        contiguity.
    order_name : str
        What ``order`` is, for messages (e.g. ``the input file of layer mrna``).
    names : mapping of int to str, optional
        Subtype -> name, for messages.

    Returns
    -------
    list of dict
        One per doubt, in rule order: ``rule`` (``largest_candidate``, ``smallest_candidate``,
        ``pac``, ``small_subtype``, ``contiguous``), ``message`` (one line naming the subtype
        or k and the config key of the threshold) and the numbers behind it.

    Notes
    -----
    The rules:

    * **edge of the range** (only with ``clusters.n: auto`` and two or more candidates): k
      is the largest or the smallest candidate, so the criteria may be best outside the range
      they were asked about (k = 1, no structure, is never a candidate of SNF's estimates);
    * **PAC** above ``pac_max``: the proportion of patient pairs whose consensus index lies
      in the ambiguous interval (0.1, 0.9) (Şenbabaoğlu et al., Sci Rep 2014); 0.1 is the
      stability mark of cola (Gu et al., Bioconductor: a partition is stable when
      1 - PAC >= 0.9);
    * **small subtype**: fewer than ``min_size`` patients;
    * **contiguous subtype** (a possible batch): the subtype's ``m`` patients are exactly
      the consecutive positions ``a .. a + m - 1`` of the ``n`` clustered samples in input
      order, with ``3 <= m < n / 2`` (the complement of a block at either end is contiguous
      too, so only the smaller side is named) and a chance of such a run under a random order,
      ``(n - m + 1) / C(n, m)`` (:func:`contiguity_chance`), below ``batch_chance``; with
      ``n = 100`` that chance is 6e-4 for ``m = 3`` and 6e-9 for ``m = 7``.
    """
    names = dict(names or {})
    ks = sorted({int(c) for c in candidates})
    doubts: list[dict] = []
    span = ", ".join(str(c) for c in ks)
    if mode == "auto" and len(ks) > 1 and k in (ks[0], ks[-1]):
        if k == ks[-1]:
            doubts.append({
                "rule": "largest_candidate", "k": int(k), "candidates": ks,
                "message": (
                    f"k = {k} is the largest of clusters.candidates ({span}): the best number "
                    "of subtypes may lie above the range; add larger candidates and compare "
                    "the eigen-gaps and PAC of every k before trusting it"
                ),
            })  # fmt: skip
        else:
            beyond = (
                "k = 1 (no subtype structure) is never a candidate of SNF's estimates"
                if k <= 2
                else "the best number of subtypes may lie below the range; add smaller candidates"
            )
            doubts.append({
                "rule": "smallest_candidate", "k": int(k), "candidates": ks,
                "message": (
                    f"k = {k} is the smallest of clusters.candidates ({span}): {beyond}; "
                    "compare the eigen-gaps and PAC of every k before trusting it"
                ),
            })  # fmt: skip
    if pac is not None and np.isfinite(pac) and pac > pac_max:
        doubts.append({
            "rule": "pac", "k": int(k), "pac": float(pac), "threshold": float(pac_max),
            "message": (
                f"consensus PAC of k = {k} is {pac:.3f}, above clusters.warn.pac = {pac_max:g}: "
                f"{pac:.0%} of patient pairs are ambiguous (together in some resamples, apart "
                "in others), so the subtypes are not stable under resampling"
            ),
        })  # fmt: skip
    sizes = labels.value_counts()

    def label(s) -> str:
        name = names.get(int(s))
        return f"subtype {name} (subtype {s})" if name and name != f"subtype{s}" else f"subtype {s}"

    for s in sorted(sizes.index):
        if int(sizes[s]) < min_size:
            doubts.append({
                "rule": "small_subtype", "subtype": int(s), "name": names.get(int(s), ""),
                "n": int(sizes[s]), "threshold": int(min_size),
                "message": (
                    f"{label(s)} has {int(sizes[s])} patients, fewer than "
                    f"clusters.warn.min_size = {min_size}: too few to characterise it or to "
                    "train a classifier on it"
                ),
            })  # fmt: skip
    if order is not None:
        in_labels = set(labels.index.astype(str))
        ordered = [str(i) for i in order if str(i) in in_labels]
        n = len(ordered)
        position = pd.Series(np.arange(n), index=ordered)
        by_id = pd.Series(labels.to_numpy(), index=labels.index.astype(str))
        for s in sorted(sizes.index):
            members = by_id.index[by_id.to_numpy() == s]
            pos = np.sort(position.reindex(members).dropna().to_numpy().astype(int))
            m = pos.size
            if m < len(members) or m < 3 or 2 * m >= n or pos[-1] - pos[0] + 1 != m:
                continue
            chance = contiguity_chance(n, m)
            if chance >= batch_chance:
                continue
            first, last = ordered[pos[0]], ordered[pos[-1]]
            doubts.append({
                "rule": "contiguous", "subtype": int(s), "name": names.get(int(s), ""),
                "n": int(m), "first": int(pos[0]) + 1, "last": int(pos[-1]) + 1,
                "of": int(n), "chance": float(chance), "threshold": float(batch_chance),
                "message": (
                    f"{label(s)}: its {m} patients are exactly positions {pos[0] + 1}-"
                    f"{pos[-1] + 1} of the {n} clustered samples in the order of {order_name} "
                    f"({first} to {last}; chance {chance:.1g} in a random order): a possible "
                    "batch (samples processed or appended together), or a file sorted by "
                    "something that drives the subtypes"
                ),
            })  # fmt: skip
    return doubts


def subtype_table(
    labels: pd.Series,
    X: pd.DataFrame | None = None,
    signatures: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Names and sizes of the subtypes: by marker signature when given, else ``subtype<k>``.

    Returns
    -------
    DataFrame
        ``subtype``, ``name``, ``n``, ``named_by`` (and signature scores when named by them).
    """
    if signatures and X is not None:
        table = name_subtypes(labels, signature_scores(X.loc[labels.index], signatures))
        table.insert(3, "named_by", "signature")
        return table
    ks = sorted(labels.unique())
    return pd.DataFrame(
        {
            "subtype": ks,
            "name": [f"subtype{k}" for k in ks],
            "n": [int((labels == k).sum()) for k in ks],
            "named_by": "none",
        }
    )


def consensus_silhouette(consensus: np.ndarray, labels) -> np.ndarray:
    """Silhouette width of every sample on the consensus matrix (distance ``1 - consensus``).

    Parameters
    ----------
    consensus : array-like, shape (n, n)
        Consensus matrix of the chosen k (share of resamples clustering two samples together).
    labels : array-like, shape (n,)
        Subtype per sample.

    Returns
    -------
    numpy.ndarray
        Silhouette width per sample in [-1, 1] (0 for a sample alone in its subtype).
    """
    from sklearn.metrics import silhouette_samples

    C = np.asarray(consensus, dtype=float)
    labels = np.asarray(labels)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] != labels.size:
        raise MetpotError(f"consensus_silhouette: matrix {C.shape}, {labels.size} labels")
    D = 1.0 - np.nan_to_num(C, nan=0.0)
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    if len(np.unique(labels)) < 2:
        return np.zeros(labels.size)
    return silhouette_samples(np.clip(D, 0.0, 1.0), labels, metric="precomputed")


def sweep_point(
    views: Sequence[np.ndarray],
    K: int,
    mu: float,
    t: int,
    ks: Sequence[int],
    variant: str = "snftool-2.3",
    metric: str = "sqeuclidean",
    reference: np.ndarray | None = None,
    time: np.ndarray | None = None,
    event: np.ndarray | None = None,
) -> dict:
    """SNF and clustering at one setting of a parameter sweep, and how its partition fares.

    Parameters
    ----------
    views : sequence of ndarray
        The preprocessed (scaled) layers, samples x features, same samples.
    K, mu, t : int, float, int
        SNF's neighbours, kernel width and iterations.
    ks : sequence of int
        Candidate numbers of clusters.
    reference : ndarray, optional
        The workflow's partition (for its adjusted Rand index with this setting's).
    time, event : ndarray, optional
        Survival of the samples (NaN time where unusable), for the log-rank test.

    Returns
    -------
    dict
        ``K``, ``mu``, ``t``, ``n_clusters`` (SNF's estimates, without consensus PAC),
        ``why``, the four estimates, ``eigengap`` of the chosen k, ``ari_main`` and
        ``logrank_chisq``/``logrank_p`` (when given), cluster sizes.
    """
    from sklearn.metrics import adjusted_rand_score

    from metpot.snf import snf_pipeline
    from metpot.survival import logrank_test

    _, fused = snf_pipeline(
        list(views), K=K, mu=mu, t=t, variant=variant, metric=metric, normalize=False
    )
    fit = cluster_fused(fused, ks, variant=variant)
    k, why = choose_n_clusters(fit["estimates"], None, "auto")
    labels = np.asarray(fit["labels"][k])
    scores = fit["scores"].set_index("n_clusters")
    out = {
        "K": int(K),
        "mu": float(mu),
        "t": int(t),
        "n_clusters": int(k),
        "why": why,
        **{key: v for key, v in fit["estimates"].items()},
        "sizes": [int((labels == c).sum()) for c in range(1, k + 1)],
    }
    if "eigengap" in scores.columns and k in scores.index:
        out["eigengap"] = float(scores.loc[k, "eigengap"])
    if reference is not None:
        out["ari_main"] = float(adjusted_rand_score(reference, labels))
    if time is not None and event is not None:
        ok = np.isfinite(time)
        lr = logrank_test(time[ok], event[ok].astype(bool), labels[ok])
        out["logrank_chisq"], out["logrank_p"] = float(lr["chisq"]), float(lr["p"])
    return out


def consensus_display(
    M: np.ndarray, k: int, max_samples: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Which samples to draw of a consensus matrix, in which order, and their clusters.

    The samples are ordered by the consensus clustering of ``k`` (average linkage on
    ``1 - M``, as ConsensusClusterPlus ``finalLinkage="average"``): the leaves of the
    dendrogram, so that each of the ``k`` clusters is one contiguous block. With more than
    ``max_samples`` samples, a random subset of ``max_samples`` (``seed``; the same subset
    for every ``k`` of one cohort) is clustered and drawn, so a figure of N = 10,000 needs a
    ``max_samples`` x ``max_samples`` matrix, never another N x N one.

    Parameters
    ----------
    M : array-like, shape (n, n)
        Consensus matrix of ``k``.
    k : int
        Number of clusters of the consensus clustering.
    max_samples : int
        Largest number of samples drawn.
    seed : int
        Seed of the subset (only used when ``n > max_samples``).

    Returns
    -------
    positions : numpy.ndarray of int
        Rows of ``M`` to draw, in drawing order.
    clusters : numpy.ndarray of int
        Consensus cluster (1..k, numbered in drawing order) of each drawn sample.
    """
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = np.shape(M)[0]
    if np.ndim(M) != 2 or np.shape(M)[1] != n:
        raise MetpotError(f"consensus matrix must be square, got shape {np.shape(M)}")
    if max_samples < 2:
        raise MetpotError(f"consensus_display: max_samples must be >= 2, got {max_samples}")
    if n > max_samples:
        sub = np.sort(np.random.default_rng(seed).permutation(n)[:max_samples])
        C = np.asarray(M[np.ix_(sub, sub)], dtype=float)
    else:
        sub = np.arange(n)
        C = np.asarray(M, dtype=float)
    if sub.size < 2:
        return sub, np.ones(sub.size, dtype=np.int64)
    D = 1.0 - (C + C.T) / 2.0
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(np.clip(D, 0.0, 1.0), checks=False), "average")
    leaves = leaves_list(Z)
    raw = fcluster(Z, int(k), "maxclust")[leaves]
    _, first = np.unique(raw, return_index=True)
    number = {lab: i + 1 for i, lab in enumerate(raw[np.sort(first)])}
    return sub[leaves], np.array([number[x] for x in raw], dtype=np.int64)


def pac_table(consensus: Mapping, chosen: int | None = None) -> pd.DataFrame:
    """PAC, area under the consensus CDF and its relative change per candidate k.

    Parameters
    ----------
    consensus : mapping
        :func:`metpot.consensus.consensus_summary` (``ks``, ``pac``, ``area``,
        ``delta_area``, ``pac_interval``, ``n_samples``, ``n_resamples``).
    chosen : int, optional
        The workflow's k (``chosen`` is True on its row).

    Returns
    -------
    pandas.DataFrame
        ``k``, ``pac``, ``pac_lower``, ``pac_upper`` (the ambiguous interval), ``cdf_area``,
        ``delta_area``, ``lowest_pac`` (the smallest PAC, ties as in ``best_k_pac``),
        ``chosen``, ``n_samples``, ``n_resamples``.
    """
    ks = [int(k) for k in consensus["ks"]]
    lo, hi = consensus.get("pac_interval", (0.1, 0.9))

    def num(table: str, k: int) -> float:
        v = consensus[table].get(str(k))
        return float("nan") if v is None else float(v)

    return pd.DataFrame(
        {
            "k": ks,
            "pac": [num("pac", k) for k in ks],
            "pac_lower": float(lo),
            "pac_upper": float(hi),
            "cdf_area": [num("area", k) for k in ks],
            "delta_area": [num("delta_area", k) for k in ks],
            "lowest_pac": [k == consensus.get("best_k_pac") for k in ks],
            "chosen": [k == chosen for k in ks],
            "n_samples": consensus.get("n_samples"),
            "n_resamples": consensus.get("n_resamples"),
        }
    )
