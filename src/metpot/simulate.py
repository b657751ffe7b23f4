"""A SYNTHETIC demonstration cohort of resected colorectal liver metastases (CRLM).

:func:`simulate_cohort` draws a fake multi-omics cohort shaped like the published design
(Pitroda et al., Nat Commun 2018; the New EPOC validation, JAMA Oncol 2023): three molecular
subtypes of CRLM (canonical, immune, stromal) in the New EPOC proportions, an mRNA and a miRNA
layer, Fong clinical risk score factors, and overall and progression-free survival.

Nothing here is patient data. The gene symbols are real (see ``metpot/data/PROVENANCE.md``);
every expression value, clinical value and survival time is drawn from random numbers.

The two layers are built to be complementary, as in the Similarity Network Fusion (SNF)
papers: the mRNA layer separates the immune subtype strongly but confuses canonical and
stromal tumours in part; the miRNA layer separates stromal from canonical but confuses the
immune subtype with canonical. Each layer alone recovers the subtypes clearly worse than SNF
of both layers.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd

from metpot.errors import MetpotError

__all__ = [
    "SUBTYPES",
    "SUBTYPE_PROPORTIONS",
    "MRNA_PROGRAMMES",
    "MIRNA_PROGRAMMES",
    "simulate_cohort",
    "subtype_counts",
    "gene_symbols",
    "mirna_ids",
]

SUBTYPES: tuple[str, ...] = ("canonical", "immune", "stromal")
"""Subtype labels, in the order used for counts and design matrices."""

SUBTYPE_PROPORTIONS: dict[str, float] = {"canonical": 0.50, "immune": 0.19, "stromal": 0.31}
"""New EPOC validation proportions (JAMA Oncol 2023)."""

MRNA_PROGRAMMES: dict[str, tuple[str, ...]] = {
    # T-cell / interferon-gamma / antigen presentation
    "immune": (
        "CD8A", "CD8B", "GZMA", "GZMB", "GZMK", "PRF1", "CXCL9", "CXCL10", "CXCL11", "CXCL13",
        "IFNG", "STAT1", "IRF1", "IDO1", "CD274", "PDCD1", "LAG3", "HLA-DRA", "HLA-DRB1",
        "HLA-DPA1", "CD74", "LCK", "CD3E", "CD3D", "CD2", "CD247", "ZAP70", "TBX21", "NKG7",
        "CCL5", "GBP1", "PSMB9", "TAP1",
    ),
    # stroma / angiogenesis / epithelial-mesenchymal transition
    "stromal": (
        "COL1A1", "COL1A2", "COL3A1", "COL5A1", "COL5A2", "COL6A3", "FAP", "ACTA2", "TAGLN",
        "POSTN", "VEGFA", "KDR", "FLT1", "PDGFRB", "PDGFRA", "SPARC", "THBS2", "TWIST1", "ZEB1",
        "ZEB2", "SNAI2", "VIM", "FN1", "LUM", "DCN", "MMP2", "TGFB1", "TGFB3", "CDH11", "ANGPT2",
    ),
    # E2F / MYC targets, proliferation
    "canonical": (
        "MYC", "E2F1", "E2F2", "MCM2", "MCM3", "MCM4", "MCM5", "MCM6", "MCM7", "PCNA", "CCNE1",
        "CCNE2", "CDK4", "CDK1", "MKI67", "TOP2A", "NPM1", "NOP56", "NCL", "CDC20", "BUB1",
        "AURKA", "PLK1", "RRM2", "TYMS", "CCNB1", "CDC6", "ODC1", "LDHA",
    ),
}  # fmt: skip
"""Subtype programme genes of the mRNA layer (real HGNC symbols)."""

MIRNA_PROGRAMMES: dict[str, tuple[str, ...]] = {
    # lymphocyte / myeloid miRNAs
    "immune": (
        "hsa-miR-155-5p", "hsa-miR-150-5p", "hsa-miR-142-3p", "hsa-miR-142-5p",
        "hsa-miR-146a-5p", "hsa-miR-146b-5p", "hsa-miR-342-3p", "hsa-miR-223-3p",
        "hsa-miR-181a-5p", "hsa-miR-181b-5p", "hsa-miR-29b-3p", "hsa-miR-125a-5p",
    ),
    # fibroblast / smooth muscle / EMT miRNAs
    "stromal": (
        "hsa-miR-199a-5p", "hsa-miR-199a-3p", "hsa-miR-199b-5p", "hsa-miR-214-3p",
        "hsa-miR-214-5p", "hsa-miR-21-5p", "hsa-miR-21-3p", "hsa-miR-143-3p", "hsa-miR-145-5p",
        "hsa-miR-100-5p", "hsa-miR-125b-5p", "hsa-miR-99a-5p", "hsa-miR-22-3p", "hsa-miR-27a-3p",
        "hsa-miR-34a-5p", "hsa-miR-221-3p", "hsa-miR-222-3p", "hsa-miR-137",
    ),
    # MYC-induced miR-17~92 cluster and paralogues, epithelial miR-200 family
    "canonical": (
        "hsa-miR-17-5p", "hsa-miR-17-3p", "hsa-miR-18a-5p", "hsa-miR-19a-3p", "hsa-miR-19b-3p",
        "hsa-miR-20a-5p", "hsa-miR-92a-3p", "hsa-miR-106a-5p", "hsa-miR-106b-5p",
        "hsa-miR-93-5p", "hsa-miR-25-3p", "hsa-miR-200a-3p", "hsa-miR-200b-3p",
        "hsa-miR-200c-3p", "hsa-miR-141-3p", "hsa-miR-429", "hsa-miR-18b-5p", "hsa-miR-20b-5p",
    ),
}  # fmt: skip
"""Subtype programme miRNAs of the miRNA layer (miRBase-style mature ids)."""

# Mean of each programme's latent factor by subtype, in units of the within-subtype SD of the
# factor (rows: true subtype, columns: programme). Tuned so that SNF of both layers recovers
# the subtypes with ARI ~0.9 while each layer alone does clearly worse (see the tests).
_MRNA_FACTOR_MEANS: dict[str, dict[str, float]] = {
    "canonical": {"immune": 0.0, "stromal": 0.0, "canonical": 1.0},
    "immune": {"immune": 7.0, "stromal": 0.3, "canonical": 0.3},
    "stromal": {"immune": 0.0, "stromal": 1.6, "canonical": 0.0},
}
_MIRNA_FACTOR_MEANS: dict[str, dict[str, float]] = {
    "canonical": {"immune": 0.0, "stromal": 0.0, "canonical": 3.5},
    "immune": {"immune": 1.8, "stromal": 0.5, "canonical": 2.5},
    "stromal": {"immune": 0.0, "stromal": 5.0, "canonical": 0.0},
}
# largest expected log2 range of a programme feature across the subtypes
_MAX_PROGRAMME_LOG2_RANGE = 5.0
# within-subtype SD of a programme factor is 1, but smaller where the programme sits at its
# baseline (mean 0): a tumour without the programme is uniformly without it
_BASELINE_FACTOR_SD = 0.6
# subtype-unrelated co-expression modules (stroma-independent biology, sex, hypoxia, ...)
_N_NUISANCE_MODULES = {"mrna": 6, "mirna": 2}
_NUISANCE_MODULE_SIZE = {"mrna": 40, "mirna": 12}
# each programme also drives this many further (co-regulated) features of the layer
_N_EXTRA_MEMBERS = {"mrna": 80, "mirna": 20}
# loadings as multiples of each feature's noise SD
_PROGRAMME_LOADING = {"mrna": (1.0, 2.0), "mirna": (1.0, 2.0)}
_NUISANCE_LOADING = (0.3, 0.7)

# Survival model: log hazard ratios. Subtype relative to canonical; Fong factors per factor.
_OS_SUBTYPE_LOGHR = {"canonical": 0.0, "immune": -1.9, "stromal": 0.25}
_PFS_SUBTYPE_LOGHR = {"canonical": 0.0, "immune": -1.2, "stromal": 0.3}
_OS_FACTOR_LOGHR = 0.45
_PFS_FACTOR_LOGHR = 0.22
_OS_WEIBULL = (1.4, 230.0)  # (shape, scale in months) of the canonical, CRS 0 patient
_PFS_WEIBULL = (0.8, 55.0)
_LOG_FRAILTY_SD = 0.6

DESCRIPTION = """\
SYNTHETIC demonstration cohort -- NOT patient data.

