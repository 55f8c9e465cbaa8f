"""Golden values on hand-made series, worked out by hand here; both engines must reproduce them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.features import FeatureConfig
from tests.models.features.builders import both_engines, event_frame

NAN = math.nan


def _assert_both(frames: tuple[pd.DataFrame, pd.DataFrame], name: str, expected: list[float]) -> None:
    for frame in frames:
        np.testing.assert_allclose(frame[name].to_numpy(), expected, rtol=1e-12, atol=1e-15, err_msg=name)


def test_ret_and_roc_given_four_closes_returns_log_and_simple_changes() -> None:
    events = event_frame([100.0, 101.0, 99.5, 102.0])

    frames = both_engines(events, FeatureConfig(ret_windows=(1, 2, 3, 4), roc_window=2))

    _assert_both(frames, "ret_1", [NAN, math.log(1.01), math.log(99.5 / 101), math.log(102 / 99.5)])
    _assert_both(frames, "ret_3", [NAN, NAN, NAN, math.log(1.02)])
    _assert_both(frames, "roc_2", [NAN, NAN, -0.005, 102 / 101 - 1])


def test_rsi_given_ten_up_four_down_then_plus_two_returns_wilder_values() -> None:
    changes = [1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, 2]
    events = event_frame(list(np.cumsum([100.0, *changes])))

    frames = both_engines(events)

    # seed: avg gain 10/14, avg loss 4/14 -> 100 * 10 / 14; then gain (13/14)(10/14) + 2/14 = 158/196,
    # loss (13/14)(4/14) = 52/196 -> 100 * 158 / 210
    _assert_both(frames, "rsi_14", [NAN] * 14 + [100 * 10 / 14, 100 * 158 / 210])


def test_rsi_given_flat_closes_returns_50() -> None:
    frames = both_engines(event_frame([42.0] * 16))

    _assert_both(frames, "rsi_14", [NAN] * 14 + [50.0, 50.0])


def test_zscore_given_five_closes_returns_population_zscore_and_0_when_flat() -> None:
    events = event_frame([10.0, 12.0, 11.0, 13.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0])

    frames = both_engines(events, FeatureConfig(zscore_window=5))

    # [10,12,11,13,14]: mean 12, var (4+0+1+1+4)/5 = 2       -> 2 / sqrt(2)
    # [12,11,13,14,14]: mean 12.8, var (0.64+3.24+0.04+1.44+1.44)/5 = 1.36 -> 1.2 / sqrt(1.36)
    # [11,13,14,14,14]: mean 13.2, var (4.84+0.04+3*0.64)/5 = 1.36       -> 0.8 / sqrt(1.36)
    # [13,14,14,14,14]: mean 13.8, var (0.64+4*0.04)/5 = 0.16            -> 0.2 / 0.4
    # then flat windows: std 0 -> 0 by convention
    expected = [NAN] * 4 + [math.sqrt(2.0), 1.2 / math.sqrt(1.36), 0.8 / math.sqrt(1.36), 0.5, 0.0, 0.0]
    _assert_both(frames, "zscore_5", expected)


def test_drawdown_given_peak_then_decline_returns_distance_from_rolling_max() -> None:
    events = event_frame([100.0, 110.0, 105.0, 99.0, 104.0, 103.0])

    frames = both_engines(events, FeatureConfig(drawdown_window=4))

    # windows: [100,110,105,99] max 110; [110,105,99,104] max 110; [105,99,104,103] max 105
    _assert_both(frames, "drawdown_4", [NAN, NAN, NAN, 99 / 110 - 1, 104 / 110 - 1, 103 / 105 - 1])


def test_book_features_given_quote_with_sizes_returns_spread_imbalance_and_microprice_offset() -> None:
    events = event_frame([1.1001], bid=[1.1000], ask=[1.1002], bid_size=[3.0], ask_size=[1.0])

    frames = both_engines(events)

    mid = 1.1001
    microprice = (1.1000 * 1.0 + 1.1002 * 3.0) / 4.0
    _assert_both(frames, "spread_bps", [0.0002 / mid * 1e4])
    _assert_both(frames, "book_imbalance", [0.5])
    for frame in frames:
        assert frame["microprice_offset_bps"].iloc[0] == pytest.approx((microprice - mid) / mid * 1e4, rel=1e-9)


def test_book_features_given_bars_without_quotes_returns_zeros() -> None:
    frames = both_engines(event_frame([1.0, 1.1, 1.2]))

    for name in ("spread_bps", "book_imbalance", "microprice_offset_bps"):
        _assert_both(frames, name, [0.0, 0.0, 0.0])


def test_volatility_given_up_down_up_returns_rms_and_ewma_of_returns() -> None:
    events = event_frame([100.0, 101.0, 100.0, 102.0])

    frames = both_engines(events, FeatureConfig(rvol_windows=(2, 3)))

    r1, r2, r3 = math.log(1.01), math.log(100 / 101), math.log(1.02)
    _assert_both(frames, "rvol_2", [NAN, NAN, math.sqrt((r1**2 + r2**2) / 2), math.sqrt((r2**2 + r3**2) / 2)])
    # seeded with r1^2; r2^2 equals r1^2, so the EWMA stays at r1^2 until r3 arrives
    s2 = 0.94 * r1**2 + 0.06 * r3**2
    _assert_both(frames, "ewma_vol", [NAN, abs(r1), abs(r1), math.sqrt(s2)])


def test_volume_features_given_weighted_bars_returns_vwap_deviation_and_ratio() -> None:
    events = event_frame([10.0, 11.0, 12.0], volume=[1.0, 2.0, 1.0])

    frames = both_engines(events, FeatureConfig(vwap_window=3, volume_fast=1, volume_slow=3, amihud_window=2))

    # VWAP = (10 + 22 + 12) / 4 = 11; the last bar's volume over the mean volume 4/3
    _assert_both(frames, "vwap_dev_3", [NAN, NAN, 1.0 / 11.0])
    _assert_both(frames, "volume_ratio", [NAN, NAN, 0.75])
    _assert_both(frames, "amihud_2", [NAN, NAN, 1e6 * (math.log(1.1) / 2 + math.log(12 / 11)) / 2])


def test_volume_features_given_zero_volume_returns_documented_fallbacks() -> None:
    events = event_frame([10.0, 11.0, 12.0], volume=[0.0, 0.0, 0.0])

    frames = both_engines(events, FeatureConfig(vwap_window=3, volume_fast=1, volume_slow=3, amihud_window=2))

    _assert_both(frames, "vwap_dev_3", [NAN, NAN, 1.0 / 11.0])  # falls back to the mean price 11
    _assert_both(frames, "volume_ratio", [NAN, NAN, 1.0])
    _assert_both(frames, "amihud_2", [NAN, NAN, 0.0])


def test_time_of_day_given_quarter_past_six_hours_returns_points_on_unit_circle() -> None:
    events = event_frame([1.0, 1.0, 1.0], start="2024-03-01T00:00:00Z", step="6h")

    frames = both_engines(events)

    _assert_both(frames, "tod_sin", [0.0, 1.0, math.sin(math.pi)])
    _assert_both(frames, "tod_cos", [1.0, math.cos(math.pi / 2), -1.0])


def test_zscore_given_flat_window_then_one_jump_returns_samuelson_bound() -> None:
    frames = both_engines(event_frame([100.0] * 29 + [101.0]))

    # 29 equal values and one outlier: |z| = sqrt(n - 1), the largest a population z-score can be
    _assert_both(frames, "zscore_30", [NAN] * 29 + [math.sqrt(29.0)])


def test_volume_ratio_given_volume_only_in_last_five_bars_returns_upper_bound_12() -> None:
    frames = both_engines(event_frame([100.0] * 60, volume=[0.0] * 55 + [3.7] * 5))

    _assert_both(frames, "volume_ratio", [NAN] * 59 + [12.0])
