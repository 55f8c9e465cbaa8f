"""Tests for the regime-switching market simulator: determinism, invariants, ground truth."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.marketdata.simulator import (
    COLUMNS,
    DEFAULT_TRANSITION_MATRIX,
    REGIMES,
    Regime,
    RegimeShift,
    SimulatorConfig,
    simulate,
)

START = datetime(2024, 3, 1, tzinfo=UTC)
FLOAT_COLUMNS = ["open", "high", "low", "close", "volume", "bid", "ask"]


@pytest.fixture(scope="module")
def long_frame() -> pd.DataFrame:
    """One 20k-bar default run shared by the ground-truth tests (keeps the file fast)."""
    return simulate(SimulatorConfig(seed=11, n_bars=20_000, start=START))


def _log_returns(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(np.log(frame["close"]).diff(), index=frame.index)


def _runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per maximal run of a regime label, with its net log return."""
    run_id = (frame["regime"] != frame["regime"].shift()).cumsum().rename("run")
    grouped = frame.groupby(run_id)
    return pd.DataFrame(
        {
            "regime": grouped["regime"].first(),
            "net": np.log(grouped["close"].last() / grouped["open"].first()),
        }
    ).reset_index(drop=True)


def test_simulate_given_same_seed_returns_identical_frame() -> None:
    config = SimulatorConfig(seed=3, n_bars=2_000, start=START)
    pd.testing.assert_frame_equal(simulate(config), simulate(config))


def test_simulate_given_different_seeds_returns_different_prices() -> None:
    first = simulate(SimulatorConfig(seed=1, n_bars=500, start=START))
    second = simulate(SimulatorConfig(seed=2, n_bars=500, start=START))
    assert not np.allclose(first["close"], second["close"])


def test_simulate_given_default_config_returns_exact_columns_and_dtypes() -> None:
    frame = simulate(SimulatorConfig(n_bars=300, start=START, symbol="BTCUSDT"))
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert all(frame[column].dtype == np.float64 for column in FLOAT_COLUMNS)
    assert frame["shifted"].dtype == np.bool_
    assert set(frame["regime"]) <= {regime.value for regime in Regime}
    assert all(type(label) is str for label in frame["regime"])
    assert frame.attrs["symbol"] == "BTCUSDT"


def test_simulate_given_bar_interval_returns_strictly_increasing_timestamps() -> None:
    config = SimulatorConfig(n_bars=100, start=START, bar_interval=timedelta(seconds=5))
    stamps = simulate(config)["timestamp"]
    assert stamps.iloc[0] == pd.Timestamp(START)
    assert (stamps.diff().iloc[1:] == pd.Timedelta(seconds=5)).all()


def test_simulate_given_default_config_returns_all_seven_regimes(
    long_frame: pd.DataFrame,
) -> None:
    assert set(long_frame["regime"]) == {regime.value for regime in REGIMES}


def test_simulate_given_jumps_and_high_vol_returns_consistent_ohlc_and_quotes(
    long_frame: pd.DataFrame,
) -> None:
    frame = long_frame
    assert (frame[FLOAT_COLUMNS] > 0).all().all()
    assert np.isfinite(frame[FLOAT_COLUMNS].to_numpy()).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["bid"] < frame["close"]).all()
    assert (frame["close"] < frame["ask"]).all()
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].is_unique


def test_simulate_given_trending_regimes_returns_drift_of_matching_sign(
    long_frame: pd.DataFrame,
) -> None:
    mean_return = _log_returns(long_frame).groupby(long_frame["regime"]).mean()
    assert mean_return[Regime.TRENDING_UP] > 0 > mean_return[Regime.TRENDING_DOWN]
    assert abs(mean_return[Regime.SIDEWAYS]) < 0.25 * mean_return[Regime.TRENDING_UP]


def test_simulate_given_volatility_regimes_returns_separated_return_std(
    long_frame: pd.DataFrame,
) -> None:
    returns = _log_returns(long_frame).groupby(long_frame["regime"])
    std = returns.std()
    assert std[Regime.HIGH_VOLATILITY] > 2.0 * std[Regime.TRENDING_UP]
    assert std[Regime.HIGH_VOLATILITY] > 2.0 * std[Regime.LOW_VOLATILITY]
    # Median absolute return, because a rare jump dominates the std of a 0.4x-vol stretch.
    typical = returns.apply(lambda regime_returns: regime_returns.abs().median())
    assert typical[Regime.LOW_VOLATILITY] < 0.6 * typical[Regime.SIDEWAYS]


