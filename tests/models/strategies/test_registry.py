"""The registry, the shared Strategy contract, and every arm run over features from the real engine."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from models.bandit import ArmPnlTracker, ContextualBanditConfig, LinUCB, build_context, context_dim
from models.features import FEATURE_NAMES, PAIR_FEATURE_NAMES, compute_features, compute_pair_features, events_frame
from models.marketdata.simulator import SimulatorConfig, simulate
from models.strategies import (
    STRATEGIES,
    MomentumConfig,
    PairsConfig,
    Signal,
    Strategy,
    build_strategies,
    hysteresis_side,
)


@pytest.fixture(scope="module")
def feature_rows() -> list[dict[str, float]]:
    """300 simulated bars through the batch feature engine, plus pair features against a second series."""
    bars = [simulate(SimulatorConfig(seed=seed, n_bars=300)) for seed in (1, 2)]
    events = [events_frame(frame, "bars") for frame in bars]
    features = compute_features(events[0]).join(compute_pair_features(*events).set_index("timestamp"), on="timestamp")
    return [{k: float(v) for k, v in row.items() if k != "timestamp"} for row in features.to_dict("records")]


def test_build_strategies_given_no_configs_returns_one_arm_per_kind_satisfying_protocol() -> None:
    arms = build_strategies()

    assert [arm.name for arm in arms] == list(STRATEGIES)
    assert all(isinstance(arm, Strategy) for arm in arms)


def test_build_strategies_given_duplicate_names_returns_error() -> None:
    with pytest.raises(ValueError, match="momentum"):
        build_strategies([MomentumConfig(), MomentumConfig()])


def test_build_strategies_given_two_named_variants_returns_both() -> None:
    arms = build_strategies([MomentumConfig(name="momentum_fast", horizon=5, return_feature="ret_5"), PairsConfig()])

    assert [arm.name for arm in arms] == ["momentum_fast", "pairs"]


def test_build_strategies_given_unregistered_config_returns_type_error() -> None:
    with pytest.raises(TypeError, match="SimulatorConfig"):
        build_strategies([SimulatorConfig()])  # type: ignore[list-item]


def test_default_configs_given_feature_contract_returns_only_published_feature_names() -> None:
    published = set(FEATURE_NAMES) | set(PAIR_FEATURE_NAMES)
    for spec in STRATEGIES.values():
        config = spec.config_type()
        named = {v for k, v in vars_of(config).items() if k.endswith("_feature")}
        assert named <= published, (spec.kind, named - published)


def vars_of(config: object) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}  # type: ignore[attr-defined]


def test_hysteresis_side_given_strength_path_returns_schmitt_trigger_sides() -> None:
    path = [0.5, 1.0, 0.6, 0.2, -0.9, -1.0, -0.3, -0.2, 1.2]
    side, sides = 0, []
    for strength in path:
        side = hysteresis_side(side, strength, 1.0, 0.25)
        sides.append(side)

    assert sides == [0, 1, 1, 0, 0, -1, -1, 0, 1]


def test_every_arm_given_simulated_features_returns_valid_signals_and_json_state(
    feature_rows: list[dict[str, float]],
) -> None:
    arms = build_strategies()

    signals = [[arm.on_features(row) for arm in arms] for row in feature_rows]

    active = np.array([[s.active for s in tick] for tick in signals])
    assert not active[:10].any()  # warm-up: the 60-event windows are not filled yet
    assert active[-100:, [0, 1, 2, 3, 5]].all()  # all but cross-venue arbitrage, which has one venue
    assert not active[:, 4].any()
    assert all(isinstance(s, Signal) and -1.0 <= s.target_position <= 1.0 for tick in signals for s in tick)
    for arm in arms:
        state = json.loads(json.dumps(arm.state_dict()))
        fresh = build_strategies([arm.config])[0]  # type: ignore[attr-defined]
        fresh.load_state_dict(state)
        assert fresh.on_features(feature_rows[-1]) == arm.on_features(feature_rows[-1])


def test_meta_controller_given_simulated_features_returns_choices_over_the_arms(
    feature_rows: list[dict[str, float]],
) -> None:
    arms = build_strategies()
    names = [arm.name for arm in arms]
    tracker = ArmPnlTracker(names)
    bandit = LinUCB(names, ContextualBanditConfig(dim=context_dim(len(arms)), exploration_rate=0.1))
    context = np.empty(context_dim(len(arms)))
    chosen = []
    for row, nxt in itertools.pairwise(feature_rows[60:]):
        signals = [arm.on_features(row) for arm in arms]
        build_context(row, "sideways", tracker.values, out=context)
        choice = bandit.select(context, mask=[s.active for s in signals])
        pnl_bps = signals[choice.arm].target_position * nxt["ret_1"] * 1e4
        bandit.update(choice.arm, context, pnl_bps)
        tracker.update(choice.arm, pnl_bps)
        chosen.append(choice.name)

    assert "cross_venue_arbitrage" not in chosen  # masked: inactive on one venue
    assert len(set(chosen)) >= 3
    assert pd.Series(chosen).value_counts().sum() == len(feature_rows) - 61
