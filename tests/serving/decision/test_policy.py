"""``BundlePolicy.propose``'s compiled call against its Python path, on the trained bundle and real events."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.features import FEATURE_NAMES
from models.marketdata.simulator import REGIMES
from serving.decision.bundle import ModelBundle, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.policy import BundlePolicy
from serving.safety.exploration import ExplorationBudgetConfig
from serving.safety.veto import VetoRules

Payload = dict[str, Any]
TIGHT = ExplorationBudgetConfig(initial_budget_bps=3.0, max_budget_bps=6.0, replenish_share=0.1)
"""A small exploration budget: the guard denies arms part of the time."""


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


@pytest.fixture(scope="module")
def events(btc_events: list[Payload]) -> list[Payload]:
    return btc_events[:1_500]


def _python_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every policy takes the Python path: ``build_context``, ``select``, ``estimate``, ``build``, the actor."""
    original = BundlePolicy._fuse

    def no_kernel(self: BundlePolicy, actor: object, bandit: Any) -> None:
        original(self, actor, bandit)
        self._fused_args = None

    monkeypatch.setattr(BundlePolicy, "_fuse", no_kernel)


def _decisions(bundle: ModelBundle, events: list[Payload], config: EngineConfig) -> list[dict[str, Any]]:
    engine = DecisionEngine(bundle, config)
    engine.set_shadow("challenger", bundle)
    rows = []
    for event in events:
        row = engine.process(event).to_dict()
        row.pop("latency_us")
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(clock="market"),
        EngineConfig(clock="market", exploration_budget=TIGHT, vetoes=VetoRules(max_size=2.0)),
    ],
    ids=["default", "guarded"],
)
def test_propose_given_real_events_returns_the_python_path_decisions_exactly(
    bundle: ModelBundle, events: list[Payload], config: EngineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = _decisions(bundle, events, config)
    _python_only(monkeypatch)
    python = _decisions(bundle, events, config)

    assert compiled == python
    assert sum(row["explored"] for row in compiled) > 0
    assert len({row["strategy"] for row in compiled}) > 1


def _policy(bundle: ModelBundle) -> tuple[BundlePolicy, np.ndarray, dict[str, float]]:
    policy = BundlePolicy(bundle)
    vector = np.abs(np.random.default_rng(0).normal(size=len(FEATURE_NAMES))) * 1e-3
    policy.track_regime("X", vector, high=1.0, low=1.0, volume=1.0)
    policy._last_regime["X"] = REGIMES[2]
    return policy, vector, dict(zip(FEATURE_NAMES, vector.tolist(), strict=True))


def test_propose_given_random_states_returns_the_python_path_proposals(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, vector, _ = _policy(bundle)
    arms = len(fast.arms)
    rng = np.random.default_rng(4)
    inputs = []
    for t in range(300):
        v = vector * rng.lognormal(size=vector.shape)
        v[FEATURE_NAMES.index("tod_sin")] = rng.uniform(-1.0, 1.0)
        mask = (rng.random(arms) < 0.5).tolist()
        mask[t % arms] = True
        position = float(rng.uniform(-1.0, 1.0)) if t % 3 else 0.0
        state = {"position": position, "entry_price": 100.0, "close": float(rng.uniform(95.0, 105.0))}
        inputs.append((v, rng.normal(size=arms).tolist(), mask, state, REGIMES[t % len(REGIMES)], rng.normal() * 20))
    compiled = _proposals(fast, inputs)
    _python_only(monkeypatch)
    slow, _, _ = _policy(bundle)
    python = _proposals(slow, inputs)

    assert fast._fused_args is not None and slow._fused_args is None
    assert compiled == python
    assert any(proposal.choice.explored for proposal in compiled)


def _proposals(policy: BundlePolicy, inputs: list[Any]) -> list[Any]:
    out = []
    for v, targets, mask, state, regime, reward in inputs:
        policy._last_regime["X"] = regime
        proposal = policy.propose("X", dict(zip(FEATURE_NAMES, v.tolist(), strict=True)), v, targets, mask, **state)
        out.append(proposal._replace(observation=proposal.observation.tobytes(), context=proposal.context.tobytes()))
        policy.observe("X", reward)
    return out


@pytest.mark.parametrize("name", ["rvol_15", "amihud_30"])
def test_propose_given_undefined_context_feature_raises_naming_it_and_draws_nothing(
    bundle: ModelBundle, name: str
) -> None:
    policy, vector, features = _policy(bundle)
    vector = vector.copy()
    vector[FEATURE_NAMES.index(name)] = math.nan
    features[name] = math.nan
    rng_state = policy.bandit.state_dict()["rng"]
    arms = len(policy.arms)

    with pytest.raises(ValueError, match=name):
        policy.propose("X", features, vector, [0.5] * arms, [True] * arms, position=0.0, entry_price=0.0, close=1.0)
    assert policy.bandit.state_dict()["rng"] == rng_state


def test_propose_given_position_out_of_range_raises_as_build_does(bundle: ModelBundle) -> None:
    policy, vector, features = _policy(bundle)
    arms = len(policy.arms)

    with pytest.raises(ValueError, match="position"):
        policy.propose("X", features, vector, [0.5] * arms, [True] * arms, position=1.5, entry_price=1.0, close=1.0)


def test_propose_given_a_new_bandit_or_config_reads_them_not_the_packed_old_ones(bundle: ModelBundle) -> None:
    policy, vector, features = _policy(bundle)
    arms = len(policy.arms)

    def propose() -> Any:
        return policy.propose(
            "X", features, vector, [0.5] * arms, [True] * arms, position=0.0, entry_price=0.0, close=1.0
        )

    assert policy.bandit.config.exploration_rate > 0.0 and propose().choice.propensity < 1.0
    policy.bandit.config = replace(policy.bandit.config, exploration_rate=0.0)
    greedy = propose().choice
    assert greedy.propensity == 1.0 and sum(greedy.propensities) == 1.0
    fresh = copy.deepcopy(policy.bandit)
    fresh.update(greedy.arm, propose().context, -1e6)  # the greedy arm is now far worse in the new bandit only
    policy.bandit = fresh
    assert propose().choice.arm != greedy.arm
