wildcard_constraints:
    chunk=r"\d+",
    endpoint="os|pfs",


rule consensus_chunk:
    """One chunk of the consensus resamples: the SNF pipeline and clustering on each."""
    input:
        **inputs("consensus_chunk"),
    output:
        **outputs("consensus_chunk"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("snf", "clusters"),
        io=io_args,
    threads: CHUNK_THREADS
    resources:
        mem_mb=nxn_mem_mb(8),
        runtime=60,
    log:
        files("consensus_chunk").log,
    benchmark:
        files("consensus_chunk").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} consensus-chunk --config {params.cfg:q} {params.io}"
        " --chunk {wildcards.chunk} --threads {threads} --log {log}"


rule clusters:
    """Number of subtypes, assignments, consensus stability and agreement with truth."""
    input:
        **inputs("clusters"),
    output:
        **outputs("clusters"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("snf", "clusters", "subtypes"),
        io=io_args,
    threads: 1
    resources:
        mem_mb=nxn_mem_mb(14),
        runtime=30,
    log:
        files("clusters").log,
    benchmark:
        files("clusters").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} clusters --config {params.cfg:q} {params.io}"
        " --threads {threads} --log {log}"


if "sweep" in manifest.analysis_steps(config):

    wildcard_constraints:
        K=r"\d+",
        mu=r"[0-9.e+-]+",
        t=r"\d+",


    rule sweep_point:
        """SNF, clustering and survival separation at one (K, mu, t) of the sweep."""
        input:
            **inputs("sweep_point"),
        output:
            **outputs("sweep_point"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("snf", "clusters"),
            io=io_args,
        threads: 2
        resources:
            mem_mb=nxn_mem_mb(8),
            runtime=30,
        log:
            files("sweep_point").log,
        benchmark:
            files("sweep_point").benchmark
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} sweep-point --config {params.cfg:q} {params.io}"
            " --K {wildcards.K} --mu {wildcards.mu} --t {wildcards.t}"
            " --threads {threads} --log {log}"


    rule sweep:
        """One row per setting of the sweep: k, estimates, agreement, log-rank separation."""
        input:
            **inputs("sweep"),
        output:
            **outputs("sweep"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("sweep"),
            io=io_args,
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        log:
            files("sweep").log,
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} sweep --config {params.cfg:q} {params.io}"
            " --threads {threads} --log {log}"
