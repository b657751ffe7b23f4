"""Nearest template prediction (NTP; Hoshida, PLoS One 2010).

:func:`class_markers` picks each class's up-regulated markers on the training cohort (the
model card's ``markers``); :func:`ntp_predict` scores a new cohort with them, or with a
published template table (:mod:`metpot.score.templates`): the markers are matched by id,
z-scored within the cohort (:func:`ntp_zscore`), compared with binary templates
(:func:`ntp_templates`) by cosine distance, and given a per-sample resampling p-value and a BH
FDR (:func:`ntp`, :func:`bh_fdr`).

Two recipes exist in the packages users know, and ``pool`` chooses between them:

``"all_genes"`` (CMScaller's ``ntp()``, the default)
    Every feature of the cohort's layer(s) is centred and scaled across the samples (what
    CMScaller's ``ematAdjust`` does before ``ntp()``), and each sample's null vectors are drawn
    from its values over all those features. A feature with a missing value (or no variance,
    which row scaling turns into missing values) is dropped, from the markers and from the
    pool, as ``ntp()`` discards incomplete rows. A feature marking two classes is two template
    rows (its value counted twice in the sample vector, a 1 in one class each), as CMScaller
    repeats the row. Given the same permutations this is CMScaller 2.0.1's ``ntp()`` to
    rounding (``tests/test_ntp_cmscaller.py``).
``"markers"`` (MOVICS ``runNTP``)
    Only the markers are standardised and the null is drawn from the sample's marker values.
    A shared marker is one template row with a 1 for each class it marks; a missing cell
    becomes 0 (the feature's cohort mean) after scaling.

Predictions and distances are the same in both recipes when no marker is shared and none has
missing values (each feature is standardised on its own); the p-values differ, widely for
samples far from every template.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data
from metpot.score._common import (
    _apply_transform,
    _column_zscores,
    _layer_frame,
    _model_samples,
    _transform_name,
)

__all__ = [
    "POOLS",
    "bh_fdr",
    "class_markers",
    "ntp",
    "ntp_predict",
    "ntp_templates",
    "ntp_zscore",
]


def class_markers(X: pd.DataFrame, y, n_markers: int = 50) -> dict[str, list[str]]:
    """Top up-regulated features of each class (one class against the rest), for NTP.

    Each feature is scored per class by Welch's t statistic of the class against all other
    samples; the ``n_markers`` largest positive statistics are the class's markers
    (Hoshida 2010 and CMScaller use up-regulated markers per class). A feature may mark
    several classes.

    Parameters
    ----------
    X : DataFrame
        Training samples x features (on the scale the model works in, e.g. log2).
    y : array_like
        Class of each sample.
    n_markers : int
        Markers per class (fewer if fewer features have a positive statistic).

    Returns
    -------
    dict
        ``{class (str): [column, ...]}``, classes sorted, markers by decreasing statistic.
    """
    if int(n_markers) < 2:
        raise MetpotError(f"n_markers must be >= 2, got {n_markers!r}")
    labels = np.asarray(y).astype(str)
    if labels.shape[0] != X.shape[0]:
        raise MetpotError(f"{labels.shape[0]} labels for {X.shape[0]} samples")
    A = X.to_numpy(dtype=float)
    out = {}
    for cls in sorted(set(labels)):
        a, b = A[labels == cls], A[labels != cls]
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise MetpotError(f"class {cls!r}: markers need at least 2 samples in and out of it")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            va = np.nanvar(a, axis=0, ddof=1) / np.sum(~np.isnan(a), axis=0)
            vb = np.nanvar(b, axis=0, ddof=1) / np.sum(~np.isnan(b), axis=0)
            t = (np.nanmean(a, axis=0) - np.nanmean(b, axis=0)) / np.sqrt(va + vb)
        t = np.where(np.isfinite(t), t, -np.inf)
        order = np.argsort(-t, kind="stable")
        top = [X.columns[j] for j in order[: int(n_markers)] if t[j] > 0]
        out[cls] = [str(c) for c in top]
    return out


# --------------------------------------------------------------------------- NTP


def bh_fdr(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``).

    Parameters
    ----------
    p : array_like
        p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (at most 1), in the order of ``p``.
    """
    p = np.asarray(p, dtype=float)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = (n / np.arange(1, n + 1)) * p[order]  # R's n/i * p, to the last bit
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def ntp_zscore(X: pd.DataFrame) -> pd.DataFrame:
    """Centre and scale each feature across the samples of a cohort (R ``scale``).

    sd with n - 1; a constant feature becomes 0; missing cells become 0 (the feature's
    cohort mean) after scaling. Needs at least 2 samples.

    Parameters
    ----------
    X : DataFrame
        Samples x features of one cohort.

    Returns
    -------
    DataFrame
        The z-scores, index and columns of ``X``.
    """
    if X.shape[0] < 2:
        raise MetpotError(
            f"NTP z-scores each feature within the new cohort and needs at least 2 samples, "
            f"got {X.shape[0]}"
        )
    Z = _column_zscores(X.to_numpy(dtype=float))
    Z[np.isnan(Z)] = 0.0
    return pd.DataFrame(Z, index=X.index, columns=X.columns)


