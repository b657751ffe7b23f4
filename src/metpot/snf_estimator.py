"""scikit-learn estimator of the SNF pipeline (:class:`SNF`), also ``metpot.snf.SNF``.

Kept apart from :mod:`metpot.snf` so that importing the engine does not import
scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.base import BaseEstimator, ClusterMixin

from metpot._snf_inputs import _check_variant
from metpot.errors import MetpotValueError
from metpot.snf import snf_pipeline
from metpot.spectral import (
    choose_n_clusters,
    cluster_number_scores,
    estimate_n_clusters,
    spectral_clustering,
)

__all__ = ["SNF"]


class SNF(ClusterMixin, BaseEstimator):
    """Similarity Network Fusion followed by spectral clustering.

    Parameters
    ----------
    K : int
        Neighbours for the affinity networks and the fusion.
    mu : float
        Kernel width of the affinity networks.
    t : int
        Fusion iterations.
    variant : {"snftool-2.3", "snftool-2.2"}
        SNFtool generation.
    n_clusters : int or "auto"
        Number of clusters; ``"auto"`` chooses among ``candidates`` as the workflow does
        without consensus clustering (:func:`metpot.clusters.choose_n_clusters`): the
        eigen-gap and rotation-cost bests when they agree, else the rotation-cost best.
    metric : str
        Distance between samples (see :func:`distance`).
    candidates : sequence of int
        Cluster numbers considered when ``n_clusters="auto"``.
    normalize : bool
        Z-score each feature before the distances.

    Attributes
    ----------
    affinities_ : list of numpy.ndarray
        Per-view affinity networks.
    fused_ : numpy.ndarray
        Fused network.
    n_clusters_ : int
        Number of clusters used.
    n_clusters_reason_ : str
        One sentence saying how :attr:`n_clusters_` was chosen.
    cluster_scores_ : pandas.DataFrame
        :func:`cluster_number_scores` of the fused network over ``candidates``.
    labels_ : numpy.ndarray of int
        Cluster of each sample, 1-based.
    """

    def __init__(
        self,
        K: int = 20,
        mu: float = 0.5,
        t: int = 20,
        variant: str = "snftool-2.3",
        n_clusters: int | str = "auto",
        metric: str = "sqeuclidean",
        candidates: Sequence[int] = (2, 3, 4, 5),
        normalize: bool = True,
    ):
        self.K = K
        self.mu = mu
        self.t = t
        self.variant = variant
        self.n_clusters = n_clusters
        self.metric = metric
        self.candidates = candidates
        self.normalize = normalize

    def fit(self, X, y=None):
        """Build the affinity networks of the views, fuse them and cluster.

        Parameters
        ----------
        X : sequence of array_like, each (n_samples, n_features_v)
            The views, samples in rows.
        y : None
            Ignored.

        Returns
        -------
        SNF
            The fitted estimator.
        """
        _check_variant(self.variant)
        if not (self.n_clusters == "auto" or isinstance(self.n_clusters, int | np.integer)):
            raise MetpotValueError(
                f"n_clusters must be 'auto' or an integer, got {self.n_clusters!r}"
            )
        if scipy.sparse.issparse(X):
            raise MetpotValueError("SNF: sparse input is not supported; give dense views")
        if isinstance(X, np.ndarray | pd.DataFrame) and X.ndim == 2:
            raise MetpotValueError(
                "SNF.fit takes a list of views (samples x features each, one per omics "
                f"layer), got one matrix of shape {X.shape}"
            )
        views = list(X)
        if len(views) < 2:
            raise MetpotValueError(f"SNF needs at least 2 views, got {len(views)}")
        self.affinities_, self.fused_ = snf_pipeline(
            views,
            K=self.K,
            mu=self.mu,
            t=self.t,
            variant=self.variant,
            metric=self.metric,
            normalize=self.normalize,
        )
        self.cluster_scores_ = cluster_number_scores(self.fused_, self.candidates, self.variant)
        estimates = dict(
            zip(
                ("eigengap_best", "eigengap_second", "rotation_cost_best", "rotation_cost_second"),
                estimate_n_clusters(self.fused_, self.candidates, self.variant),
                strict=True,
            )
        )
        self.n_clusters_, self.n_clusters_reason_ = choose_n_clusters(
            estimates, None, self.n_clusters
        )
        self.labels_ = spectral_clustering(self.fused_, self.n_clusters_)
        return self

    def fit_predict(self, X, y=None):
        """Fit and return :attr:`labels_`.

        Parameters
        ----------
        X : sequence of array_like
            The views.
        y : None
            Ignored.

        Returns
        -------
        numpy.ndarray of int
            Cluster labels, 1-based.
        """
        return self.fit(X).labels_
