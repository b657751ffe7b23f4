rule snf:
    """Per-layer affinity matrices and the fused network."""
    input:
        layer_files("preprocess"),
    output:
        fused=f"{OUT}/snf/fused.parquet",
        affinities=expand(f"{OUT}/snf/affinity_{{layer}}.parquet", layer=LAYERS),
        params=f"{OUT}/snf/params.json",
    params:
        metpot=METPOT,
        cfg=lambda w: step_config("cohort", "snf"),
        inp=folder_of("input"),
        out=folder_of(),
    threads: workflow.cores
    log:
        f"{OUT}/logs/snf.log",
    benchmark:
        f"{OUT}/benchmarks/snf.tsv"
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} snf --config-json {params.cfg:q} --in-dir {params.inp}"
        " --out-dir {params.out} --threads {threads} --log {log}"
