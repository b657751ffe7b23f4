rule demo_cohort:
    """The SYNTHETIC demo cohort (used when config.yaml points at results/demo/)."""
    output:
        mrna=f"{OUT}/demo/mrna.tsv.gz",
        mirna=f"{OUT}/demo/mirna.tsv.gz",
        clinical=f"{OUT}/demo/clinical.tsv",
        truth=f"{OUT}/demo/truth.tsv",
        readme=f"{OUT}/demo/README.txt",
    params:
        metpot=METPOT,
        out=folder_of(),
        n=config["demo"]["n_patients"],
        seed=config["demo"]["seed"],
    log:
        f"{OUT}/logs/demo_cohort.log",
    conda:
        "../../envs/core.yaml"
    shell:
        "{params.metpot} simulate --out-dir {params.out} --n-patients {params.n}"
        " --seed {params.seed} --log {log}"