Drawn by metpot.simulate.simulate_cohort(n_patients={n_patients}, n_genes={n_genes},
n_mirnas={n_mirnas}, seed={seed}). It imitates the design of Pitroda et al. (Nat Commun 2018)
and the New EPOC validation (JAMA Oncol 2023): resected colorectal liver metastases, three
molecular subtypes (canonical {n_canonical}, immune {n_immune}, stromal {n_stromal}), an mRNA
layer ({n_genes} real gene symbols, log2-scale expression) and a miRNA layer ({n_mirnas}
miRBase-style ids), Fong clinical risk score factors, overall and progression-free survival.

Every number is random. Gene symbols are real; subtype programmes sit on real immune,
stromal/EMT and E2F/MYC genes and miRNAs, but the effect sizes, the survival model and all
clinical values are invented. The truth table holds the simulated subtype of each sample.
Use it to exercise and demonstrate the pipeline, never to draw biological conclusions.

Deliberate blemishes: {blemish_text}
"""


def _read_names(resource: str) -> list[str]:
    text = files("metpot").joinpath("data", resource).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def gene_symbols() -> list[str]:
    """Return the packaged list of real gene symbols used by the demo cohort.

    Returns
    -------
    list of str
        Gene symbols from the CEPICS example data, plus the programme genes (see
        ``metpot/data/PROVENANCE.md``).
    """
    return _read_names("demo_gene_symbols.txt")


def mirna_ids() -> list[str]:
    """Return the packaged list of miRBase-style mature miRNA ids used by the demo cohort.

    Returns
    -------
    list of str
        Mature miRNA ids such as ``hsa-miR-21-5p``.
    """
    return _read_names("demo_mirna_ids.txt")


def subtype_counts(n_patients: int) -> dict[str, int]:
    """Split ``n_patients`` into subtype counts by the New EPOC proportions.

    Largest-remainder rounding: each count is the floor of its exact share, and the patients
    left over go to the largest remainders (ties in :data:`SUBTYPES` order), so the counts
    always sum to ``n_patients`` and each is within one of its exact share.

    Parameters
    ----------
    n_patients : int
        Cohort size.

    Returns
    -------
    dict
        Subtype -> count, in :data:`SUBTYPES` order.
    """
    exact = np.array([SUBTYPE_PROPORTIONS[s] * n_patients for s in SUBTYPES])
    counts = np.floor(exact + 1e-9).astype(int)
    remainder = exact - counts
    order = np.argsort(-np.round(remainder, 9), kind="stable")
    for i in order[: n_patients - int(counts.sum())]:
        counts[i] += 1
    return {s: int(c) for s, c in zip(SUBTYPES, counts, strict=True)}


def _pick_features(
    pool: list[str], programmes: dict[str, tuple[str, ...]], n: int, what: str
) -> list[str]:
    """Programme features first, then the pool in packaged order, ``n`` in all."""
    programme_names = [name for names in programmes.values() for name in names]
    n_min = len(programme_names) + 20
    rest = [name for name in pool if name not in set(programme_names)]
    if n < n_min or n > len(programme_names) + len(rest):
        raise MetpotError(
            f"{what} must be between {n_min} and {len(programme_names) + len(rest)}, got {n}"
        )
    return programme_names + rest[: n - len(programme_names)]


def _simulate_layer(
    rng: np.random.Generator,
    features: list[str],
    programmes: dict[str, tuple[str, ...]],
    factor_means: dict[str, dict[str, float]],
    labels: np.ndarray,
    layer: str,
    base_range: tuple[float, float],
) -> np.ndarray:
    """Draw one layer: gene-wise baselines + programme and nuisance modules + noise."""
    n_features, n_samples = len(features), len(labels)
    index = {name: i for i, name in enumerate(features)}

    lo, hi = base_range
    base = np.clip(rng.normal((lo + hi) / 2, (hi - lo) / 5, n_features), lo, hi)
    noise_sd = np.clip(rng.lognormal(np.log(0.45), 0.35, n_features), 0.15, 1.5)
    # everything below is in units of each feature's noise SD, scaled at the end
    z = rng.standard_normal((n_features, n_samples))
    scale = noise_sd.copy()

    # subtype programmes: one latent factor per programme (centred on the cohort mean),
    # per-feature loadings; the named core features load strongly, co-regulated extras less
    programme_rows = {index[name] for names in programmes.values() for name in names}
    free = rng.permutation([i for i in range(n_features) if i not in programme_rows])
    n_extra = _N_EXTRA_MEMBERS[layer]
    lo_load, hi_load = _PROGRAMME_LOADING[layer]
    for p, (programme, names) in enumerate(programmes.items()):
        mean = np.array([factor_means[label][programme] for label in labels])
        sd = np.where(mean == 0.0, _BASELINE_FACTOR_SD, 1.0)
        factor = mean + sd * rng.standard_normal(n_samples)
        core = np.array([index[name] for name in names])
        extra = free[p * n_extra : (p + 1) * n_extra]
        loading = np.concatenate(
            [
                rng.uniform(lo_load, hi_load, len(core)),
                rng.uniform(0.5 * lo_load, hi_load, len(extra)),
            ]
        )
        rows = np.concatenate([core, extra]).astype(int)
        z[rows] += loading[:, None] * (factor - factor.mean())[None, :]
        # keep programme fold changes realistic: a feature whose expected range across the
        # subtypes would exceed _MAX_PROGRAMME_LOG2_RANGE gets a proportionally smaller noise
        # SD (same signal-to-noise, smaller log2 amplitude)
        spread = max(v[programme] for v in factor_means.values()) + 2.0
        scale[rows] = np.minimum(scale[rows], _MAX_PROGRAMME_LOG2_RANGE / (loading * spread))

    # subtype-unrelated co-expression modules among the remaining features
    free = free[len(programmes) * n_extra :]
    n_modules, size = _N_NUISANCE_MODULES[layer], _NUISANCE_MODULE_SIZE[layer]
    chosen = free[: n_modules * size]
    for rows in np.array_split(chosen, n_modules):
        factor = rng.standard_normal(n_samples)
        loading = rng.uniform(*_NUISANCE_LOADING, len(rows))
        z[rows] += loading[:, None] * factor[None, :]

    # mild processing batches (per-feature shifts) and per-sample library offsets
    batch = rng.integers(0, 3, n_samples)
    shift = rng.normal(0.0, 0.08, (n_features, 3))
    z += shift[:, batch]
    x = base[:, None] + scale[:, None] * z
    x += rng.normal(0.0, 0.03, n_samples)[None, :]
    return np.clip(x, 0.0, None)


def _weibull_times(
    rng: np.random.Generator, lp: np.ndarray, shape: float, scale: float
) -> np.ndarray:
    """Event times with cumulative hazard ``(t / scale) ** shape * exp(lp)``."""
    e = rng.exponential(1.0, len(lp))
    return scale * (e * np.exp(-lp)) ** (1.0 / shape)


def _simulate_clinical(
    rng: np.random.Generator, sample_ids: list[str], labels: np.ndarray
) -> pd.DataFrame:
    """Fong factors, demographics and survival (OS, PFS) for each patient."""
    n = len(labels)
    age = np.clip(np.round(rng.normal(61.0, 10.5, n)), 28, 88).astype(int)
    sex = np.where(rng.random(n) < 0.6, "M", "F")
    node_positive = (rng.random(n) < 0.55).astype(int)
    synchronous = rng.random(n) < 0.35
    dfi = np.where(synchronous, 0.0, np.round(rng.lognormal(np.log(20.0), 0.8, n), 1))
    n_tumors = np.where(rng.random(n) < 0.5, 1, 2 + rng.poisson(1.0, n)).astype(int)
    cea = np.round(rng.lognormal(np.log(20.0), 1.9, n), 1)
    size = np.round(np.clip(rng.lognormal(np.log(3.5), 0.55, n), 0.5, 25.0), 1)

    crs = (
        node_positive
        + (dfi < 12).astype(int)
        + (n_tumors > 1).astype(int)
        + (cea > 200).astype(int)
        + (size > 5).astype(int)
    )
    frailty = rng.normal(0.0, _LOG_FRAILTY_SD, n)
    lp_os = np.array([_OS_SUBTYPE_LOGHR[s] for s in labels]) + _OS_FACTOR_LOGHR * crs + frailty
    lp_pfs = np.array([_PFS_SUBTYPE_LOGHR[s] for s in labels]) + _PFS_FACTOR_LOGHR * crs + frailty
    t_death = _weibull_times(rng, lp_os, *_OS_WEIBULL)
    t_prog = _weibull_times(rng, lp_pfs, *_PFS_WEIBULL)
    # most deaths follow a progression: a death before the drawn progression usually had
    # an (earlier) progression of its own
    preceded = rng.random(n) < 0.85
    early = t_death * rng.uniform(0.3, 0.9, n)
    t_prog = np.where((t_death < t_prog) & preceded, early, t_prog)

    # administrative censoring (accrual over ~4 years, follow-up to 8-12 years) and random
    # loss to follow-up
    censor = rng.uniform(96.0, 144.0, n)
    lost = rng.random(n) < 0.10
    censor = np.where(lost, np.minimum(censor, rng.uniform(3.0, 120.0, n)), censor)

    os_months = np.maximum(np.round(np.minimum(t_death, censor), 2), 0.1)
    os_event = (t_death <= censor).astype(int)
    t_pfs = np.minimum(t_prog, t_death)
    pfs_months = np.minimum(np.maximum(np.round(np.minimum(t_pfs, censor), 2), 0.1), os_months)
    pfs_event = (t_pfs <= censor).astype(int)

    return pd.DataFrame(
        {
            "sample_id": sample_ids,
            "age": age,
            "sex": sex,
            "node_positive": node_positive,
            "disease_free_interval_months": dfi,
            "n_liver_tumors": n_tumors,
            "cea_ng_ml": cea,
            "largest_tumor_cm": size,
            "os_months": os_months,
            "os_event": os_event,
            "pfs_months": pfs_months,
            "pfs_event": pfs_event,
        }
    )


def simulate_cohort(
    n_patients: int = 150,
    n_genes: int = 2000,
    n_mirnas: int = 300,
    seed: int = 2018,
    *,
    missing_fraction: float = 1e-4,
    constant_genes: int = 1,
    blemishes: bool = True,
) -> dict[str, pd.DataFrame | str]:
    """Draw a SYNTHETIC multi-omics CRLM cohort with known subtypes and survival.

    The cohort imitates the design of Pitroda et al. (Nat Commun 2018) and the New EPOC
    validation (JAMA Oncol 2023). It is not patient data: every value is random.

    Parameters
    ----------
    n_patients : int
        Number of patients (one tumour sample each), at least 12.
    n_genes : int
        Number of mRNA features (real gene symbols, subtype programme genes included).
    n_mirnas : int
        Number of miRNA features (miRBase-style ids, programme miRNAs included).
    seed : int
        Seed of :func:`numpy.random.default_rng`; a fixed seed gives identical output.
    missing_fraction : float
        Fraction of all mRNA values set to NaN, spread over a few non-programme genes
        (at most 5% of the samples of any one gene). With the default, 30 values at the
        default size. 0 disables.
    constant_genes : int
        Number of non-programme genes set to one constant value in every sample.
    blemishes : bool
        If true, one patient has no overall survival time (``os_months`` NA) and another
        has no CEA value (``cea_ng_ml`` NA).

    Returns
    -------
    dict
        ``mrna`` : DataFrame, genes x samples, log2-scale expression.
        ``mirna`` : DataFrame, miRNAs x samples, log2-scale expression.
        ``clinical`` : DataFrame, one row per patient: ``sample_id``, ``age``, ``sex``,
        the Fong factors ``node_positive``, ``disease_free_interval_months``,
        ``n_liver_tumors``, ``cea_ng_ml``, ``largest_tumor_cm``, and ``os_months``,
        ``os_event`` (1 = death), ``pfs_months``, ``pfs_event`` (1 = progression or death).
        ``truth`` : DataFrame with ``sample_id`` and ``label`` (the simulated subtype).
        ``readme`` : str, a plain description saying the cohort is synthetic.

    Raises
    ------
    MetpotError
        If a size or option is out of range.

    Notes
    -----
    Each subtype has a programme in each layer: a latent factor per programme with
    per-feature loadings, on top of gene-wise baselines (log2 2..14 for mRNA), gene-wise
    noise, subtype-unrelated co-expression modules, mild batch shifts and per-sample offsets.
    The mRNA layer separates immune tumours strongly but canonical from stromal only in part;
    the miRNA layer separates stromal from canonical but places immune tumours close to
    canonical ones. Survival is Weibull with a shared log-normal frailty: immune best,
    canonical intermediate, stromal worst, plus a hazard per Fong factor independent of
    subtype. Progression-free time never exceeds overall time.
    """
    if int(n_patients) != n_patients or n_patients < 12:
        raise MetpotError(f"n_patients must be an integer >= 12, got {n_patients}")
    if not 0.0 <= missing_fraction <= 0.01:
        raise MetpotError(f"missing_fraction must be between 0 and 0.01, got {missing_fraction}")
    if int(constant_genes) != constant_genes or not 0 <= constant_genes <= 10:
        raise MetpotError(f"constant_genes must be an integer 0..10, got {constant_genes}")
    n_patients = int(n_patients)
    genes = _pick_features(gene_symbols(), MRNA_PROGRAMMES, n_genes, "n_genes")
    mirnas = _pick_features(mirna_ids(), MIRNA_PROGRAMMES, n_mirnas, "n_mirnas")

    # independent streams, so that e.g. n_genes does not change the clinical table
    rng_labels, rng_mrna, rng_mirna, rng_clinical = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)
    )
    counts = subtype_counts(n_patients)
    labels = np.repeat(np.array(SUBTYPES, dtype=object), [counts[s] for s in SUBTYPES])
    labels = labels[rng_labels.permutation(n_patients)]
    width = max(3, len(str(n_patients)))
    sample_ids = [f"CRLM{i + 1:0{width}d}" for i in range(n_patients)]

    mrna = _simulate_layer(
        rng_mrna, genes, MRNA_PROGRAMMES, _MRNA_FACTOR_MEANS, labels, "mrna", (2.0, 14.0)
    )
    mirna = _simulate_layer(
        rng_mirna, mirnas, MIRNA_PROGRAMMES, _MIRNA_FACTOR_MEANS, labels, "mirna", (1.0, 15.0)
    )
    mrna = np.round(mrna, 4)
    mirna = np.round(mirna, 4)

    # blemishes of the mRNA layer, on genes outside the programmes
    n_prog = sum(len(v) for v in MRNA_PROGRAMMES.values())
    spare = n_prog + rng_mrna.permutation(len(genes) - n_prog)
    constant_rows = spare[: int(constant_genes)]
    mrna[constant_rows, :] = 3.0
    n_missing = int(round(missing_fraction * mrna.size))
    if n_missing:
        per_gene = max(1, int(0.05 * n_patients))
        n_missing_genes = -(-n_missing // per_gene)
        missing_rows = spare[int(constant_genes) : int(constant_genes) + n_missing_genes]
        cells = [(r, c) for r in missing_rows for c in rng_mrna.permutation(n_patients)[:per_gene]]
        for r, c in cells[:n_missing]:
            mrna[r, c] = np.nan

    clinical = _simulate_clinical(rng_clinical, sample_ids, labels)
    blemish_text = []
    if constant_genes:
        blemish_text.append(
            f"{int(constant_genes)} constant gene(s) ({', '.join(genes[r] for r in constant_rows)})"
        )
    if n_missing:
        blemish_text.append(f"{n_missing} missing mRNA value(s) in a few genes")
    if blemishes:
        no_os, no_cea = rng_clinical.choice(n_patients, size=2, replace=False)
        clinical.loc[no_os, "os_months"] = np.nan
        clinical.loc[no_cea, "cea_ng_ml"] = np.nan
        blemish_text.append(
            f"patient {sample_ids[no_os]} has no os_months; "
            f"patient {sample_ids[no_cea]} has no cea_ng_ml"
        )

    readme = DESCRIPTION.format(
        n_patients=n_patients,
        n_genes=len(genes),
        n_mirnas=len(mirnas),
        seed=seed,
        n_canonical=counts["canonical"],
        n_immune=counts["immune"],
        n_stromal=counts["stromal"],
        blemish_text="; ".join(blemish_text) or "none.",
    )
    columns = pd.Index(sample_ids, name="sample_id")
    return {
        "mrna": pd.DataFrame(mrna, index=pd.Index(genes, name="gene"), columns=columns),
        "mirna": pd.DataFrame(mirna, index=pd.Index(mirnas, name="mirna"), columns=columns),
        "clinical": clinical,
        "truth": pd.DataFrame({"sample_id": sample_ids, "label": labels.astype(str)}),
        "readme": readme,
    }
