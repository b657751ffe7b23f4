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


    if manifest.has_track_models(config):

        localrules:
            track_models,

        step_rule(
            "track_models",
            "Open the run in MLflow and log and register each target's best model, as soon"
            " as the classifiers are compared (beside the jobs still running); track names"
            " the champions once the whole run is recorded.",
            env="tracking",
            priority=1,
            mem_mb=2000,
            runtime=20,
            benchmark=False,
        )

    step_rule(
        "track",
        "Record the run in MLflow: config, versions, input checksums, metrics, artifacts.\n\n"
        "With track_models, the only jobs that write to the tracking store, one after the"
        " other (failures are recorded by the onerror handler, in the snakemake process), so"
        " parallel jobs never race on it.",
        args=" --workflow-dir {params.workflow}",
        workflow=workflow.basedir,
        env="tracking",
        mem_mb=2000,
        runtime=20,
        benchmark=False,
    )

step_rule(
    "summary",
    "The run's summary: summary.txt, printed at the end of the run.",
    mem_mb=500,
    runtime=5,
    benchmark=False,
)

