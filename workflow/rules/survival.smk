if "risk_score" in manifest.analysis_steps(config):

    rule risk_score:
        """The Fong 1999 clinical risk score."""
        input:
            **inputs("risk_score"),
        output:
            **outputs("risk_score"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("crs"),
            io=io_args,
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        log:
            files("risk_score").log,
        benchmark:
            files("risk_score").benchmark
        conda:
            "../../envs/survival.yaml"
        shell:
            "{params.metpot} risk-score --config {params.cfg:q} {params.io} --threads {threads} --log {log}"


if "survival" in manifest.analysis_steps(config):

    rule survival:
        """Survival of one endpoint by subtype, Cox models, concordance, risk groups."""
        input:
            **inputs("survival"),
        output:
            **outputs("survival"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("survival", "crs", "seed"),
            io=io_args,
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        log:
            files("survival").log,
        benchmark:
            files("survival").benchmark
        conda:
            "../../envs/survival.yaml"
        shell:
            "{params.metpot} survival --config {params.cfg:q} {params.io}"
            " --endpoint {wildcards.endpoint} --threads {threads} --log {log}"
