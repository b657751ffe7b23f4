if "classify" in manifest.analysis_steps(config):

    # One job per target x feature set fits all its models (they share each fold's
    # preprocessing and the job's imports); jobs with the same models share a rule.
    for _name, _fit in manifest.classify_fit_rules(config).items():

        rule:
            name:
                _name
            wildcard_constraints:
                target="|".join(map(re.escape, _fit["targets"])),
                feature_set="|".join(map(re.escape, _fit["feature_sets"])),
            input:
                **inputs("classify_fit"),
            output:
                **outputs("classify_fit", models=_fit["models"]),
            params:
                metpot=METPOT,
                # crs: whether the risk score's own job exists (manifest.classify_jobs)
                cfg=lambda w: sections(*manifest.CLASSIFY_FIT_SECTIONS),
                io=io_args,
            threads: config["classify"]["n_jobs"]
            resources:
                mem_mb=2000,
                runtime=60,
            log:
                files("classify_fit").log,
            benchmark:
                files("classify_fit").benchmark
            conda:
                "../../envs/core.yaml"
            shell:
                "{params.metpot} classify-fit --config {params.cfg:q} {params.io}"
                " --target {wildcards.target:q} --feature-set {wildcards.feature_set:q}"
                " --threads {threads} --log {log}"

    if manifest.has_classify_pipeline(config):

        rule classify_pipeline:
            """The subtypes' discovery re-run in every outer training fold: the partition's
            stability, and (validation pipeline) the honest comparison with the CRS."""
            input:
                **inputs("classify_pipeline"),
            output:
                **outputs("classify_pipeline"),
            params:
                metpot=METPOT,
                cfg=lambda w: sections("classify", "seed", "preprocess", "snf", "crs"),
                io=io_args,
            threads: 1
            resources:
                mem_mb=2000,
                runtime=30,
            log:
                files("classify_pipeline").log,
            benchmark:
                files("classify_pipeline").benchmark
            conda:
                "../../envs/core.yaml"
            shell:
                "{params.metpot} classify-pipeline --config {params.cfg:q} {params.io}"
                " --threads {threads} --log {log}"

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
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        log:
            files("classify").log,
        benchmark:
            files("classify").benchmark
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} classify --config {params.cfg:q} {params.io} --threads {threads} --log {log}"


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
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        log:
            files("score").log,
        benchmark:
            files("score").benchmark
        conda:
            "../../envs/core.yaml"
        shell:
            "{params.metpot} score --config {params.cfg:q} {params.io}"
            " --cohort {wildcards.cohort:q} --threads {threads} --log {log}"
