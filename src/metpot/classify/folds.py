"""Cross-validation folds: the outer repeated stratified K-fold and the inner splits."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from metpot.errors import warn_data


def outer_folds(
    samples: Sequence[str], strata: Sequence, n_splits: int = 5, n_repeats: int = 2, seed: int = 1
) -> pd.DataFrame:
    """Outer folds: repeated stratified K-fold, a function of samples, strata and seed only.

    Parameters
    ----------
    samples : sequence of str
        Sample ids.
    strata : sequence
        Stratification label per sample (class, or event indicator).
    n_splits, n_repeats : int
        K and the number of repeats.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample``, ``repeat``, ``fold`` (0-based): the fold in which each sample is
        a test sample, for each repeat.
    """
    samples = [str(s) for s in samples]
    strata = np.asarray(strata)
    counts = pd.Series(strata).value_counts()
    if counts.min() < n_splits:
        warn_data(
            f"stratum {counts.idxmin()!r} has {counts.min()} samples, fewer than "
            f"{n_splits} outer folds: some test folds lack it"
        )
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    rows = []
    with warnings.catch_warnings():
        # scikit-learn's note on a small class, named above by warn_data
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        for k, (_, test) in enumerate(cv.split(np.zeros(len(samples)), strata)):
            r, f = divmod(k, n_splits)
            rows += [(samples[i], r, f) for i in test]
    out = pd.DataFrame(rows, columns=["sample", "repeat", "fold"])
    return out.sort_values(["repeat", "fold", "sample"], kind="stable").reset_index(drop=True)


def _fold_indices(folds: pd.DataFrame, samples: Sequence[str]):
    """(repeat, fold, train_idx, test_idx) over ``samples`` (those absent from folds ignored)."""
    pos = {s: i for i, s in enumerate(samples)}
    out = []
    for (r, f), grp in folds.groupby(["repeat", "fold"], sort=True):
        test = np.array(sorted(pos[s] for s in grp["sample"] if s in pos), dtype=int)
        in_rep = folds.loc[folds["repeat"] == r, "sample"]
        all_rep = np.array(sorted(pos[s] for s in in_rep if s in pos), dtype=int)
        train = np.setdiff1d(all_rep, test)
        out.append((int(r), int(f), train, test))
    return out


def _inner_splits(strata: np.ndarray, n_splits: int, seed: int) -> list:
    counts = pd.Series(strata).value_counts()
    k = int(min(n_splits, max(2, counts.min())))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(cv.split(np.zeros(len(strata)), strata))
