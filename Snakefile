"""metpot: multi-omics subtyping (SNF) and outcome modelling of tumour metastatic potential.

    snakemake --cores 2                       # the demo cohort (config/config.yaml)
    snakemake --cores 2 --configfile my.yaml  # your own cohort: my.yaml + the schema's defaults
    metpot run my.yaml                        # the same, validated first, from any folder
"""

from snakemake.utils import min_version

min_version("8.20")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/step_config.smk"


if "demo" in config:

    include: "workflow/rules/demo.smk"


include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/snf.smk"
include: "workflow/rules/clusters.smk"
include: "workflow/rules/characterise.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/track.smk"


rule all:
    input:
        final_outputs(),
    default_target: True


onstart:
    clear_failure_records()


onsuccess:
    print_summary()


onerror:
    record_failure(log)
