if "risk_score" in manifest.analysis_steps(config):
    step_rule(
        "risk_score",
        "The Fong 1999 clinical risk score.",
        env="survival",
        mem_mb=1000,
        runtime=10,
    )

if "survival" in manifest.analysis_steps(config):
    step_rule(
        "survival",
        "Survival of one endpoint by subtype, Cox models, concordance, risk groups.",
        args=" --endpoint {wildcards.endpoint}",
        env="survival",
        mem_mb=2000,
        runtime=60,
    )
