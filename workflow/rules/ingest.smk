rule ingest:
    """Read, validate and align the omics layers, clinical table and known labels."""
    input:
        input_paths(),
    output:
        ingest_outputs(),
    params:
        metpot=METPOT,
        cfg=lambda w: step_config("cohort"),
        out=folder_of(),
    log:
        f"{OUT}/logs/ingest.log",
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} ingest --config-json {params.cfg:q} --out-dir {params.out} --log {log}"
