wildcard_constraints:
    chunk=r"\d+",
    endpoint="os|pfs",


step_rule(
    "consensus_chunk",
    "One chunk of the consensus resamples: the SNF pipeline and clustering on each.",
    args=" --chunk {wildcards.chunk}",
    threads=CHUNK_THREADS,
    mem_mb=nxn_mem_mb(8),
    runtime=60,
)
step_rule(
    "consensus_stop",
    "Whether the consensus can stop after its first resamples (the PAC that decide k settled).",
    # the eigengaps of the fused network: 3.85 GiB at N = 10,000 (bench/resources.md)
    mem_mb=nxn_mem_mb(6),
    runtime=15,
)
step_rule(
    "consensus_more",
    "One chunk of the resamples after the stopping check (none when it stopped).",
    args=" --chunk {wildcards.chunk}",
    threads=CHUNK_THREADS,
    mem_mb=nxn_mem_mb(8),
    runtime=60,
)
step_rule(
    "clusters",
    "Number of subtypes, assignments, consensus stability and agreement with truth.",
    mem_mb=nxn_mem_mb(14),
    runtime=30,
)

if "sweep" in manifest.analysis_steps(config):

    wildcard_constraints:
        K=r"\d+",
        mu=r"[0-9.e+-]+",
        t=r"\d+",

    step_rule(
        "sweep_point",
        "SNF, clustering and survival separation at one (K, mu, t) of the sweep.",
        args=" --K {wildcards.K} --mu {wildcards.mu} --t {wildcards.t}",
        threads=2,
        mem_mb=nxn_mem_mb(8),
        runtime=30,
    )
    step_rule(
        "sweep",
        "One row per setting of the sweep: k, estimates, agreement, log-rank separation.",
        mem_mb=500,
        runtime=5,
        benchmark=False,
    )
