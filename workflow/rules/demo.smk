rule demo_cohort:
    """The SYNTHETIC demo cohort (config section `demo`)."""
    output:
        **outputs("demo_cohort"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("demo"),
        io=io_args,
    log:
        files("demo_cohort").log,
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} demo-cohort --config {params.cfg:q} {params.io} --log {log}"