def _marker_pairs(markers) -> list[tuple[str, str]]:
    if isinstance(markers, Mapping):
        return [(str(c), str(m)) for c, ms in markers.items() for m in ms]
    return [(str(c), str(m)) for c, m in markers]


def ntp_templates(
    markers: Mapping[str, Iterable[str]] | Iterable[tuple[str, str]],
    columns: Iterable[str],
    *,
    repeat_shared: bool = False,
) -> pd.DataFrame:
    """Binary NTP templates over the markers present in ``columns``.

    Template of class k: 1 for the markers of k, 0 for the other markers (-1 when there are
    exactly two classes, as CMScaller and Hoshida 2010).

    Parameters
    ----------
    markers : mapping or iterable of pairs
        ``{class: [column, ...]}``, or ``(class, column)`` pairs (the rows of a template
        table, in order). Classes keep their first-seen order.
    columns : iterable of str
        Columns available in the new cohort.
    repeat_shared : bool
        False (MOVICS ``runNTP``'s recipe): one row per feature, in first-seen order; a
        feature marking several classes is 1 in each. True (CMScaller ``ntp()``): one row per
        (class, feature) pair, in the order given, so a feature marking two classes is two
        rows (the index repeats it) with a single 1 each.

    Returns
    -------
    DataFrame
        Marker features (rows) x classes.

    Raises
    ------
    MetpotError
        Fewer than two classes, or a class with fewer than 2 markers present.
    """
    avail = set(map(str, columns))
    pairs = _marker_pairs(markers)
    classes = list(dict.fromkeys(c for c, _ in pairs))
    if len(classes) < 2:
        raise MetpotError("NTP needs markers of at least two classes")
    present = [(c, m) for c, m in pairs if m in avail]
    absent = list(dict.fromkeys(m for _, m in pairs if m not in avail))
    if repeat_shared:
        rows = [m for _, m in present]
        T = pd.DataFrame(0.0, index=pd.Index(rows, name="feature"), columns=classes)
        for r, (c, _) in enumerate(present):
            T.iloc[r, classes.index(c)] = 1.0
    else:
        rows = list(dict.fromkeys(m for _, m in present))
        T = pd.DataFrame(0.0, index=pd.Index(rows, name="feature"), columns=classes)
        for c, m in present:
            T.loc[m, c] = 1.0
    counts = {c: sum(1 for k, _ in present if k == c) for c in classes}
    few = {c: k for c, k in counts.items() if k < 2}
    if few:
        raise MetpotError(
            "NTP: class(es) with fewer than 2 markers in the new cohort: "
            + ", ".join(f"{c} ({k})" for c, k in few.items())
        )
    if absent:
        n_all = len(set(m for _, m in pairs))
        warn_data(
            f"NTP: {len(absent)} of {n_all} marker(s) are absent from the new cohort "
            f"(or dropped): {name_list(absent)}"
        )
    unstable = [c for c, k in counts.items() if k < 5]
    if unstable:
        warn_data(f"NTP: fewer than 5 markers for class(es) {name_list(unstable)}; unstable")
    if len(classes) == 2:
        T[T == 0.0] = -1.0
    return T


