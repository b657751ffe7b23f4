if "classify" in manifest.analysis_steps(config):

    wildcard_constraints:
        model="|".join(manifest.CLASSIFY_MODELS),


    rule classify_fit:
        """Nested cross-validation of one target x model x feature set, and its final model."""
        input:
            **inputs("classify_fit"),
        output:
            **outputs("classify_fit"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("classify", "seed"),
            io=io_args,
        threads: 1
        log:
            files("classify_fit").log,
        benchmark:
            files("classify_fit").benchmark
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} classify-fit --config {params.cfg:q} {params.io}"
            " --target {wildcards.target:q} --model {wildcards.model}"
            " --feature-set {wildcards.feature_set:q} --threads {threads} --log {log}"


    rule classify:
        """Every fit compared: metrics with CIs, best model per target, against the CRS."""
        input:
            **inputs("classify"),
        output:
            **outputs("classify"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("classify", "seed"),
            io=io_args,
        log:
            files("classify").log,
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} classify --config {params.cfg:q} {params.io} --log {log}"


if "score" in manifest.analysis_steps(config):

    rule score:
        """Subtype, confidence, flags and risk group of every patient of a new cohort."""
        input:
            unpack(lambda w: inputs("score", cohort=w.cohort)),
        output:
            **outputs("score"),
        params:
            metpot=METPOT,
            cfg=lambda w: sections("score", "crs", "snf", "survival"),
            io=io_args,
        log:
            files("score").log,
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} score --config {params.cfg:q} {params.io}"
            " --cohort {wildcards.cohort:q} --log {log}"
