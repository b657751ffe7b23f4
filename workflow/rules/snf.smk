step_rule(
    "numba_cache",
    "numba's kernels compiled once (both precisions at once), before the jobs that use them.",
    threads=1,  # a second process only when numba compiles (the cache is cold)
    mem_mb=1000,
    runtime=20,
)

step_rule(
    "snf",
    "Per-layer affinity matrices and the fused network.",
    threads=2,
    mem_mb=nxn_mem_mb(8),
    runtime=30,
)
