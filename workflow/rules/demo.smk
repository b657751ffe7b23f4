rule demo_cohort:
    """The SYNTHETIC demo cohort (config section `demo`)."""
    output:
        **outputs("demo_cohort"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("demo"),
        io=io_args,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        files("demo_cohort").log,
    benchmark:
        files("demo_cohort").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} demo-cohort --config {params.cfg:q} {params.io} --threads {threads} --log {log}"
