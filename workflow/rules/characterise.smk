rule characterise:
    """Per subtype: differential features of every layer (Mann-Whitney U, BH FDR) and gene-set scores."""
    input:
        **inputs("characterise"),
    output:
        **outputs("characterise"),
    params:
        metpot=METPOT,
        cfg=lambda w: sections("preprocess", "subtypes", "characterise"),
        io=io_args,
    threads: 1
    resources:
        mem_mb=cells_mem_mb(per_cell=100),
        runtime=20,
    log:
        files("characterise").log,
    benchmark:
        files("characterise").benchmark
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} characterise --config {params.cfg:q} {params.io}"
        " --threads {threads} --log {log}"
