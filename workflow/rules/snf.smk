step_rule(
    "snf",
    "Per-layer affinity matrices and the fused network.",
    threads=2,
    mem_mb=nxn_mem_mb(8),
    runtime=30,
)
