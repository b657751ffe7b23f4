"""Scoring new cohorts: subtype, confidence and integrated risk group for every new patient.

A model trained on a discovery cohort (``metpot.classify``, saved with
:func:`metpot.model_io.save_model`) is applied to a new cohort given as omics layers
(samples x features data frames, as :mod:`metpot.ingest` reads them). Three methods:

``classifier``
    The fitted pipeline of the model file. Its input is the frame of RAW values with the
    columns ``card["features"]`` (``"<layer>:<feature>"``) in card order; the pipeline does
    the transform, imputation and scaling itself. :func:`match_features` builds that frame by
    feature id, whatever the column order of the new files.
``ntp``
    Nearest template prediction (Hoshida, PLoS One 2010): binary templates from the training
    cohort's class markers (``card["markers"]``) or from a published template table
    (:func:`read_templates`, no model needed), cosine distance of each sample, z-scored
    within the new cohort, to each template, a per-sample resampling p-value and BH FDR. It
    needs no training scale and no classifier, only the marker ids: prefer it for cohorts
    from another platform (e.g. microarrays scored with an RNA-seq model), where the
    classifier's input scale is wrong;
    it needs a cohort (at least a few samples of mixed subtypes), because each feature is
    centred and scaled across the new samples. Two recipes (``score.ntp.pool``): CMScaller's
    ``ntp()`` (``all_genes``, the default: all features standardised and resampled for the
    null) and MOVICS's ``runNTP`` (``markers``); see :mod:`metpot.score.nearest_template`.
``snf_propagation``
    SNFtool's ``groupPredict`` (:func:`metpot.snf.group_predict`) against the discovery
    cohort's layers and subtypes, for cohorts that have every layer of the discovery cohort.
    The new samples are standardised together with the discovery samples (as SNFtool does),
    so adding or removing new samples shifts every sample's standardised values a little.

Safety rules (documented here once, applied by :func:`score_cohort`):

* **Coverage**: the share of the model's features present in the new cohort. Below
  ``min_coverage`` scoring is refused (:class:`~metpot.errors.MetpotError` naming the first 20
  missing features and their count); between that and 1 it proceeds with a warning, and the
  missing columns are filled as ``card["preprocessing"]["fill_missing"]`` prescribes: ``"impute"``
  leaves them NaN for the pipeline's own imputer, ``"mean"`` (the default when the key is
  absent) fills the card's training mean of the raw values.
* **Low confidence**: the confidence of a classifier call is its largest class probability.
  A sample below ``min_confidence`` keeps its most probable class in ``prediction`` and gets
  the flag ``low_confidence`` (``low_confidence="unassign"`` instead sets ``prediction`` to
  NA); it is never silently assigned. An NTP call is ``low_confidence`` when its FDR is
  above ``ntp_fdr``.
* **Unlike training** (:func:`distribution_check`): a sample is flagged ``unlike_training``
  when more than ``max_outside`` (default 0.2) of its observed features lie outside the
  training 1st-99th percentile range (``q01``..``q99`` of the card) by more than ``margin``
  (default 0.5) training sd (under 1 % are expected for a sample like the training ones; the
  margin keeps zero-inflated features, whose training floor is their ``q01``, from counting
  as outside when per-cohort standardisation moves the floor a little). The cohort is
  reported unlike the training data when the median over features of
  ``|median_new - q50| / sd`` exceeds ``max_shift`` (default 1, i.e. the typical feature
  moved by more than one training standard deviation) or when more than half of its samples
  are flagged.
* ``flag`` holds the flags of a sample joined by ``";"`` (empty when none):
  ``low_confidence``, ``unlike_training`` and, with ``method="all"``, ``methods_disagree``.

Model card keys read here (lists of per-feature values are in ``card["features"]`` order):

* ``target``, ``feature_set``, ``layers`` (list of layer names), ``classes`` (the order of
  ``predict_proba``; must equal the fitted model's ``classes_`` as strings), ``features``
  (``[{"layer", "feature", "column"}]``, ``column = "<layer>:<feature>"``).
* ``preprocessing``: ``transform`` (``"none"`` | ``"log2"``, i.e. ``log2(x + 1)``), ``fill_missing``
  (``"impute"`` | ``"mean"``; default ``"mean"``), ``standardize`` (``"none"`` |
  ``"per_cohort"``; default ``"none"``), and the raw-value statistics of the training input
  ``mean``, ``sd``, ``q01``, ``q50``, ``q99`` plus ``transformed_mean``, ``transformed_sd``
  after the transform (needed for per-cohort standardisation when ``transform`` is not
  ``"none"``). :func:`training_statistics` computes exactly these.
* ``markers``: ``{class: [column, ...]}`` for NTP (:func:`class_markers` computes them).
* ``metrics``: ``{"primary": <name>, <name>: number or {"estimate": ...}, ...}`` for
  :func:`select_model`.

The package, one module per step (every public name is importable from ``metpot.score``):

* :mod:`~metpot.score.matching`: :func:`match_features` (coverage, filling) and
  :func:`select_model`.
* :mod:`~metpot.score.distribution`: :func:`training_statistics`,
  :func:`standardize_cohort`, :func:`distribution_check`.
* :mod:`~metpot.score.classifier`: :func:`predict_classifier`.
* :mod:`~metpot.score.nearest_template`: NTP (:func:`class_markers`, :func:`ntp_predict`,
  :func:`ntp`, ...); :mod:`~metpot.score.templates`: published template tables
  (:func:`read_templates`).
* :mod:`~metpot.score.propagation`: :func:`snf_propagate`.
* :mod:`~metpot.score.cohort`: :func:`score_cohort`, which runs the above, with
  :func:`agreement` and :func:`risk_groups`.
* ``metpot.score._common``: model-card reading, transforms and sample alignment they share.
"""

from metpot.score import _common, distribution
from metpot.score.classifier import predict_classifier
from metpot.score.cohort import METHODS, agreement, risk_groups, score_cohort
from metpot.score.distribution import distribution_check, standardize_cohort, training_statistics
from metpot.score.matching import match_features, select_model
from metpot.score.nearest_template import (
    POOLS,
    bh_fdr,
    class_markers,
    ntp,
    ntp_predict,
    ntp_templates,
    ntp_zscore,
)
from metpot.score.propagation import snf_propagate
from metpot.score.templates import read_templates
from metpot.validate import transposed_layers

STANDARDIZE = distribution.STANDARDIZE  # option values, importable from here as before
TRANSFORMS = _common.TRANSFORMS

__all__ = [
    "METHODS",
    "POOLS",
    "agreement",
    "bh_fdr",
    "class_markers",
    "distribution_check",
    "match_features",
    "ntp",
    "ntp_predict",
    "ntp_templates",
    "ntp_zscore",
    "predict_classifier",
    "read_templates",
    "risk_groups",
    "score_cohort",
    "select_model",
    "snf_propagate",
    "standardize_cohort",
    "training_statistics",
    "transposed_layers",
]