def test_simulate_given_turbulent_regimes_returns_more_volume_and_wider_spread(
    long_frame: pd.DataFrame,
) -> None:
    by_regime = long_frame.groupby("regime")
    volume = by_regime["volume"].mean()
    spread = ((long_frame["ask"] - long_frame["bid"]) / long_frame["close"]).groupby(long_frame["regime"]).mean()
    assert volume[Regime.BREAKOUT] > 2.0 * volume[Regime.SIDEWAYS]
    assert volume[Regime.HIGH_VOLATILITY] > 2.0 * volume[Regime.LOW_VOLATILITY]
    assert spread[Regime.HIGH_VOLATILITY] > 2.0 * spread[Regime.LOW_VOLATILITY]


def test_simulate_given_sideways_regime_returns_range_bound_moves(
    long_frame: pd.DataFrame,
) -> None:
    typical_move = _runs(long_frame).groupby("regime")["net"].apply(lambda net: net.abs().mean())
    # OU pulls sideways stretches back, so despite 2.5x the per-bar volatility they end
    # closer to where they began than low-volatility random walks do.
    assert typical_move[Regime.SIDEWAYS] < typical_move[Regime.LOW_VOLATILITY]
    assert typical_move[Regime.SIDEWAYS] < 0.25 * typical_move[Regime.TRENDING_UP]


def test_simulate_given_default_matrix_returns_breakouts_only_after_quiet_stretches(
    long_frame: pd.DataFrame,
) -> None:
    runs = _runs(long_frame)
    before = runs["regime"].shift()[runs["regime"] == Regime.BREAKOUT].dropna()
    assert len(before) > 5
    assert set(before) <= {Regime.SIDEWAYS.value, Regime.LOW_VOLATILITY.value}
    breakouts = runs[runs["regime"] == Regime.BREAKOUT]
    sideways = runs[runs["regime"] == Regime.SIDEWAYS]
    assert breakouts["net"].abs().mean() > 3.0 * sideways["net"].abs().mean()


def test_simulate_given_reversal_after_trend_returns_move_against_that_trend(
    long_frame: pd.DataFrame,
) -> None:
    runs = _runs(long_frame)
    previous = runs.shift()
    after_trend = (runs["regime"] == Regime.REVERSAL) & previous["regime"].isin(
        [Regime.TRENDING_UP.value, Regime.TRENDING_DOWN.value]
    )
    assert after_trend.sum() > 10
    opposed = np.sign(runs.loc[after_trend, "net"]) != np.sign(previous.loc[after_trend, "net"])
    assert opposed.mean() > 0.9


def test_simulate_given_vol_shift_returns_higher_realized_vol_after_at() -> None:
    at = START + timedelta(minutes=10_000, seconds=30)
    shift = RegimeShift(at=at, vol_multiplier=3.0)
    frame = simulate(SimulatorConfig(seed=5, n_bars=20_000, start=START, shift=shift))
    returns = _log_returns(frame)
    ratio = returns[frame["shifted"]].std() / returns[~frame["shifted"]].std()
    assert ratio > 2.0


def test_simulate_given_shift_between_bars_returns_flag_set_exactly_from_at() -> None:
    at = START + timedelta(minutes=250, seconds=30)
    config = SimulatorConfig(n_bars=600, start=START, shift=RegimeShift(at=at))
    frame = simulate(config)
    assert (frame["shifted"] == (frame["timestamp"] >= pd.Timestamp(at))).all()
    assert frame["shifted"].idxmax() == 251
    assert not frame["shifted"].iloc[:251].any()


def test_simulate_given_no_shift_returns_no_shifted_rows() -> None:
    frame = simulate(SimulatorConfig(n_bars=200, start=START))
    assert not frame["shifted"].any()


def test_simulate_given_shift_returns_bars_before_at_equal_to_unshifted_run() -> None:
    base = SimulatorConfig(seed=9, n_bars=3_000, start=START)
    shift = RegimeShift(
        at=START + timedelta(minutes=1_500),
        vol_multiplier=2.0,
        drift_per_bar=0.001,
        spread_multiplier=3.0,
        forced_regime=Regime.HIGH_VOLATILITY,
    )
    shifted = simulate(dataclasses.replace(base, shift=shift))
    plain = simulate(base)
    columns = [column for column in COLUMNS if column != "shifted"]
    pd.testing.assert_frame_equal(shifted[columns].iloc[:1_500], plain[columns].iloc[:1_500])


