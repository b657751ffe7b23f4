step_rule(
    "demo_cohort",
    "The SYNTHETIC demo cohort (config section `demo`).",
    mem_mb=1000,
    runtime=10,
)