def ntp(
    Z: pd.DataFrame,
    templates: pd.DataFrame,
    n_perm: int = 1000,
    seed: int = 0,
    *,
    p_convention: str = "plus_one",
    replace: bool = True,
    draws: Callable[[int], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Nearest template prediction on a standardised cohort (Hoshida 2010).

    For sample i with values ``z_i`` over the template rows: cosine similarity to every
    template; distance ``d = 1 - cos``; prediction = the nearest template. Null: ``n_perm``
    vectors of S values (S = template rows) drawn from the sample's own values over all
    columns of ``Z`` (the pool, which the caller chooses: all features for CMScaller's
    recipe, the markers for MOVICS's, see the module docstring; with replacement as
    CMScaller's ``sample.int(P, S * nPerm, replace = TRUE)``, or a permutation without
    replacement with ``replace=False``), each giving the minimum distance to the templates.
    Draws of sample i come from
    ``default_rng(SeedSequence(seed).spawn(n)[i]).integers(0, P, size=(n_perm, S))``
    (``permuted`` rows for ``replace=False``), so a sample's p-value does not depend on
    chunking; ``draws`` replaces them (e.g. by the permutations another implementation drew).
    p-value conventions:

    * ``"plus_one"``: ``(1 + #{null d_min <= observed d_min}) / (n_perm + 1)`` (a valid
      p-value, Phipson & Smyth 2010).
    * ``"cmscaller"``: CMScaller's ``rank(-c(obs, null))[1] / (n_perm + 1)`` with average ranks,
      i.e. ``(1 + #{null < obs} + #{null == obs} / 2) / (n_perm + 1)`` in distance, then
      raised to at least ``1 / n_perm``.

    FDR: Benjamini-Hochberg over the samples. CMScaller reports ``sqrt((1 - cos) / 2)`` as the
    distance, a monotone function of ``1 - cos``: predictions and p-values are the same.

    Parameters
    ----------
    Z : DataFrame
        Samples x features, already centred and scaled per feature (:func:`ntp_zscore`).
    templates : DataFrame
        Features (a subset of ``Z``'s columns) x classes (:func:`ntp_templates`).
    n_perm : int
        Resamples per sample (>= 1).
    seed : int
        Seed; fixed seed, identical output.
    p_convention : {"plus_one", "cmscaller"}
    replace : bool
        Draw with replacement (CMScaller) or permute (needs as many pool columns as template
        features).
    draws : callable, optional
        ``draws(i)`` gives the pool column indices (0-based, an integer array of shape
        ``(n_perm, S)``) of sample i's null vectors, in place of the seeded draws. CMScaller's
        R draws of sample i are ``matrix(sample.int(P, S * nPerm, TRUE), ncol = nPerm)``, i.e.
        ``(idx - 1).reshape(n_perm, S)``.

    Returns
    -------
    DataFrame
        Index of ``Z``: ``prediction``, ``d_<class>`` per class, ``p_value``, ``fdr``.
    """
    if p_convention not in ("plus_one", "cmscaller"):
        raise MetpotError(
            f"ntp p_convention must be 'plus_one' or 'cmscaller', got {p_convention!r}"
        )
    n_perm = int(n_perm)
    if n_perm < 1:
        raise MetpotError(f"score.ntp.n_perm must be >= 1, got {n_perm}")
    cols = [str(c) for c in templates.index]
    absent = [c for c in cols if c not in Z.columns]
    if absent:
        raise MetpotError(f"NTP: template features absent from the data: {name_list(absent)}")
    classes = [str(c) for c in templates.columns]
    pool = Z.to_numpy(dtype=float)
    if not np.isfinite(pool).all():
        raise MetpotError("NTP: the standardised data must be finite (use ntp_zscore)")
    S, P = len(cols), pool.shape[1]
    if not replace and P < S:
        raise MetpotError(f"NTP without replacement needs >= {S} pool features, got {P}")
    Tm = templates.to_numpy(dtype=float)
    Tn = Tm / np.linalg.norm(Tm, axis=0)
    X = Z.loc[:, cols].to_numpy(dtype=float)
    norms = np.linalg.norm(X, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (X @ Tn) / norms[:, None]
    cos = np.nan_to_num(cos, nan=0.0)
    d = 1.0 - cos
    best = np.argmin(d, axis=1)
    d_obs = d[np.arange(len(best)), best]
    pvals = np.empty(len(best))
    children = np.random.SeedSequence(seed).spawn(len(best))
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        if draws is not None:
            idx = np.asarray(draws(i))
            if idx.shape != (n_perm, S) or idx.min() < 0 or idx.max() >= P:
                raise MetpotError(
                    f"NTP draws of sample {i}: need integers in [0, {P}) of shape "
                    f"({n_perm}, {S}), got shape {idx.shape}"
                )
        elif replace:
            idx = rng.integers(0, P, size=(n_perm, S))
        else:
            idx = rng.permuted(np.tile(np.arange(P), (n_perm, 1)), axis=1)[:, :S]
        R = pool[i][idx]
        rn = np.linalg.norm(R, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            null = 1.0 - np.nan_to_num((R @ Tn) / rn[:, None], nan=0.0).max(axis=1)
        # compare on a rounded scale so that the observed vector drawn again counts as a tie
        null = np.round(null, 12)
        obs = round(float(d_obs[i]), 12)
        if p_convention == "plus_one":
            pvals[i] = (1 + np.count_nonzero(null <= obs)) / (n_perm + 1)
        else:
            rank = 1 + np.count_nonzero(null < obs) + 0.5 * np.count_nonzero(null == obs)
            pvals[i] = max(rank / (n_perm + 1), 1.0 / n_perm)
    out = pd.DataFrame(
        {"prediction": pd.Series(np.asarray(classes, dtype=object)[best], index=Z.index)},
        index=Z.index,
    )
    for k, c in enumerate(classes):
        out[f"d_{c}"] = d[:, k]
    out["p_value"] = pvals
    out["fdr"] = bh_fdr(pvals)
    return out


POOLS = ("all_genes", "markers")


def _drop_incomplete(X: pd.DataFrame, markers: set[str]) -> pd.DataFrame:
    """CMScaller's ``complete.cases``: drop features with a missing value or no variance."""
    A = X.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(A, axis=0, ddof=1) if A.shape[0] > 1 else np.zeros(A.shape[1])
    bad = ~np.isfinite(A).all(axis=0) | ~(sd > 0)
    if bad.any():
        gone = [str(c) for c in X.columns[bad]]
        hit = [c for c in gone if c in markers]
        warn_data(
            f"NTP (pool all_genes): {len(gone)} feature(s) with missing values or no variance "
            f"dropped, as CMScaller's ntp(), {len(hit)} of them markers: {name_list(hit or gone)}"
        )
    return X.loc[:, ~bad]


def ntp_predict(
    layers: Mapping[str, pd.DataFrame],
    card: Mapping | None = None,
    n_perm: int = 1000,
    seed: int = 0,
    fdr: float = 0.05,
    p_convention: str = "plus_one",
    *,
    templates: pd.DataFrame | None = None,
    pool: str = "all_genes",
    draws: Callable[[int], np.ndarray] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """NTP of a new cohort with the markers of a model card or a published template table.

    The markers (``card["markers"]``, ``"<layer>:<feature>"``, or the rows of ``templates``)
    are matched by id and, for a card, put on the model's transformed scale
    (``preprocessing.transform``; a template table is applied to the values as given). Then
    ``pool`` chooses the recipe (module docstring): ``"all_genes"`` (CMScaller ``ntp()``)
    z-scores every feature of the layers holding markers, drops features with missing values
    or no variance, repeats a shared marker's row, and resamples the null from all features;
    ``"markers"`` (MOVICS ``runNTP``) z-scores and resamples the markers only. Both end in
    :func:`ntp`.

    Parameters
    ----------
    layers : mapping of str to DataFrame
        The new cohort's layers, samples x features, raw values.
    card : dict, optional
        The model card: ``markers`` and ``preprocessing.transform``. Not read when
        ``templates`` is given.
    n_perm, seed, p_convention, draws
        See :func:`ntp`. With ``pool="all_genes"`` the pool columns are the kept features of
        the marker layers, layer by layer in ``layers`` order, each in its file order.
    fdr : float
        A sample whose FDR is above this is ``low_confidence`` (0 < fdr <= 1).
    templates : DataFrame, optional
        A template table (:func:`metpot.score.templates.read_templates`: ``class``,
        ``feature``, optionally ``layer``), in place of the card's markers.
    pool : {"all_genes", "markers"}
        The recipe (``score.ntp.pool``).

    Returns
    -------
    DataFrame
        :func:`ntp` columns plus ``low_confidence`` (``fdr`` above the threshold).
    dict
        ``pool``, ``pool_size``, ``n_markers`` (matched template rows, per class),
        ``n_template_features`` and ``n_matched_features`` (distinct marker ids listed and
        used), ``n_perm``, ``seed``, ``fdr``, ``p_convention``, ``n_low_confidence``.
    """
    from metpot.score.templates import template_rows

    if pool not in POOLS:
        raise MetpotError(f"score.ntp.pool must be one of {POOLS}, got {pool!r}")
    if not 0.0 < float(fdr) <= 1.0:
        raise MetpotError(f"score.ntp.fdr must be in (0, 1], got {fdr!r}")
    if templates is not None:
        rows = template_rows(templates, list(layers))
        transform = "none"
    else:
        markers = (card or {}).get("markers")
        if not isinstance(markers, Mapping) or not markers:
            raise MetpotError("model card: 'markers' is missing; NTP needs the class markers")
        rows = []
        for cls, ms in markers.items():
            for m in ms:
                layer, _, feat = str(m).partition(":")
                if not layer or not feat:
                    raise MetpotError(
                        f"model card markers must be '<layer>:<feature>', got {str(m)!r}"
                    )
                rows.append((str(cls), layer, feat))
        transform = _transform_name(card)
    used = list(dict.fromkeys(layer for _, layer, _ in rows))
    frames = {n: _layer_frame(layers, n) for n in used if n in layers}
    if not frames:
        raise MetpotError(
            f"NTP: the cohort has none of the layers the markers are in ({', '.join(used)}); "
            f"its layers: {', '.join(map(str, layers)) or 'none'}"
        )
    samples = _model_samples(frames, used)
    pairs = [(cls, f"{layer}:{feat}") for cls, layer, feat in rows]
    wanted = list(dict.fromkeys(col for _, col in pairs))
    if pool == "markers":
        data = {}
        for col in wanted:
            layer, _, feat = col.partition(":")
            if layer in frames and feat in frames[layer].columns:
                data[col] = frames[layer].loc[samples, feat].to_numpy(dtype=float)
        X = pd.DataFrame(data, index=samples)
    else:
        X = pd.concat(
            [frames[n].loc[samples].add_prefix(f"{n}:") for n in used if n in frames], axis=1
        )
        X.index = samples
    _no_marker_found(templates, wanted, X.columns, frames)
    X = pd.DataFrame(
        _apply_transform(X.to_numpy(dtype=float), transform),
        index=X.index,
        columns=X.columns,
    )
    if pool == "markers":
        T = ntp_templates(pairs, X.columns)
        Z = ntp_zscore(X.loc[:, list(T.index)])
    else:
        X = _drop_incomplete(X, set(wanted))
        T = ntp_templates(pairs, X.columns, repeat_shared=True)
        Z = ntp_zscore(X)
    res = ntp(Z, T, n_perm=n_perm, seed=seed, p_convention=p_convention, draws=draws)
    res["low_confidence"] = res["fdr"] > float(fdr)
    info = {
        "pool": pool,
        "pool_size": int(Z.shape[1]),
        "n_markers": {str(c): int((T[c] > 0).sum()) for c in T.columns},
        "n_template_features": len(wanted),
        "n_matched_features": int(T.index.nunique()),
        "n_perm": int(n_perm),
        "seed": int(seed),
        "fdr": float(fdr),
        "p_convention": p_convention,
        "n_low_confidence": int(res["low_confidence"].sum()),
    }
    if templates is not None:
        info["templates"] = templates.attrs.get("path")
    return res, info


def _no_marker_found(templates, wanted: list[str], columns, frames) -> None:
    """A clear error when not one marker id is in the cohort (ids of another kind)."""
    have = set(map(str, columns))
    if any(c in have for c in wanted):
        return
    where = templates.attrs.get("path", "NTP templates") if templates is not None else "model card"
    ids = [c.partition(":")[2] for c in wanted]
    seen = {n: name_list(list(f.columns), 5) for n, f in frames.items()}
    raise MetpotError(
        f"{where}: none of the {len(wanted)} marker features is in the cohort "
        f"(markers: {name_list(ids, 5)}; cohort features: "
        + "; ".join(f"{n}: {v}" for n, v in seen.items())
        + "); use the cohort's feature ids"
    )
