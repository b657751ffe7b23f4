step_rule(
    "preprocess",
    "Transform, impute, filter, select and scale each layer.",
    mem_mb=2000,
    runtime=20,
)
