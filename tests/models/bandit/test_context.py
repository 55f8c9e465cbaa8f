"""The context vector's layout and scaling, worked out by hand, and the per-arm PnL EWMA."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.bandit import (
    ArmPnlTracker,
    ContextConfig,
    ContextualBanditConfig,
    build_context,
    context_dim,
    context_layout,
)
from models.features import FEATURE_NAMES
from models.marketdata.simulator import Regime
from models.strategies import STRATEGIES

ARMS = ["momentum", "mean_reversion", "market_making", "pairs", "arbitrage", "breakout"]
FEATURES = {"rvol_15": 0.0012, "tod_sin": 0.5, "tod_cos": -0.75, "spread_bps": 4.0, "amihud_30": math.e - 1.0}


def test_build_context_given_hand_made_features_returns_documented_layout() -> None:
    pnl = [20.0, -5.0, 0.0, 100.0, -100.0, 3.0]

    x = build_context({**FEATURES, "ret_1": 0.01}, Regime.BREAKOUT, pnl)

    # one-hot at breakout (slot 5); 12 bps / 10 = 1.2; 4 bps / 10 = 0.4; log1p(e - 1) = 1;
    # PnL / 10 bps, with +-10 clipped to +-5
    expected = [0, 0, 0, 0, 0, 1, 0, 1.2, 0.5, -0.75, 0.4, 1.0, 2.0, -0.5, 0.0, 5.0, -5.0, 0.3]
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)
    assert x.dtype == np.float64
    assert len(x) == context_dim(len(ARMS)) == len(context_layout(ARMS)) == 18


def test_build_context_given_string_regime_and_out_buffer_returns_same_buffer() -> None:
    out = np.full(context_dim(2), np.nan)

    x = build_context(FEATURES, "sideways", [0.0, 0.0], out=out)

    assert x is out
    assert x[:7].tolist() == [0, 0, 1, 0, 0, 0, 0]


def test_build_context_given_extreme_volatility_returns_clipped_slot() -> None:
    x = build_context({**FEATURES, "rvol_15": 0.05}, Regime.HIGH_VOLATILITY, [0.0], ContextConfig(clip=3.0))

    assert x[7] == 3.0


def test_build_context_given_warmup_nan_returns_error_naming_feature() -> None:
    with pytest.raises(ValueError, match="amihud_30"):
        build_context({**FEATURES, "amihud_30": math.nan}, Regime.SIDEWAYS, [0.0])


def test_build_context_given_missing_feature_or_unknown_regime_returns_errors() -> None:
    features = {k: v for k, v in FEATURES.items() if k != "spread_bps"}

    with pytest.raises(KeyError, match="spread_bps"):
        build_context(features, Regime.SIDEWAYS, [0.0])
    with pytest.raises(ValueError, match="sideway"):
        build_context(FEATURES, "sideway", [0.0])


def test_context_layout_given_arms_returns_regimes_market_then_pnl_names() -> None:
    layout = context_layout(["a", "b"])

    assert layout[0] == "regime=trending_up"
    assert layout[6] == "regime=reversal"
    assert layout[7:12] == ("volatility", "tod_sin", "tod_cos", "spread", "illiquidity")
    assert layout[12:] == ("pnl=a", "pnl=b")


def test_arm_pnl_tracker_given_three_fills_returns_hand_computed_ewma() -> None:
    tracker = ArmPnlTracker(ARMS, decay=0.5)

    tracker.update("momentum", 10.0)  # 0.5 * 0 + 0.5 * 10 = 5
    tracker.update(0, -2.0)  # 0.5 * 5 + 0.5 * -2 = 1.5
    tracker.update("pairs", 4.0)  # 2

    assert tracker.values.tolist() == [1.5, 0.0, 0.0, 2.0, 0.0, 0.0]


def test_arm_pnl_tracker_given_state_round_trip_returns_same_values() -> None:
    tracker = ArmPnlTracker(ARMS)
    tracker.update("breakout", 7.0)
    restored = ArmPnlTracker(ARMS)

    restored.load_state_dict(json.loads(json.dumps(tracker.state_dict())))

    np.testing.assert_array_equal(restored.values, tracker.values)
    with pytest.raises(ValueError, match="pnl_bps"):
        tracker.update("pairs", math.nan)


@pytest.mark.parametrize("field", ["vol_scale_bps", "spread_scale_bps", "pnl_scale_bps", "clip", "pnl_decay"])
def test_context_config_given_invalid_field_returns_error_naming_it(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ContextConfig(**{field: -1.0})  # type: ignore[arg-type]


def test_default_bandit_dim_given_default_arms_returns_context_dim_of_six_arms() -> None:
    assert ContextualBanditConfig().dim == context_dim(len(STRATEGIES)) == 18


def test_context_config_given_defaults_returns_only_published_feature_names() -> None:
    config = ContextConfig()
    named = {config.vol_feature, config.spread_feature, config.amihud_feature, *config.tod_features}

    assert named <= set(FEATURE_NAMES)


def _vectorised_context(features: dict[str, float], regime: Regime, pnl: list[float], config: ContextConfig) -> bytes:
    """The context as numpy computes it in one go (divide, then clip), as bytes for a bit-for-bit comparison."""
    one_hot = np.zeros(7)
    one_hot[list(Regime).index(regime)] = 1.0
    market = np.array(
        [
            features["rvol_15"] * 1e4 / config.vol_scale_bps,
            features["tod_sin"],
            features["tod_cos"],
            features["spread_bps"] / config.spread_scale_bps,
            math.log1p(features["amihud_30"]),
        ]
    )
    scaled_pnl = np.asarray(pnl) / config.pnl_scale_bps
    return np.concatenate(
        [one_hot, np.clip(market, -config.clip, config.clip), np.clip(scaled_pnl, -config.clip, config.clip)]
    ).tobytes()


def test_build_context_given_bound_and_signed_zero_values_returns_bitwise_the_vectorised_clip() -> None:
    config = ContextConfig(clip=2.5)
    # exactly on the bounds, just inside and outside them, signed zeros, a huge value
    pnl = [25.0, -25.0, 24.999999999999996, -0.0, 0.0, 1e300]
    features = {**FEATURES, "rvol_15": 0.0025, "tod_sin": -0.0, "tod_cos": -2.5000000000000004, "spread_bps": 1e308}

    x = build_context(features, Regime.REVERSAL, pnl, config)

    expected = _vectorised_context(features, Regime.REVERSAL, pnl, config)
    assert x.tobytes() == expected
    assert build_context(features, "reversal", np.asarray(pnl), config).tobytes() == expected


def test_build_context_given_random_inputs_returns_same_bits_from_list_array_and_tracker() -> None:
    rng = np.random.default_rng(3)
    tracker = ArmPnlTracker(ARMS)
    for regime in list(Regime) * 20:
        tracker.update(int(rng.integers(len(ARMS))), float(rng.normal(scale=40.0)))
        features = {
            "rvol_15": float(rng.exponential(0.002)),
            "tod_sin": float(rng.uniform(-1, 1)),
            "tod_cos": float(rng.uniform(-1, 1)),
            "spread_bps": float(rng.exponential(20.0)),
            "amihud_30": float(rng.exponential(1.0)),
        }

        from_list = build_context(features, regime, tracker.as_list())
        from_array = build_context(features, regime, tracker.values)

        assert from_list.tobytes() == from_array.tobytes()
        assert from_list.tobytes() == _vectorised_context(features, regime, tracker.values.tolist(), ContextConfig())


def test_build_context_given_finite_pnl_whose_sum_overflows_returns_clipped_slots() -> None:
    x = build_context(FEATURES, Regime.SIDEWAYS, [1.7e308, 1.7e308])

    assert x[-2:].tolist() == [5.0, 5.0]


def test_build_context_given_infinite_pnl_or_feature_returns_error_naming_it() -> None:
    with pytest.raises(ValueError, match="recent_arm_pnl"):
        build_context(FEATURES, Regime.SIDEWAYS, [0.0, math.inf])
    with pytest.raises(ValueError, match="tod_cos"):
        build_context({**FEATURES, "tod_cos": -math.inf}, Regime.SIDEWAYS, [0.0])


def test_arm_pnl_tracker_given_as_list_returns_a_fresh_copy_of_values() -> None:
    tracker = ArmPnlTracker(ARMS)
    tracker.update("pairs", 4.0)

    values = tracker.as_list()
    values[3] = 99.0

    assert tracker.as_list() == tracker.values.tolist() == [0.0, 0.0, 0.0, (1.0 - 0.9) * 4.0, 0.0, 0.0]
