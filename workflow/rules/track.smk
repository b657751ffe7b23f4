# MLFLOW_TRACKING_URI overrides tracking.uri. It is declared (so that remote and cluster jobs
# receive it) only when set: `envvars:` makes a variable mandatory, and this one is optional.
if "MLFLOW_TRACKING_URI" in os.environ:

    envvars:
        "MLFLOW_TRACKING_URI",


if tracking_enabled():

    rule track:
        """Record the run in MLflow: config, versions, input checksums, metrics, artifacts.

        The only job that writes to the tracking store (failures are recorded by the onerror
        handler, in the snakemake process), so parallel jobs never race on it.
        """
        input:
            analysis_outputs(),
        output:
            f"{OUT}/mlflow_run.json",
        params:
            metpot=METPOT,
            cfg=lambda w: json.dumps(config),
            results=folder_of(),
            workflow=workflow.basedir,
        log:
            f"{OUT}/logs/track.log",
        conda:
            "../../envs/tracking.yaml"
        shell:
            "{params.metpot} track --config-json {params.cfg:q} --results {params.results}"
            " --workflow-dir {params.workflow} --log {log}"
