"""Step ``snf``: per-layer affinities and the fused network (``workflow/rules/snf.smk``)."""

from __future__ import annotations

import logging

from metpot.steps._common import check_snf_settings, layers, snf_options, square

log = logging.getLogger("metpot")


def run(cfg: dict, inputs: dict, *, threads: int | None = None, **_) -> dict:
    """Each layer's affinity matrix, the fused network and the settings used."""
    from metpot.snf import snf_pipeline

    snf = cfg["snf"]
    frames = layers(inputs)
    ids = next(iter(frames.values())).index
    check_snf_settings(snf, len(ids))
    affinities, fused = snf_pipeline(
        [f.to_numpy() for f in frames.values()], **snf_options(snf), normalize=False
    )
    out: dict = {
        f"affinity_{layer}": square(W, ids) for layer, W in zip(frames, affinities, strict=True)
    }
    out["fused"] = square(fused, ids)
    params = {**snf, "n_samples": len(ids)}
    params.update({f"n_features.{k}": int(v.shape[1]) for k, v in frames.items()})
    out["params"] = params
    log.info("fused %d layers over %d samples (%s)", len(frames), len(ids), snf["variant"])
    return out


def numba_cache(cfg: dict, inputs: dict, *, threads: int | None = None, **_) -> dict:
    """numba's kernels compiled (or loaded) once, before the snf job and the chunks."""
    from metpot.kernels import warm_up

    consensus = cfg["clusters"]["consensus"]
    # two processes when numba compiles: each compiles one precision (in one thread)
    runs = warm_up(cfg["snf"], consensus.get("precision", "float32"), processes=2)
    for r in runs:
        log.info(
            "%s kernels (%s): %d compiled, %d loaded from the cache, %.1f s",
            r["path"], r["precision"], r["compiled"], r["loaded_from_cache"], r["seconds"],
        )  # fmt: skip
    return {"kernels": {"runs": runs}}
