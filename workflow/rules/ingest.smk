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
    log:
        files("ingest").log,
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} ingest --config {params.cfg:q} {params.io} --log {log}"
