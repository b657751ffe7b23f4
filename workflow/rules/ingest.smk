rule ingest:
    """Read, validate and align the omics layers, clinical table and known labels."""
    input:
        **inputs("ingest"),
    output:
        **outputs("ingest"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections(),
        io=io_args,
    threads: 1
    resources:
        mem_mb=text_mem_mb(),
        runtime=20,
    log:
        files("ingest").log,
    benchmark:
        files("ingest").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} ingest --config {params.cfg:q} {params.io} --threads {threads} --log {log}"
