"""Nearest template prediction (NTP; Hoshida, PLoS One 2010, as CMScaller and MOVICS).

:func:`class_markers` picks each class's up-regulated markers on the training cohort (the
model card's ``markers``); :func:`ntp_predict` scores a new cohort with them: the markers are
matched by id, z-scored within the cohort (:func:`ntp_zscore`), compared with binary
templates (:func:`ntp_templates`) by cosine distance, and given a per-sample resampling
p-value and a BH FDR (:func:`ntp`, :func:`bh_fdr`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data
from metpot.score._common import _apply_transform, _layer_frame, _model_samples, _transform_name

__all__ = ["bh_fdr", "class_markers", "ntp", "ntp_predict", "ntp_templates", "ntp_zscore"]


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
    ranked = p[order] * n / np.arange(1, n + 1)
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
    A = X.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(A, axis=0)
        s = np.nanstd(A, axis=0, ddof=1)
    ok = np.isfinite(s) & (s > 0)
    Z = np.zeros_like(A)
    Z[:, ok] = (A[:, ok] - m[ok]) / s[ok]
    Z[np.isnan(Z)] = 0.0
    return pd.DataFrame(Z, index=X.index, columns=X.columns)


def ntp_templates(markers: Mapping[str, Iterable[str]], columns: Iterable[str]) -> pd.DataFrame:
    """Binary NTP templates over the union of the markers present in ``columns``.

    Template of class k: 1 for the markers of k, 0 for the other markers (-1 when there are
    exactly two classes, as CMScaller). A feature marking several classes is 1 in each.

    Parameters
    ----------
    markers : mapping
        ``{class: [column, ...]}``.
    columns : iterable of str
        Columns available in the new cohort.

    Returns
    -------
    DataFrame
        Marker columns (first-seen order) x classes (mapping order).

    Raises
    ------
    MetpotError
        Fewer than two classes, or a class with fewer than 2 markers present.
    """
    avail = set(map(str, columns))
    classes = [str(c) for c in markers]
    if len(classes) < 2:
        raise MetpotError("NTP needs markers of at least two classes (model card 'markers')")
    union: list[str] = []
    lost = 0
    for c in markers:
        for m in markers[c]:
            m = str(m)
            if m in avail:
                if m not in union:
                    union.append(m)
            else:
                lost += 1
    T = pd.DataFrame(0.0, index=pd.Index(union, name="feature"), columns=classes)
    counts = {}
    for c, ms in markers.items():
        present = [str(m) for m in ms if str(m) in avail]
        counts[str(c)] = len(present)
        T.loc[present, str(c)] = 1.0
    few = {c: k for c, k in counts.items() if k < 2}
    if few:
        raise MetpotError(
            "NTP: class(es) with fewer than 2 markers in the new cohort: "
            + ", ".join(f"{c} ({k})" for c, k in few.items())
        )
    if lost:
        warn_data(f"NTP: {lost} marker(s) of the model card are absent from the new cohort")
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
) -> pd.DataFrame:
    """Nearest template prediction on a standardised cohort (Hoshida 2010; CMScaller ``ntp``).

    For sample i with values ``z_i`` over the template features: cosine similarity to every
    template; distance ``d = 1 - cos``; prediction = the nearest template. Null: ``n_perm``
    vectors drawn from the sample's own values over all columns of ``Z`` (the pool; with
    replacement as CMScaller's ``sample.int(P, S * nPerm, replace = TRUE)``, or a
    permutation without replacement with ``replace=False``), each giving the minimum
    distance to the templates. Draws of sample i come from
    ``default_rng(SeedSequence(seed).spawn(n)[i]).integers(0, P, size=(n_perm, S))``
    (``permuted`` rows for ``replace=False``), so a sample's p-value does not depend on
    chunking. p-value conventions:

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
        if replace:
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


def ntp_predict(
    layers: Mapping[str, pd.DataFrame],
    card: Mapping,
    n_perm: int = 1000,
    seed: int = 0,
    fdr: float = 0.05,
    p_convention: str = "plus_one",
) -> tuple[pd.DataFrame, dict]:
    """NTP of a new cohort with the markers of a model card.

    The marker columns (``card["markers"]``, ``"<layer>:<feature>"``) are matched by id, put
    on the model's transformed scale (``preprocessing.transform``), z-scored within the cohort
    (:func:`ntp_zscore`; the pool of resampled values is the markers, as MOVICS ``runNTP``)
    and passed to :func:`ntp`.

    Parameters
    ----------
    layers : mapping of str to DataFrame
        The new cohort's layers, samples x features, raw values.
    card : dict
        The model card: ``markers`` and ``preprocessing.transform``.
    n_perm, seed, p_convention
        See :func:`ntp`.
    fdr : float
        A sample whose FDR is above this is ``low_confidence`` (0 < fdr <= 1).

    Returns
    -------
    DataFrame
        :func:`ntp` columns plus ``low_confidence`` (``fdr`` above the threshold).
    dict
        ``n_markers`` (matched, per class), ``n_perm``, ``seed``, ``fdr``, ``p_convention``,
        ``n_low_confidence``.
    """
    markers = card.get("markers")
    if not isinstance(markers, Mapping) or not markers:
        raise MetpotError("model card: 'markers' is missing; NTP needs the class markers")
    if not 0.0 < float(fdr) <= 1.0:
        raise MetpotError(f"score.ntp.fdr must be in (0, 1], got {fdr!r}")
    wanted = list(dict.fromkeys(str(m) for ms in markers.values() for m in ms))
    split = [(c, *c.split(":", 1)) for c in wanted]
    bad = [c for c, *rest in split if len(rest) != 2 or not rest[1]]
    if bad:
        raise MetpotError(f"model card markers must be '<layer>:<feature>', got {name_list(bad)}")
    used = list(dict.fromkeys(layer for _, layer, _ in split))
    frames = {n: _layer_frame(layers, n) for n in used if n in layers}
    samples = _model_samples(frames, used)
    data = {}
    for col, layer, feat in split:
        if layer in frames and feat in frames[layer].columns:
            data[col] = frames[layer].loc[samples, feat].to_numpy(dtype=float)
    X = pd.DataFrame(data, index=samples)
    X = pd.DataFrame(
        _apply_transform(X.to_numpy(dtype=float), _transform_name(card)),
        index=X.index,
        columns=X.columns,
    )
    templates = ntp_templates(markers, X.columns)
    Z = ntp_zscore(X.loc[:, list(templates.index)])
    res = ntp(Z, templates, n_perm=n_perm, seed=seed, p_convention=p_convention)
    res["low_confidence"] = res["fdr"] > float(fdr)
    info = {
        "n_markers": {str(c): int((templates[c] > 0).sum()) for c in templates.columns},
        "n_perm": int(n_perm),
        "seed": int(seed),
        "fdr": float(fdr),
        "p_convention": p_convention,
        "n_low_confidence": int(res["low_confidence"].sum()),
    }
    return res, info
