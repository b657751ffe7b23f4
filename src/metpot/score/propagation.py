"""SNF label propagation: subtypes of new samples from the discovery cohort's network.

:func:`snf_propagate` matches the new cohort's layers to the discovery cohort's by feature
id and calls :func:`metpot.snf.group_predict` (SNFtool ``groupPredict``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, warn_data
from metpot.score._common import _common_samples, _layer_frame

__all__ = ["snf_propagate"]


def snf_propagate(
    train_layers: Mapping[str, pd.DataFrame],
    train_labels: pd.Series,
    layers: Mapping[str, pd.DataFrame],
    K: int = 20,
    mu: float = 0.5,
    t: int = 20,
    variant: str = "snftool-2.3",
    min_coverage: float = 0.9,
) -> pd.Series:
    """Subtypes of new samples by SNF label propagation against the discovery cohort.

    A wrapper of :func:`metpot.snf.group_predict` (SNFtool ``groupPredict``, method 1). Every
    layer of the discovery cohort must be in the new cohort; features are matched by id per
    layer (the shared ones are used; below ``min_coverage`` of a layer's features the call is
    refused). Give both cohorts on the same scale (as the SNF step used them). The new
    samples are standardised together with the discovery samples (as SNFtool does), so the
    new cohort's samples shift the standardisation, and a sample's call can depend a little
    on which other new samples are scored with it.

    Parameters
    ----------
    train_layers : mapping
        Discovery layers, samples x features.
    train_labels : Series
        Discovery subtype per sample id (samples without a label are left out).
    layers : mapping
        New cohort's layers.
    K, mu, t, variant
        SNF parameters (as the discovery run).
    min_coverage : float
        Smallest share of each discovery layer's features present.

    Returns
    -------
    Series
        Predicted subtype (str) per new sample id.
    """
    from metpot.snf import group_predict

    names = list(train_layers)
    absent = [n for n in names if n not in layers]
    if absent:
        raise MetpotError(
            f"snf_propagation needs every layer of the discovery cohort; the new cohort lacks "
            f"{', '.join(absent)}"
        )
    labels = pd.Series(train_labels).dropna()
    labels.index = labels.index.astype(str)
    train = {n: _layer_frame(train_layers, n) for n in names}
    new = {n: _layer_frame(layers, n) for n in names}
    tr_samples = [s for s in _common_samples(train, names) if s in labels.index]
    te_samples = _common_samples(new, names)
    if len(tr_samples) < 2:
        raise MetpotError("snf_propagation: fewer than 2 labelled discovery samples")
    tr_views, te_views = [], []
    for n in names:
        shared = [c for c in train[n].columns if c in new[n].columns]
        cov = len(shared) / max(train[n].shape[1], 1)
        if cov < min_coverage:
            raise MetpotError(
                f"snf_propagation: layer {n}: only {len(shared)} of the discovery cohort's "
                f"{train[n].shape[1]} features are in the new cohort (coverage {cov:.3f} < "
                f"{min_coverage:g})"
            )
        if cov < 1:
            warn_data(
                f"snf_propagation: layer {n}: {train[n].shape[1] - len(shared)} features "
                "absent from the new cohort, left out"
            )
        a = train[n].loc[tr_samples, shared].to_numpy(dtype=float)
        b = new[n].loc[te_samples, shared].to_numpy(dtype=float)
        if np.isnan(a).any():
            warn_data(
                f"snf_propagation: layer {n}: {int(np.isnan(a).sum())} missing value(s) of the "
                "discovery cohort filled with the feature's discovery mean"
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                col_mean = np.nan_to_num(np.nanmean(a, axis=0))
            a = np.where(np.isnan(a), col_mean, a)
        if np.isnan(b).any():
            warn_data(
                f"snf_propagation: layer {n}: {int(np.isnan(b).sum())} missing value(s) of the "
                "new cohort filled with the discovery mean"
            )
            b = np.where(np.isnan(b), a.mean(axis=0), b)
        tr_views.append(a)
        te_views.append(b)
    K = min(int(K), len(tr_samples) + len(te_samples) - 1)
    pred = group_predict(
        tr_views,
        te_views,
        labels.loc[tr_samples].astype(str).to_numpy(),
        K=K,
        mu=mu,
        t=t,
        variant=variant,
    )
    return pd.Series(pred.astype(object), index=pd.Index(te_samples, name="sample_id"))
