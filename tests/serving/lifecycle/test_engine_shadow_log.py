"""The engine's shadow log as GET /v1/shadow/{name}/paired serves it: paired PnL and the bandit's OPE rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.evaluation.gate import GateConfig
from serving.decision.bundle import load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.lifecycle.comparison import ShadowComparison, merge_paired

CHAMPION = {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1", "actor": "rtopt-ppo/1"}
CHALLENGER = {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/2", "actor": "rtopt-ppo/2"}


def test_shadow_paired_given_shadow_with_own_bandit_returns_pairs_and_ope_rows_the_gate_reads(
    decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> None:
    engine = DecisionEngine(load_bundle_dir(decision_bundle_dir, CHAMPION), EngineConfig(clock="market"))
    engine.set_shadow("challenger", load_bundle_dir(decision_bundle_dir, CHALLENGER))
    decisions = [engine.process(e) for e in btc_events[:1500]]

    answer = engine.shadow_paired("challenger")
    comparison = ShadowComparison.from_json(merge_paired("challenger", [{"shard": 0, **answer}]))

    assert comparison.versions == CHALLENGER and comparison.champion_versions == CHAMPION
    assert comparison.n == 1500
    logged = comparison.logged
    traded = sum(d.action.value != "HOLD" for d in decisions)
    assert 0 < len(logged) <= traded
    assert set(logged.reward_bps) <= set(comparison.champion_bps)
    assert np.allclose(np.sum(logged.target_propensities, axis=1), 1.0)
    assert all(0.0 < p <= 1.0 for p in logged.propensity)
    decision = comparison.decide(GateConfig(min_decisions=100, n_resamples=200))
    assert decision.ope is not None
    assert decision.ope.champion_value == pytest.approx(float(np.mean(logged.reward_bps)))
    assert np.isfinite([decision.ope.ips.value, decision.ope.dr.value]).all()


def test_swap_given_new_champion_clears_the_shadow_comparison(
    decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> None:
    engine = DecisionEngine(load_bundle_dir(decision_bundle_dir, CHAMPION), EngineConfig(clock="market"))
    engine.set_shadow("challenger", load_bundle_dir(decision_bundle_dir, CHALLENGER))
    for e in btc_events[:300]:
        engine.process(e)

    engine.swap(load_bundle_dir(decision_bundle_dir, {**CHAMPION, "actor": "rtopt-ppo/3"}))

    answer = engine.shadow_paired("challenger")
    assert answer["champion_bps"] == [] and answer["logged"]["chosen_arm"] == []
    assert engine.shadow_paired("nobody")["versions"] is None
