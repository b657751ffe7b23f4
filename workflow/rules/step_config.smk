# Each step's config (the sections it reads, manifest.STEP_SECTIONS) as the JSON file its rule
# declares as input and its command reads (--config): the JSON is this job's params, so a
# change of config rewrites only the files whose sections changed, and their new files rerun
# just their steps. Rendered by Snakemake's template engine in the snakemake process (a `run:`
# job would start a Python process per file); the template never reruns them (ancient).
localrules:
    step_config,


rule step_config:
    """The config sections one step reads, as the JSON file its command reads."""
    input:
        template=ancient(str(Path(workflow.basedir, "workflow", "templates", "step_config.json.j2"))),
    output:
        manifest.step_config_file("{step}", config),
    wildcard_constraints:
        step="|".join(manifest.STEP_SECTIONS),
    params:
        sections=lambda w: step_config_json(w.step),
    log:
        manifest.step_config_log("{step}", config),
    template_engine:
        "jinja2"
