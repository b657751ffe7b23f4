"""metpot: multi-omics subtyping (SNF) and outcome modelling of tumour metastatic potential.

    snakemake --cores 2                      # the whole workflow on config/config.yaml
    snakemake --cores 2 --configfile my.yaml # on your own cohort
"""

from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/snf.smk"
include: "workflow/rules/clusters.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/track.smk"


rule all:
    input:
        final_outputs(),
    default_target: True


onerror:
    record_failure(log)
