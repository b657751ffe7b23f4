"""numba's kernels compiled once, before the jobs that use them.

The first run after an install compiles the SNF kernels (:mod:`metpot._snf_kernels`): about
25 signatures, about 15 CPU seconds per precision (the kernels select their order statistics
without NumPy's ``partition`` and ``sort``, whose generic numba implementations took twice
that to compile). Left to the jobs, the ``snf`` job compiles the float64
kernels and then every consensus chunk that starts before a cache is written compiles the
float32 ones again. :func:`warm_up` compiles both precisions at once, one process each, on a
tiny problem that takes the code paths of the demo-sized jobs; the workflow runs it first
(rule ``numba_cache``), beside the data steps, and the SNF jobs then load numba's cache.
With the cache warm it costs the imports and the cache loads (about two seconds).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

#: Samples of the warm-up problem: small, yet the same code paths as a cohort of a few hundred
#: patients (``tests/test_snf.py`` checks that the demo compiles nothing after it).
WARM_UP_SAMPLES = 40


def _dispatchers():
    """(name, numba dispatcher) of every kernel of :mod:`metpot._snf_kernels`."""
    from metpot import _snf_kernels

    for name in dir(_snf_kernels):
        kernel = getattr(_snf_kernels, name)
        if hasattr(kernel, "stats") and isinstance(getattr(kernel, "signatures", None), list):
            yield name, kernel


def kernel_signatures() -> set[tuple[str, str]]:
    """(kernel, signature) of every numba kernel of :mod:`metpot._snf_kernels` compiled or
    loaded in this process."""
    return {(name, str(s)) for name, kernel in _dispatchers() for s in kernel.signatures}


def _compiled() -> tuple[int, int]:
    """Signatures numba compiled, and loaded from its cache, in this process."""
    misses = hits = 0
    for _, kernel in _dispatchers():
        misses += sum(kernel.stats.cache_misses.values())
        hits += sum(kernel.stats.cache_hits.values())
    return misses, hits


def _cache_is_warm() -> bool:
    """Whether numba loads a kernel from its cache (then all are there: a second process
    would cost more than it saves). The probe's own signature is cached by the first run."""
    import numpy as np

    from metpot import _snf_kernels

    _snf_kernels.symmetrize(np.zeros((2, 2)), 0.0)
    return sum(_snf_kernels.symmetrize.stats.cache_misses.values()) == 0


def _run(path: str, snf: Mapping, precision: str) -> dict:
    """One precision's kernels on the warm-up problem: ``path`` ``snf`` (the snf job's network
    fusion, float64) or ``consensus`` (a consensus resample at ``precision``)."""
    import numpy as np

    from metpot.consensus import cluster_resample, layer_distances, resample_index
    from metpot.snf import snf_pipeline

    started = time.perf_counter()
    misses0, hits0 = _compiled()
    rng = np.random.default_rng(0)
    n = WARM_UP_SAMPLES
    views = [rng.standard_normal((n, 12)), rng.standard_normal((n, 8))]
    options = {k: snf[k] for k in ("K", "mu", "t", "variant", "metric")}
    options["K"] = min(int(options["K"]), n // 2)
    if path == "snf":
        snf_pipeline(views, **options, normalize=False)
    else:
        distances = layer_distances(views, options["metric"])
        index = resample_index(n, 0, 0.8, 1)
        cluster_resample(
            views, index, [2, 3], **options, normalize=False, distances=distances,
            precision=precision,
        )  # fmt: skip
    misses, hits = _compiled()
    return {
        "path": path,
        "precision": precision,
        "compiled": misses - misses0,
        "loaded_from_cache": hits - hits0,
        "seconds": round(time.perf_counter() - started, 2),
    }


def warm_up(snf: Mapping, precision: str = "float32", processes: int = 2) -> list[dict]:
    """Compile (or load from numba's cache) the kernels of the snf job and of the consensus
    chunks.

    Parameters
    ----------
    snf : mapping
        The config's ``snf`` section (``K``, ``mu``, ``t``, ``variant``, ``metric``).
    precision : {"float32", "float64"}
        The consensus resamples' precision (``clusters.consensus.precision``).
    processes : int
        With 2 or more, the consensus kernels compile in a second process while this one
        compiles the snf job's (numba compiles in one thread).

    Returns
    -------
    list of dict
        Per path: the signatures compiled and loaded from the cache, and the seconds taken.
    """
    if processes < 2 or _cache_is_warm():
        return [_run("snf", snf, "float64"), _run("consensus", snf, precision)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fork of a process holding numba's thread pool can hang
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        other = pool.submit(_run, "consensus", dict(snf), precision)
        mine = _run("snf", snf, "float64")
        return [mine, other.result()]
