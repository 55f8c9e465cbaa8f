"""Momentum, mean reversion and volatility breakout on hand-made series; expected values worked out here."""

from __future__ import annotations

import math

import pytest

from models.strategies import (
    MeanReversion,
    MeanReversionConfig,
    Momentum,
    MomentumConfig,
    VolatilityBreakout,
    VolatilityBreakoutConfig,
)
from tests.models.strategies.series import rows, run, targets

NAN = math.nan


def test_momentum_given_ten_rows_returns_hysteresis_targets_scaled_by_volatility() -> None:
    config = MomentumConfig(return_feature="ret_4", horizon=4, vol_feature="rvol_60")
    # vol 0.01 over 4 events scales the return by 0.01 * sqrt(4) = 0.02: z = ret / 0.02
    ret = [NAN, 0.01, 0.03, 0.05, 0.01, 0.004, -0.03, -0.03, 0.03, 0.03]
    trend = [0.0, 1e-3, 2e-3, 2e-3, 1e-3, 0.0, 1e-3, -1e-3, 1e-3, -1e-3]
    series = rows(("ret_4", "rvol_60", "ma_cross"), ret, [0.01] * 10, trend)

    signals = run(Momentum(config), series)

    # z:  -, 0.5 (below entry), 1.5 (enter long, 1.5 / 2), 2.5 (capped at 1), 0.5 (held above exit 0.25),
    # 0.2 (exit), -1.5 (trend +1e-3 does not confirm a short), -1.5 (short), +1.5 (flip long, confirmed),
    # +1.5 (held; the trend only gates new entries)
    assert targets(signals) == pytest.approx([None, 0.0, 0.75, 1.0, 0.25, 0.0, 0.0, -0.75, 0.75, 0.75])
    assert "warming up: ret_4" in signals[0].reason
    assert "does not confirm" in signals[6].reason


def test_momentum_given_zero_volatility_returns_inactive_with_reason() -> None:
    signal = Momentum().on_features({"ret_15": 0.01, "rvol_60": 0.0, "ma_cross": 0.1})

    assert not signal.active
    assert signal.target_position == 0.0
    assert "rvol_60 is 0" in signal.reason


def test_momentum_given_missing_feature_returns_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="ma_cross"):
        Momentum().on_features({"ret_15": 0.01, "rvol_60": 0.01})


def test_momentum_given_replaced_config_returns_signals_of_the_new_config() -> None:
    momentum = Momentum()
    momentum.on_features({"ret_15": 0.01, "rvol_60": 0.01, "ma_cross": 0.1})

    momentum.config = MomentumConfig(name="fast", return_feature="ret_5", horizon=5, entry_z=0.5, exit_z=0.1)
    signal = momentum.on_features({"ret_5": 0.02, "rvol_60": 0.01, "ma_cross": 0.1})

    assert signal.strategy == "fast"
    assert signal.reason.startswith("long: ret_5 is +0.894 sigma (enter 0.5, exit 0.1)")


def test_mean_reversion_given_ten_zscores_returns_band_targets() -> None:
    z = [NAN, 0.5, 2.4, 1.5, 0.4, -2.1, -3.6, -1.0, -0.3, 2.0]

    signals = run(MeanReversion(), rows(("zscore_30",), z))

    # entry 2, exit 0.5, full 3: short 2.4 / 3, held at 1.5 / 3, out at 0.4; long 2.1 / 3, 3.6 capped,
    # held at 1 / 3, out at 0.3; short again at exactly 2.0
    expected = [None, 0.0, -0.8, -0.5, 0.0, 0.7, 1.0, 1 / 3, 0.0, -2 / 3]
    assert targets(signals) == pytest.approx(expected)
    assert signals[2].reason.startswith("short")


def test_volatility_breakout_given_ten_rows_returns_held_then_expired_breakouts() -> None:
    config = VolatilityBreakoutConfig(return_feature="ret_4", horizon=4, hold_events=3)
    ret = [0.01, 0.05, 0.0, 0.0, 0.0, -0.05, -0.05, -0.05, 0.06, 0.0]
    fast = [0.01, 0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.02, 0.03, 0.01]
    volume = [1.0, 2.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.5, 2.0, 1.0]
    series = rows(("ret_4", "rvol_15", "rvol_60", "volume_ratio"), ret, fast, [0.01] * 10, volume)
    breakout = VolatilityBreakout(config)

    signals = run(breakout, series)

    # z = ret / 0.02. Row 2: z 2.5, expansion 2, volume 2 -> long for 3 events (rows 2-4), flat at 5.
    # Row 6 lacks the volatility expansion, row 7 the volume; row 8 breaks down; row 9 flips up.
    assert targets(signals) == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 1.0]
    assert breakout.state_dict() == {"side": 1, "remaining": 1}


def test_volatility_breakout_given_warmup_nan_returns_inactive_and_keeps_state() -> None:
    breakout = VolatilityBreakout()
    breakout.load_state_dict({"side": -1, "remaining": 4})

    signal = breakout.on_features({"ret_15": 0.0, "rvol_15": 0.01, "rvol_60": NAN, "volume_ratio": 1.0})

    assert not signal.active
    assert "rvol_60" in signal.reason
    assert breakout.state_dict() == {"side": -1, "remaining": 4}


@pytest.mark.parametrize(
    ("config_type", "field", "value"),
    [
        (MomentumConfig, "exit_z", 1.0),
        (MomentumConfig, "full_z", 0.5),
        (MomentumConfig, "horizon", 0),
        (MeanReversionConfig, "entry_z", -1.0),
        (MeanReversionConfig, "name", "bad name"),
        (VolatilityBreakoutConfig, "hold_events", 0),
        (VolatilityBreakoutConfig, "position", 1.5),
        (VolatilityBreakoutConfig, "min_volume_ratio", -1.0),
    ],
)
def test_config_given_invalid_field_returns_error_naming_it(config_type: type, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        config_type(**{field: value})
