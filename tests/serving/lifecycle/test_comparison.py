"""The shadow comparison: the JSON merged over shards, read back, judged by the gate with the bandit's OPE."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.evaluation.gate import GateConfig
from models.seeding import make_rng
from serving.decision.registry import ResolvedVersions
from serving.lifecycle.comparison import (
    LoggedBandit,
    ShadowComparison,
    merge_paired,
    version_key,
    versions_from_names,
)

CHAMPION = ResolvedVersions("1", "1", "1", "ppo")
CHALLENGER = ResolvedVersions("1", "2", "2", "ppo")
ARMS = ["flat", "trend", "revert"]
ARM_MEANS = np.array([0.0, 1.0, 3.0])
CONFIG = GateConfig(min_decisions=300, n_resamples=500)


def logged_columns(challenger_props: list[float], n: int = 400, seed: int = 0) -> dict[str, Any]:
    """The champion picks arms uniformly; rewards have arm means 0, 1, 3 bps; the challenger's policy is fixed."""
    rng = make_rng(seed)
    arms = rng.integers(0, len(ARMS), size=n)
    rewards = ARM_MEANS[arms] + rng.normal(0.0, 1.0, size=n)
    return {
        "arms": ARMS,
        "chosen_arm": arms.tolist(),
        "propensity": [1.0 / len(ARMS)] * n,
        "reward_bps": rewards.tolist(),
        "target_propensities": [challenger_props] * n,
        "reward_model_bps": [ARM_MEANS.tolist()] * n,
    }


def shard_answer(shard: int, *, lift_bps: float, challenger_props: list[float], n: int = 400) -> dict[str, Any]:
    """One shard's part of ``GET /v1/shadow/challenger/paired``, as the engine reports it."""
    rng = make_rng(100 + shard)
    champion = rng.normal(0.0, 1.0, size=n)
    return {
        "shard": shard,
        "versions": CHALLENGER.names(),
        "champion_versions": CHAMPION.names(),
        "champion_bps": champion.tolist(),
        "challenger_bps": (champion + lift_bps + rng.normal(0.0, 0.5, size=n)).tolist(),
        "logged": logged_columns(challenger_props, n, seed=shard),
    }


def test_versions_from_names_given_registered_names_returns_versions_and_key() -> None:
    versions = versions_from_names(CHALLENGER.names())

    assert versions == CHALLENGER
    assert version_key(versions) == "regime1-bandit2-ppo2"


@pytest.mark.parametrize(
    "names",
    [
        {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1"},
        {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1", "actor": "rtopt-sac/1"},
        {"regime": "digest:abc", "bandit": "rtopt-bandit/1", "actor": "rtopt-ppo/1"},
    ],
)
def test_versions_from_names_given_unregistered_names_raises(names: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="versions"):
        versions_from_names(names)


def test_merge_paired_given_two_shards_on_same_versions_concatenates_series_and_logs() -> None:
    parts = [
        shard_answer(0, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8], n=5),
        shard_answer(1, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8], n=7),
    ]

    merged = merge_paired("challenger", parts)

    assert merged["versions"] == CHALLENGER.names() and merged["detail"] == ""
    assert merged["champion_bps"] == parts[0]["champion_bps"] + parts[1]["champion_bps"]
    assert len(merged["logged"]["target_propensities"]) == 12 and merged["logged"]["arms"] == ARMS
    assert [s["decisions"] for s in merged["shards"]] == [5, 7]
    assert ShadowComparison.from_json(merged).n == 12


def test_merge_paired_given_shards_shadowing_different_versions_returns_no_versions_with_detail() -> None:
    parts = [
        shard_answer(0, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8], n=5),
        shard_answer(1, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8], n=5),
    ]
    parts[1]["versions"] = None  # shard 1 could not load the challenger

    merged = merge_paired("challenger", parts)

    assert merged["versions"] is None
    assert "disagree on versions" in merged["detail"]
    with pytest.raises(ValueError, match="no versions"):
        _ = ShadowComparison.from_json(merged).challenger


def test_decide_given_better_pnl_and_agreeing_ope_returns_promote() -> None:
    comparison = ShadowComparison.from_json(
        merge_paired("challenger", [shard_answer(0, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8])])
    )

    decision = comparison.decide(CONFIG)

    assert decision.promote, decision.reason
    assert decision.ope is not None and decision.ope.agrees


def test_decide_given_better_pnl_but_ope_preferring_worse_arms_returns_ope_disagrees() -> None:
    comparison = ShadowComparison.from_json(
        merge_paired("challenger", [shard_answer(0, lift_bps=1.0, challenger_props=[0.8, 0.1, 0.1])])
    )

    decision = comparison.decide(CONFIG)

    assert not decision.promote
    assert decision.condition == "ope_disagrees"


def test_decide_given_no_logged_decisions_and_a_new_bandit_returns_ope_missing() -> None:
    answer = shard_answer(0, lift_bps=1.0, challenger_props=[0.1, 0.1, 0.8])
    del answer["logged"]

    decision = ShadowComparison.from_json(merge_paired("challenger", [answer])).decide(CONFIG)

    assert decision.condition == "ope_missing"


def test_decide_given_challenger_on_champion_bandit_waives_ope() -> None:
    answer = shard_answer(0, lift_bps=1.0, challenger_props=[1 / 3, 1 / 3, 1 / 3])
    answer["versions"] = ResolvedVersions("1", "1", "2", "ppo").names()
    del answer["logged"]

    decision = ShadowComparison.from_json(merge_paired("challenger", [answer])).decide(CONFIG)

    assert decision.promote, decision.reason
    assert decision.config.require_ope_agreement is False


def test_decide_given_pnl_no_better_returns_ci_includes_zero() -> None:
    comparison = ShadowComparison.from_json(
        merge_paired("challenger", [shard_answer(0, lift_bps=0.0, challenger_props=[0.1, 0.1, 0.8])])
    )

    assert comparison.decide(CONFIG).condition in ("ci_includes_zero", "challenger_worse")


def test_logged_bandit_given_ragged_columns_raises() -> None:
    columns = logged_columns([0.1, 0.1, 0.8], n=4)
    columns["reward_bps"] = columns["reward_bps"][:3]

    with pytest.raises(ValueError, match="one entry per logged decision"):
        LoggedBandit.from_json(columns)
