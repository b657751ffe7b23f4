"""One module per workflow step (mirroring ``workflow/rules/<step>.smk``), and their registry.

A step is a function ``run(cfg, inputs, *, threads=None, outputs=(), **wildcards) -> dict``:

- ``cfg``: the config (validated, with defaults); ``inputs``: input key -> path (or list of
  paths) as the step contract (:mod:`metpot.manifest`) declares them;
- ``threads``: the cores the job was given (None: not limited); ``outputs``: the keys of the
  declared outputs (a figure ``k`` as ``k_svg``, ``k_png``), for steps whose optional outputs
  follow the config; ``wildcards``: the job's values (``chunk``, ``endpoint``, ...).

It reads its inputs, calls the science modules and returns ``{output key: object}``, which
:func:`write_outputs` writes (:mod:`metpot.step_io`) after everything is computed, so that a
failure leaves no partial output. Adding a step is one module here and one line in
:data:`STEPS`; the command line (:mod:`metpot.cli`) builds its subcommand from that line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from metpot.step_io import Model, StepIO, write_outputs

__all__ = ["STEPS", "Model", "Option", "Step", "StepIO", "write_outputs"]


@dataclass(frozen=True)
class Option:
    """A command-line option of a step, passed to its function under its ``dest``.

    ``fmt`` formats the value as the step contract's wildcard; ``wildcard=False`` for an
    option that is no wildcard (it is passed to the function only); ``missing``: the user
    error when a wildcard is not given.
    """

    flag: str
    kwargs: dict = field(default_factory=dict)
    fmt: str = "{}"
    wildcard: bool = True
    missing: str = ""

    @property
    def dest(self) -> str:
        """The keyword the value is passed as."""
        return self.kwargs.get("dest") or self.flag.lstrip("-").replace("-", "_")


def option(
    flag: str, *, fmt: str = "{}", wildcard: bool = True, missing: str = "", **kwargs
) -> Option:
    """An :class:`Option` (``kwargs`` go to :meth:`argparse.ArgumentParser.add_argument`)."""
    return Option(flag, kwargs, fmt, wildcard, missing)


@dataclass(frozen=True)
class Step:
    """A workflow step: ``"module:function"`` under :mod:`metpot.steps`, help, options."""

    target: str
    help: str
    options: tuple[Option, ...] = ()

    def function(self) -> Callable[..., dict]:
        """The step's function (its module imported now, not at start-up)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(f"metpot.steps.{module}"), name)


_SCORE_OPTIONS = (
    option(
        "--cohort",
        help="a cohort of score.cohorts (with --config)",
        missing="metpot score --config needs --cohort NAME (of score.cohorts)",
    ),
    option("--model", wildcard=False, help="one-off: a .skops model file (its card beside it)"),
    option("--templates", wildcard=False, help="one-off: NTP with a template (class, feature)"),
    option(
        "--omics",
        wildcard=False,
        action="append",
        metavar="LAYER=PATH",
        help="one-off: a layer's file",
    ),  # fmt: skip
    option("--layout", wildcard=False, default="features_x_samples", help="one-off: of --omics"),
    option("--clinical", wildcard=False, help="one-off: clinical table (CRS and risk groups)"),
    option("--method", wildcard=False, choices=["classifier", "ntp"], default="classifier"),
    option("--out", wildcard=False, help="one-off: output folder"),
)

#: Subcommand name -> step, in workflow order.
STEPS: dict[str, Step] = {
    "demo-cohort": Step("demo:run", "write the SYNTHETIC demo cohort"),
    "ingest": Step("ingest:run", "read, validate and align the cohort's files"),
    "preprocess": Step("preprocess:run", "transform, impute, select and scale each layer"),
    "snf": Step("snf:run", "per-layer affinities and the fused network"),
    "numba-cache": Step(
        "snf:numba_cache", "compile numba's kernels once, before the jobs that use them"
    ),
    "consensus-chunk": Step(
        "clusters:consensus_chunk",
        "cluster one chunk of the consensus resamples",
        (option("--chunk", type=int, required=True),),
    ),
    "consensus-stop": Step(
        "clusters:consensus_stop",
        "whether the consensus can stop after its first resamples",
    ),
    "consensus-more": Step(
        "clusters:consensus_more",
        "cluster one chunk of the resamples after the stopping check",
        (option("--chunk", type=int, required=True),),
    ),
    "clusters": Step(
        "clusters:clusters", "choose the number of subtypes, assign samples, agreement"
    ),
    "risk-score": Step("survival:risk_score", "the Fong clinical risk score"),
    "survival": Step(
        "survival:survival",
        "survival of one endpoint by subtype, Cox, concordance",
        (option("--endpoint", choices=["os", "pfs"], default="os"),),
    ),
    "sweep-point": Step(
        "clusters:sweep_point",
        "SNF and clustering at one setting of the sweep",
        (
            option("--K", type=int, required=True),
            option("--mu", type=float, required=True, fmt="{:g}"),
            option("--t", type=int, required=True),
        ),
    ),
    "sweep": Step("clusters:sweep", "the sweep's summary table"),
    "characterise": Step(
        "characterise:run", "differential features and gene-set scores per subtype"
    ),
    "classify-fit": Step(
        "classify:classify_fit",
        "nested CV of every model of one target x feature set",
        (option("--target", required=True), option("--feature-set", required=True)),
    ),
    "classify-pipeline": Step(
        "classify_pipeline:run",
        "the subtypes' discovery re-run in every outer training fold (stability, vs CRS)",
    ),
    "classify": Step(
        "classify:classify", "compare the classifiers with each other and the risk score"
    ),
    "score": Step("score:run", "score a new cohort with a trained model", _SCORE_OPTIONS),
    "track-models": Step(
        "track:models", "open the workflow's MLflow run and register the best models"
    ),
    "track": Step(
        "track:run",
        "record the workflow run in MLflow",
        (
            option(
                "--workflow-dir",
                wildcard=False,
                help="the workflow's folder (for its git commit)",
            ),
        ),
    ),
    "summary": Step("summary:run", "the run's summary (summary.txt)"),
}