def test_simulate_given_forced_regime_returns_that_label_after_at() -> None:
    shift = RegimeShift(at=START + timedelta(minutes=400), forced_regime=Regime.SIDEWAYS)
    frame = simulate(SimulatorConfig(n_bars=1_000, start=START, shift=shift))
    assert (frame.loc[frame["shifted"], "regime"] == Regime.SIDEWAYS).all()


def test_simulate_given_spread_shift_returns_wider_quotes_after_at() -> None:
    shift = RegimeShift(
        at=START + timedelta(minutes=2_000),
        spread_multiplier=4.0,
        forced_regime=Regime.SIDEWAYS,
    )
    frame = simulate(SimulatorConfig(n_bars=4_000, start=START, shift=shift))
    spread = (frame["ask"] - frame["bid"]) / frame["close"]
    before = spread[~frame["shifted"] & (frame["regime"] == Regime.SIDEWAYS)]
    assert spread[frame["shifted"]].median() / before.median() == pytest.approx(4.0, rel=0.1)


def test_simulate_given_drift_shift_returns_positive_mean_return_after_at() -> None:
    shift = RegimeShift(
        at=START + timedelta(minutes=2_000),
        drift_per_bar=0.001,
        forced_regime=Regime.HIGH_VOLATILITY,
    )
    frame = simulate(SimulatorConfig(n_bars=4_000, start=START, shift=shift))
    assert _log_returns(frame)[frame["shifted"]].mean() > 0.0005


def test_simulate_given_explosive_parameters_returns_value_error() -> None:
    # 0.02 log drift per bar for 50k bars takes prices past exp()'s float64 range.
    shift = RegimeShift(at=START, drift_per_bar=0.01, forced_regime=Regime.TRENDING_UP)
    config = SimulatorConfig(n_bars=50_000, start=START, trend_drift=0.01, shift=shift)
    with pytest.raises(ValueError, match=r"^config: "):
        simulate(config)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": datetime(2024, 1, 1)}, "start"),  # noqa: DTZ001 - naive on purpose
        ({"start": datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2)))}, "start"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"n_bars": 0}, "n_bars"),
        ({"bar_interval": timedelta(0)}, "bar_interval"),
        ({"start_price": 0.0}, "start_price"),
        ({"base_vol": float("nan")}, "base_vol"),
        ({"trend_drift": 0.0}, "trend_drift"),
        ({"mean_reversion": 1.5}, "mean_reversion"),
        ({"min_regime_bars": 0}, "min_regime_bars"),
        ({"mean_extra_regime_bars": -1.0}, "mean_extra_regime_bars"),
        ({"transition_matrix": DEFAULT_TRANSITION_MATRIX[:6]}, "transition_matrix"),
        ({"transition_matrix": ((1.0,), (0.5, 0.5))}, "transition_matrix"),
        ({"transition_matrix": ((1.0,) + (0.5,) * 6,) * 7}, "transition_matrix"),
        ({"jump_intensity": -0.1}, "jump_intensity"),
        ({"jump_size": float("inf")}, "jump_size"),
        ({"spread_bps": 0.0}, "spread_bps"),
        ({"spread_noise": 0.6}, "spread_noise"),
        ({"base_volume": 0.0}, "base_volume"),
        ({"volume_sigma": -0.5}, "volume_sigma"),
        ({"substeps": 0}, "substeps"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_simulator_config_given_invalid_field_returns_error_naming_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        SimulatorConfig(**overrides)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"at": datetime(2024, 1, 1)}, "at"),  # noqa: DTZ001 - naive on purpose
        ({"at": START, "vol_multiplier": 0.0}, "vol_multiplier"),
        ({"at": START, "drift_per_bar": float("nan")}, "drift_per_bar"),
        ({"at": START, "spread_multiplier": -1.0}, "spread_multiplier"),
        ({"at": START, "forced_regime": "sideways"}, "forced_regime"),
    ],
)
def test_regime_shift_given_invalid_field_returns_error_naming_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        RegimeShift(**overrides)


def test_simulator_config_given_assignment_returns_frozen_error() -> None:
    config = SimulatorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
