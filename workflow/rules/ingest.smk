step_rule(
    "ingest",
    "Read, validate and align the omics layers, clinical table and known labels.",
    mem_mb=text_mem_mb(),
    runtime=20,
)
