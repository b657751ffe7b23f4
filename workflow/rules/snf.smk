rule snf:
    """Per-layer affinity matrices and the fused network."""
    input:
        **inputs("snf"),
    output:
        **outputs("snf"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("snf"),
        io=io_args,
    threads: 2
    resources:
        mem_mb=nxn_mem_mb(8),
        runtime=30,
    log:
        files("snf").log,
    benchmark:
        files("snf").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} snf --config {params.cfg:q} {params.io} --threads {threads} --log {log}"
