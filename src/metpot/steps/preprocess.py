"""Step ``preprocess``: transform, impute, select and scale each layer (``preprocess.smk``)."""

from __future__ import annotations

import logging

from metpot.steps._common import layers, read_outcome

log = logging.getLogger("metpot")

#: Why subtypes found on features selected by survival have optimistic survival differences.
CIRCULAR_NOTE = (
    "features were selected by their association with survival: survival "
    "differences between subtypes found on them are optimistic (circular)"
)


def run(cfg: dict, inputs: dict, *, threads: int | None = None, **_) -> dict:
    """Each layer preprocessed, its Cox table (selection by survival) and the summary."""
    from metpot.config import layer_preprocess
    from metpot.preprocess import preprocess_layer

    survival = read_outcome(inputs["outcome"], "os") if "outcome" in inputs else None
    results, summary = {}, {}
    for layer, X in layers(inputs).items():
        settings = layer_preprocess(cfg, layer)
        X, info = preprocess_layer(X, settings, survival, layer)
        results[layer] = (X, info.pop("cox_table", None))
        summary[layer] = {"settings": settings, **info}
        if settings["select"]["method"] == "cox":
            summary[layer]["note"] = CIRCULAR_NOTE
    out: dict = {}
    for layer, (X, cox_table) in results.items():
        out[f"layer_{layer}"] = X
        if cox_table is not None:
            out[f"cox_{layer}"] = cox_table
    out["summary"] = summary
    out["metrics"] = {f"n_features.{k}": v["n_features_out"] for k, v in summary.items()}
    for layer, info in summary.items():
        log.info("%s: %d -> %d features", layer, info["n_features_in"], info["n_features_out"])
    return out
