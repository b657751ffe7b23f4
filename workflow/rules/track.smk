# MLFLOW_TRACKING_URI overrides tracking.uri. It is declared (so that remote and cluster jobs
# receive it) only when set: `envvars:` makes a variable mandatory, and this one is optional.
if "MLFLOW_TRACKING_URI" in os.environ:

    envvars:
        "MLFLOW_TRACKING_URI",


# Tracking and the summary run in the Snakemake process (on a cluster: the login node), so
# compute nodes never need to reach the tracking store.
localrules:
    summary,


if tracking_enabled():

    localrules:
        track,


    rule track:
        """Record the run in MLflow: config, versions, input checksums, metrics, artifacts.

        The only job that writes to the tracking store (failures are recorded by the onerror
        handler, in the snakemake process), so parallel jobs never race on it.
        """
        input:
            **inputs("track"),
        output:
            **outputs("track"),
        params:
            metpot=METPOT,
            cfg=lambda w: json.dumps(run_config()),
            io=io_args,
            workflow=workflow.basedir,
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        log:
            files("track").log,
        conda:
            "../../envs/tracking.yaml"
        shell:
            "{params.metpot} track --config {params.cfg:q} {params.io}"
            " --workflow-dir {params.workflow} --threads {threads} --log {log}"


rule summary:
    """The run's summary: summary.txt, printed at the end of the run."""
    input:
        **inputs("summary"),
    output:
        **outputs("summary"),
    params:
        metpot=METPOT,
        cfg=lambda w: json.dumps(run_config()),
        io=io_args,
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    log:
        files("summary").log,
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} summary --config {params.cfg:q} {params.io} --threads {threads} --log {log}"
