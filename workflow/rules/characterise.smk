step_rule(
    "characterise",
    "Per subtype: differential features of every layer (Mann-Whitney U, BH FDR) and gene-set"
    " scores.",
    mem_mb=cells_mem_mb(per_cell=100),
    runtime=20,
)
