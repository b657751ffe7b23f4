rule preprocess:
    """Transform, impute, filter, select and scale each layer."""
    input:
        **inputs("preprocess"),
    output:
        **outputs("preprocess"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("preprocess"),
        io=io_args,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    log:
        files("preprocess").log,
    benchmark:
        files("preprocess").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} preprocess --config {params.cfg:q} {params.io}"
        " --threads {threads} --log {log}"
