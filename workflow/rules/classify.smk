if "classify" in manifest.analysis_steps(config):
    # One job per target x feature set fits all its models (they share each fold's
    # preprocessing and the job's imports); jobs with the same models share a rule. Their
    # config holds the crs section: whether the risk score's own job exists
    # (manifest.classify_jobs).
    for _name, _fit in manifest.classify_fit_rules(config).items():
        step_rule(
            "classify_fit",
            None,
            name=_name,
            constraints={
                "target": "|".join(map(re.escape, _fit["targets"])),
                "feature_set": "|".join(map(re.escape, _fit["feature_sets"])),
            },
            outputs_of={"models": _fit["models"]},
            args=" --target {wildcards.target:q} --feature-set {wildcards.feature_set:q}",
            threads=config["classify"]["n_jobs"],
            # the classifiers, then their comparison, are the run's longest chain: their jobs
            # go first (the union of the layers, the largest, before one layer, before the
            # signature) and survival, characterise (which only the report waits for) fill in
            priority=lambda w: {"all": 4, "signature": 2, "crs": 2}.get(w.feature_set, 3),
            mem_mb=2000,
            runtime=60,
        )

    if manifest.has_classify_pipeline(config):
        step_rule(
            "classify_pipeline",
            "The subtypes' discovery re-run in every outer training fold: the partition's "
            "stability, and (validation pipeline) the honest comparison with the CRS.",
            # SNF of every outer training fold: 3.45 GiB at N = 10,000 (bench/resources.md)
            mem_mb=nxn_mem_mb(6, base=2000),
            runtime=30,
        )

    step_rule(
        "classify",
        "Every fit compared: metrics with CIs, best model per target, against the CRS.",
        priority=2,
        mem_mb=2000,
        runtime=20,
    )

if "score" in manifest.analysis_steps(config):
    step_rule(
        "score",
        "Subtype, confidence, flags and risk group of every patient of a new cohort.",
        input=[unpack(lambda w: inputs("score", cohort=w.cohort))],
        args=" --cohort {wildcards.cohort:q}",
        mem_mb=4000,
        runtime=30,
    )
