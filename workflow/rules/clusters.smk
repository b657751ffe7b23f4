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
    threads: 1
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
