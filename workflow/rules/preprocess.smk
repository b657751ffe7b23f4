rule preprocess:
    """Transform, impute, filter, select and scale each layer."""
    input:
        ingest_outputs(),
    output:
        layer_files("preprocess"),
        summary=f"{OUT}/preprocess/summary.json",
        metrics=f"{OUT}/preprocess/metrics.json",
    params:
        metpot=METPOT,
        cfg=lambda w: step_config("cohort", "preprocess"),
        inp=folder_of("input"),
        out=folder_of(),
    log:
        f"{OUT}/logs/preprocess.log",
    benchmark:
        f"{OUT}/benchmarks/preprocess.tsv"
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} preprocess --config-json {params.cfg:q} --in-dir {params.inp}"
        " --out-dir {params.out} --log {log}"
