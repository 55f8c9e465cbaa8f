"""The simulator's regime shift injected into the shipped real bars: history untouched, recent bars changed."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from models.marketdata.samples import SAMPLES
from models.marketdata.schema import TIME
from models.marketdata.shift import SHIFTED, inject_shift
from models.marketdata.simulator import Regime, RegimeShift


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return next(s for s in SAMPLES if s.symbol == "BTC-PERP").load().frame


def _at(frame: pd.DataFrame, row: int) -> datetime:
    return frame[TIME].iloc[row].to_pydatetime()


def test_inject_shift_given_vol_multiplier_returns_history_identical_and_recent_vol_scaled(btc: pd.DataFrame) -> None:
    cut = len(btc) - 2_000

    out = inject_shift(btc, RegimeShift(at=_at(btc, cut), vol_multiplier=3.0))

    pd.testing.assert_frame_equal(out.iloc[:cut][btc.columns], btc.iloc[:cut])
    assert not out[SHIFTED].iloc[:cut].any() and out[SHIFTED].iloc[cut:].all()
    before = np.diff(np.log(btc["close"].to_numpy()[cut - 1 :]))
    after = np.diff(np.log(out["close"].to_numpy()[cut - 1 :]))
    np.testing.assert_allclose(after, 3.0 * before, rtol=1e-9, atol=1e-12)


def test_inject_shift_given_drift_returns_ohlc_still_consistent_and_trend_added(btc: pd.DataFrame) -> None:
    cut = len(btc) - 1_000

    out = inject_shift(btc, RegimeShift(at=_at(btc, cut), vol_multiplier=2.0, drift_per_bar=-0.0001))

    recent = out.iloc[cut:]
    assert (recent["low"] <= recent[["open", "close"]].min(axis=1) + 1e-9).all()
    assert (recent["high"] >= recent[["open", "close"]].max(axis=1) - 1e-9).all()
    moved = np.log(out["close"].iloc[-1] / out["close"].iloc[cut - 1])
    recorded = np.log(btc["close"].iloc[-1] / btc["close"].iloc[cut - 1])
    assert moved == pytest.approx(2.0 * recorded - 0.0001 * 1_000, abs=1e-9)


def test_inject_shift_given_spread_multiplier_returns_wider_quotes_after_the_break() -> None:
    stamps = pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC")
    bars = pd.DataFrame({TIME: stamps, "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0})
    bars["bid"], bars["ask"] = 99.9, 100.1

    out = inject_shift(bars, RegimeShift(at=stamps[2].to_pydatetime(), spread_multiplier=2.0))

    spread = (out["ask"] - out["bid"]).to_numpy()
    assert spread[:2] == pytest.approx([0.2, 0.2], rel=1e-6)
    assert spread[2:] == pytest.approx([0.4, 0.4], rel=1e-3)


@pytest.mark.parametrize(
    ("shift_at", "match"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), "shift.at"),
        (datetime(2100, 1, 1, tzinfo=UTC), "shift.at"),
    ],
)
def test_inject_shift_given_break_outside_the_bars_raises_naming_shift_at(
    btc: pd.DataFrame, shift_at: datetime, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        inject_shift(btc, RegimeShift(at=shift_at))


def test_inject_shift_given_forced_regime_or_missing_column_raises_naming_the_field(btc: pd.DataFrame) -> None:
    at = _at(btc, 100)
    with pytest.raises(ValueError, match="forced_regime"):
        inject_shift(btc, RegimeShift(at=at, forced_regime=Regime.SIDEWAYS))
    with pytest.raises(ValueError, match=r"missing columns \['high'\]"):
        inject_shift(btc.drop(columns=["high"]), RegimeShift(at=at))
