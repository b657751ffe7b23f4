"""The step contract's vocabulary: output kinds, :class:`Report`, :class:`Output`,
:class:`StepFiles`, the config's facts every step reads, and the builder the steps use."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("patient", "table", "figure", "metrics", "params", "model", "text", "temp")
SUMMARY_KINDS = frozenset({"table", "figure", "metrics", "params", "model", "text"})
FIGURE_FORMATS = ("svg", "png")


@dataclass(frozen=True)
class Report:
    """Where an output appears in the Snakemake report (``snakemake --report``).

    ``caption`` is a file name in ``workflow/report/``; ``labels`` are (name, value) pairs
    (values may hold wildcards such as ``{endpoint}``).
    """

    category: str
    caption: str
    subcategory: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def labels_dict(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)


REPORT_CATEGORIES = ("Data", "Subtypes", "Survival", "Classifiers", "Scoring")


@dataclass(frozen=True)
class Output:
    """One declared output file: its path, kind and (optional) place in the report."""

    path: str
    kind: str
    report: Report | None = None


@dataclass
class StepFiles:
    """The files of one step (inputs: a path or a list of paths per key)."""

    inputs: dict[str, str | list[str]] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    log: str = ""
    benchmark: str = ""

    def output_paths(self) -> dict[str, str]:
        """Output key -> path."""
        return {k: o.path for k, o in self.outputs.items()}


def out_dir(config: dict) -> str:
    """The output folder of a run."""
    return str(config.get("output_dir") or "results").rstrip("/") or "."


def layers(config: dict) -> list[str]:
    """The omics layers, in config order."""
    return list(config["cohort"]["omics"])


def subtype_layer(config: dict) -> str:
    """The layer whose features name the subtypes (``subtypes.layer``, else the first)."""
    return config.get("subtypes", {}).get("layer") or layers(config)[0]


def characterise_layer(config: dict) -> str:
    """The layer of the gene sets (``characterise.layer``, else :func:`subtype_layer`)."""
    return (config.get("characterise") or {}).get("layer") or subtype_layer(config)


def gene_sets(config: dict) -> dict[str, list[str]]:
    """The configured gene sets (``characterise.gene_sets``; empty when none)."""
    return dict((config.get("characterise") or {}).get("gene_sets") or {})


def consensus_first(config: dict) -> int:
    """Resamples of the consensus's first stage: all of them unless the run can stop early
    (``clusters.consensus.stop.first`` between 0 and ``resamples``)."""
    cons = config["clusters"]["consensus"]
    first = cons["stop"]["first"]
    return first if 0 < first < cons["resamples"] else cons["resamples"]


def n_consensus_chunks(config: dict) -> int:
    """The first stage's consensus resamples are split into this many jobs (0 without
    consensus)."""
    return min(config["clusters"]["consensus"]["chunks"], consensus_first(config))


def n_consensus_more_chunks(config: dict) -> int:
    """The resamples after the stopping check are split into this many jobs (0 without it)."""
    cons = config["clusters"]["consensus"]
    return min(cons["chunks"], cons["resamples"] - consensus_first(config))


class _Builder:
    def __init__(self, config: dict, folder: str):
        self.root = out_dir(config)
        self.folder = folder
        self.files = StepFiles()

    def path(self, name: str, folder: str | None = None) -> str:
        return f"{self.root}/{self.folder if folder is None else folder}/{name}"

    def add(
        self,
        key: str,
        name: str,
        kind: str,
        report: Report | None = None,
        folder: str | None = None,
    ) -> None:
        assert kind in KINDS, kind
        assert report is None or report.category in REPORT_CATEGORIES, report
        self.files.outputs[key] = Output(self.path(name, folder), kind, report)

    def logs(self, log: str, benchmark: str) -> None:
        """The job's log ``logs/<log>.log`` and benchmark ``benchmarks/<benchmark>.tsv``."""
        self.files.log = f"{self.root}/logs/{log}.log"
        self.files.benchmark = f"{self.root}/benchmarks/{benchmark}.tsv"

    def figure(self, key: str, name: str, report: Report | None = None) -> None:
        """SVG and PNG of a figure; the report shows the SVG (the PNG is for slides)."""
        for fmt in FIGURE_FORMATS:
            self.add(f"{key}_{fmt}", f"{name}.{fmt}", "figure", report if fmt == "svg" else None)


def _rep(category: str, caption: str, subcategory: str = "", **labels: str) -> Report:
    return Report(category, f"{caption}.rst", subcategory, tuple(labels.items()))
