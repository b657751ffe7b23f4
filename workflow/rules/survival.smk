if has_crs():

    rule risk_score:
        """The Fong 1999 clinical risk score."""
        input:
            clinical=ingested("clinical.parquet"),
        output:
            crs_outputs(),
        params:
            metpot=METPOT,
            cfg=lambda w: step_config("cohort", "crs"),
            out=folder_of(),
        log:
            f"{OUT}/logs/risk_score.log",
        conda:
            "../../envs/survival.yaml"
        shell:
            "{params.metpot} risk-score --config-json {params.cfg:q} --clinical {input.clinical}"
            " --out-dir {params.out} --log {log}"


if has_survival(config):

    rule survival:
        """Survival by subtype, Cox models with the risk score, concordance, risk groups."""
        input:
            assignments=f"{OUT}/clusters/assignments.tsv",
            subtypes=f"{OUT}/clusters/subtypes.tsv",
            outcome=ingested("outcome.tsv"),
            clinical=ingested("clinical.parquet"),
            crs=crs_outputs()[:1],
        output:
            survival_outputs(),
        params:
            metpot=METPOT,
            cfg=lambda w: step_config("cohort", "survival", "seed"),
            crs=lambda w, input: f"--crs {input.crs}" if input.crs else "",
            out=folder_of(),
        log:
            f"{OUT}/logs/survival.log",
        benchmark:
            f"{OUT}/benchmarks/survival.tsv"
        conda:
            "../../envs/survival.yaml"
        shell:
            "{params.metpot} survival --config-json {params.cfg:q}"
            " --assignments {input.assignments} --subtypes {input.subtypes}"
            " --outcome {input.outcome} --clinical {input.clinical} {params.crs}"
            " --out-dir {params.out} --log {log}"
