rule consensus_chunk:
    """One chunk of the consensus resamples: the SNF pipeline and clustering on each."""
    input:
        layer_files("preprocess"),
    output:
        f"{OUT}/clusters/consensus/chunk_{{chunk}}.tsv",
    params:
        metpot=METPOT,
        cfg=lambda w: step_config("cohort", "snf", "clusters"),
        inp=folder_of("input"),
        chunks=CONSENSUS_CHUNKS,
    threads: 1
    log:
        f"{OUT}/logs/consensus/chunk_{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/consensus_chunk_{{chunk}}.tsv"
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} consensus --config-json {params.cfg:q} --in-dir {params.inp}"
        " --chunk {wildcards.chunk} --chunks {params.chunks} --out {output}"
        " --threads {threads} --log {log}"


rule clusters:
    """Number of subtypes, assignments, consensus stability and agreement with truth."""
    input:
        fused=f"{OUT}/snf/fused.parquet",
        chunks=consensus_chunks(),
        truth=truth_file(),
        layer=ingested(f"{subtype_layer()}.parquet"),
    output:
        cluster_outputs(),
    params:
        metpot=METPOT,
        cfg=lambda w: step_config("snf", "clusters", "subtypes"),
        truth=lambda w, input: f"--truth {input.truth}" if input.truth else "",
        chunks=lambda w, input: " ".join(input.chunks),
        out=folder_of(),
    log:
        f"{OUT}/logs/clusters.log",
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} clusters --config-json {params.cfg:q} --fused {input.fused}"
        " --chunks {params.chunks} {params.truth} --layer {input.layer}"
        " --out-dir {params.out} --log {log}"
