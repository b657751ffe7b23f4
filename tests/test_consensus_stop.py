"""The consensus's stopping check (metpot.consensus_stop): its arithmetic, its decisions, and
the claim it rests on, on the resamples of three real runs (tests/data/consensus_stop)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metpot.consensus import consensus_matrices, consensus_summary
from metpot.consensus_stop import (
    GROUPS,
    check_subset,
    deciding_ks,
    pac_by_group,
    stop_decision,
)
from metpot.errors import MetpotError
from metpot.spectral import choose_n_clusters

DATA = Path(__file__).parent / "data" / "consensus_stop"
CASES = json.loads((DATA / "cases.json").read_text())
TOLERANCE = 0.02  # the schema's default clusters.consensus.stop.tolerance
FIRST = 50  # the schema's default clusters.consensus.stop.first
PAC_MAX = 0.1  # the schema's default clusters.warn.pac


def _tables(name: str) -> list[pd.DataFrame]:
    table = pd.read_parquet(DATA / f"{name}.parquet")
    ks = CASES[name]["ks"]
    return [
        block[[f"k{k}" for k in ks]].set_axis(ks, axis=1).set_axis(block["position"].to_numpy())
        for _, block in table.groupby("resample", sort=True)
    ]


def _pac(n: int, tables: list[pd.DataFrame]) -> dict[int, float]:
    pac = consensus_summary(consensus_matrices(n, tables))["pac"]
    return {int(k): v for k, v in pac.items()}


def test_schema_defaults_are_the_ones_tested():
    from metpot.config import schema_default

    assert schema_default("clusters.consensus.stop.first") == FIRST
    assert schema_default("clusters.consensus.stop.tolerance") == TOLERANCE
    assert schema_default("clusters.warn.pac") == PAC_MAX


def test_pac_by_group_equals_the_consensus_pac():
    tables = _tables("demo")[:20]
    got = pac_by_group(150, tables, [2, 3])
    full = _pac(150, tables)
    assert got["n_resamples"] == 20 and got["n_samples"] == 150
    for k in (2, 3):
        assert got["pac"][k] == pytest.approx(full[k], abs=1e-6)
        for g in range(GROUPS):
            alone = _pac(150, [t for r, t in enumerate(tables) if r % GROUPS == g])
            assert got["groups"][k][g] == pytest.approx(alone[k], abs=1e-6)


def test_pac_by_group_subset_of_patients():
    keep = check_subset(1000, 300, seed=4)
    assert len(keep) == 300 and np.all(np.diff(keep) > 0)
    assert np.array_equal(keep, check_subset(1000, 300, seed=4))
    assert not np.array_equal(keep, check_subset(1000, 300, seed=5))
    assert np.array_equal(check_subset(200, 300), np.arange(200))
    tables = _tables("sim1000")[:10]
    got = pac_by_group(1000, tables, [3], groups=2, seed=4, max_samples=300)
    sub = [t.loc[t.index.isin(keep)].set_axis(np.searchsorted(keep, t.index[t.index.isin(keep)]))
           for t in tables]  # fmt: skip
    assert got["n_samples"] == 300
    assert got["pac"][3] == pytest.approx(_pac(300, sub)[3], abs=1e-6)


def test_pac_by_group_needs_two_resamples_per_group():
    with pytest.raises(MetpotError, match="at least 10 resamples"):
        pac_by_group(150, _tables("demo")[:9], [3])


def _first(pacs: dict, groups: dict) -> dict:
    return {
        "pac": pacs,
        "groups": {k: np.asarray(v, float) for k, v in groups.items()},
        "n_resamples": 50,
        "n_samples": 100,
    }


AGREE = {"eigengap_best": 3, "eigengap_second": 2, "rotation_cost_best": 3,
         "rotation_cost_second": 2}  # fmt: skip
DISAGREE = {**AGREE, "eigengap_best": 2}


def test_stop_when_settled_and_not_when_spread():
    settled = stop_decision(_first({3: 0.02}, {3: [0.02] * 5}), AGREE, "auto", 0.1, 0.02, 200)
    assert settled["stop"] and settled["k"] == 3 and settled["pac"]["3"]["bound"] == 0
    spread = [0.01, 0.02, 0.03, 0.04, 0.05]  # SD 0.0158: bound 2.78 x 0.0158 = 0.044
    went_on = stop_decision(_first({3: 0.03}, {3: spread}), AGREE, "auto", 0.1, 0.02, 200)
    assert not went_on["stop"]
    assert [c["passed"] for c in went_on["checks"]] == [False, True]
    assert went_on["pac"]["3"]["bound"] == pytest.approx(2.776 * np.std(spread, ddof=1), abs=1e-3)
    # the same spread with a looser tolerance stops
    assert stop_decision(_first({3: 0.03}, {3: spread}), AGREE, "auto", 0.1, 0.05, 200)["stop"]


def test_shift_counts_in_the_bound():
    # every group agrees (SD 0) but their PAC from fewer resamples is 0.03 above the whole's
    decision = stop_decision(_first({3: 0.02}, {3: [0.05] * 5}), AGREE, "auto", 0.1, 0.02, 200)
    assert decision["pac"]["3"]["shift"] == pytest.approx(0.03)
    assert not decision["stop"]


def test_doubt_threshold_must_be_settled():
    near = [0.09, 0.095, 0.1, 0.105, 0.11]
    decision = stop_decision(_first({3: 0.1}, {3: near}), AGREE, "auto", 0.1, 0.05, 200)
    assert [c["check"] for c in decision["checks"]] == ["precision k=3", "doubt"]
    assert [c["passed"] for c in decision["checks"]] == [True, False]
    assert not decision["stop"]


def test_choice_between_disagreeing_estimates():
    assert deciding_ks(DISAGREE, "auto") == [2, 3]
    assert deciding_ks(DISAGREE, 4) == [4]
    clear = _first({2: 0.01, 3: 0.05}, {2: [0.01] * 5, 3: [0.05] * 5})
    decision = stop_decision(clear, DISAGREE, "auto", 0.1, 0.02, 200)
    assert decision["stop"] and decision["k"] == 2
    close = _first(
        {2: 0.040, 3: 0.045},
        {2: [0.040, 0.046, 0.035, 0.043, 0.036], 3: [0.045, 0.041, 0.048, 0.043, 0.047]},
    )
    decision = stop_decision(close, DISAGREE, "auto", 0.1, 0.02, 200)
    checks = {c["check"]: c["passed"] for c in decision["checks"]}
    assert checks["precision k=2"] and checks["precision k=3"] and not checks["choice"]
    assert not decision["stop"]
    tie = _first({2: 0.0, 3: 0.0}, {2: [0.0] * 5, 3: [0.0] * 5})
    decision = stop_decision(tie, DISAGREE, "auto", 0.1, 0.02, 200)
    assert decision["stop"] and decision["k"] == 3  # a tie goes to the rotation cost, as ever
    json.dumps(decision)  # JSON-ready


@pytest.mark.parametrize("name", sorted(CASES))
def test_stopping_gives_the_full_runs_k_and_pac(name):
    """On three real runs of 200 resamples, each of the four disjoint sets of 50 resamples is
    taken as a first stage: whenever the check stops, the k and the deciding PAC from those
    50 equal the full run's within the tolerance; the decisions are the ones recorded below."""
    case = CASES[name]
    n, tables = case["n_samples"], _tables(name)
    assert len(tables) == case["resamples"] == 200
    estimates, mode = case["estimates"], case["n"]
    deciding = deciding_ks(estimates, mode)
    full = _pac(n, tables)
    k_full, _ = choose_n_clusters(estimates, full, mode)
    stops = []
    for s in range(0, 200, FIRST):
        first = tables[s : s + FIRST]
        decision = stop_decision(
            pac_by_group(n, first, deciding), estimates, mode, PAC_MAX, TOLERANCE, 200
        )
        stops.append(decision["stop"])
        if decision["stop"]:
            pacs = _pac(n, first)
            assert choose_n_clusters(estimates, pacs, mode)[0] == decision["k"] == k_full
            for k in deciding:
                assert abs(pacs[k] - full[k]) <= TOLERANCE, (name, s, k, pacs[k], full[k])
                assert abs(pacs[k] - full[k]) <= decision["pac"][str(k)]["bound"] + 0.005
            assert (pacs[k_full] > PAC_MAX) == (full[k_full] > PAC_MAX)
    # recorded decisions: the large synthetic cohort (PAC 0.011) stops every time; TCGA COAD
    # (PAC 0.35, SD 0.06 between groups) never; the demo (PAC 0.045, SD 0.01) not at 0.02
    expected = {"sim1000": [True] * 4, "tcga_coad": [False] * 4}
    if name in expected:
        assert stops == expected[name]
