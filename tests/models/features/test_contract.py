"""The public contract: names and order, config validation, the table, event framing, both update paths."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FEATURE_NAMES,
    FEATURES,
    PAIR_FEATURE_NAMES,
    FeatureConfig,
    FeatureEngine,
    compute_features,
    events_frame,
    feature_names,
    features_markdown,
)
from models.features.batch import EVENT_COLUMNS, timestamp_ns
from tests.models.features.builders import ATOL, RTOL, both_engines, event_frame, synthetic_events

PUBLISHED = [
    "ret_1",
    "ret_5",
    "ret_15",
    "ret_60",
    "rvol_15",
    "rvol_60",
    "ewma_vol",
    "roc_10",
    "ma_cross",
    "rsi_14",
    "zscore_30",
    "volume_ratio",
    "vwap_dev_30",
    "spread_bps",
    "spread_z_60",
    "book_imbalance",
    "microprice_offset_bps",
    "amihud_30",
    "drawdown_60",
    "tod_sin",
    "tod_cos",
]


def test_feature_names_given_default_config_returns_published_names_in_order() -> None:
    assert list(FEATURE_NAMES) == PUBLISHED
    assert PAIR_FEATURE_NAMES == ("pair_corr_60", "pair_spread_z_60")
    assert [d.name for d in FEATURES] == PUBLISHED


def test_feature_names_given_other_windows_returns_names_carrying_the_windows() -> None:
    names = feature_names(FeatureConfig(ret_windows=(1, 2, 3, 4), zscore_window=20))

    assert names[:4] == ("ret_1", "ret_2", "ret_3", "ret_4")
    assert names[10] == "zscore_20"
    assert len(names) == 21


def test_feature_config_given_unknown_field_or_bad_window_raises() -> None:
    with pytest.raises(TypeError):
        FeatureConfig(zscore_windw=30)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="ma_fast"):
        FeatureConfig(ma_fast=30, ma_slow=10)
    with pytest.raises(ValueError, match="windows must be integers"):
        FeatureConfig(vwap_window=0)
    with pytest.raises(ValueError, match="distinct"):
        FeatureConfig(rvol_windows=(15, 15))
    with pytest.raises(dataclasses.FrozenInstanceError):
        FeatureConfig().ma_fast = 3  # type: ignore[misc]


def test_features_markdown_given_default_table_returns_one_row_per_feature() -> None:
    text = features_markdown()

    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 23
    assert all(f"`{d.name}`" in text for d in FEATURES)
    assert "| `rsi_14` |" in text and "[0, 100]" in text


def test_update_given_events_one_by_one_returns_update_many_rows_exactly() -> None:
    events = synthetic_events(400, seed=21)
    ts = timestamp_ns(events["timestamp"])
    columns = [events[c].to_numpy() for c in EVENT_COLUMNS]
    engine = FeatureEngine()

    one_by_one = np.vstack([engine.update(int(ts[i]), *(float(c[i]) for c in columns)) for i in range(len(events))])

    assert np.array_equal(one_by_one, FeatureEngine().update_many(ts, *columns), equal_nan=True)
    assert engine.events_seen == 400


def test_update_given_warmup_events_returns_nan_exactly_where_the_table_says() -> None:
    engine = FeatureEngine()
    rows = np.vstack([engine.update(i * 60_000_000_000, 100.0 + math.sin(i)) for i in range(engine.warmup + 1)])

    assert engine.warmup == 60 == max(d.warmup for d in FEATURES)
    for j, d in enumerate(FEATURES):
        assert np.isnan(rows[: d.warmup, j]).all() and not np.isnan(rows[d.warmup :, j]).any(), d.name


def test_engines_given_non_default_windows_returns_equal_features() -> None:
    config = FeatureConfig(
        ret_windows=(1, 2, 7, 20),
        rvol_windows=(5, 25),
        ewma_lambda=0.9,
        roc_window=3,
        ma_fast=4,
        ma_slow=9,
        rsi_window=6,
        zscore_window=12,
        volume_fast=3,
        volume_slow=17,
        vwap_window=8,
        spread_z_window=25,
        amihud_window=11,
        drawdown_window=13,
    )
    batch, stream = both_engines(synthetic_events(3000, seed=8), config)

    for name in feature_names(config):
        b, s = batch[name].to_numpy(), stream[name].to_numpy()
        assert np.array_equal(np.isnan(b), np.isnan(s)), name
        assert np.isclose(s, b, rtol=RTOL, atol=ATOL, equal_nan=True).all(), name


def test_engines_given_non_positive_close_raises() -> None:
    events = event_frame([100.0, 0.0, 101.0])

    with pytest.raises(ValueError, match="rejected event 1"):
        compute_features(events)
    with pytest.raises(ValueError, match="rejected event 1"):
        FeatureEngine().update_many(np.arange(3), events["close"].to_numpy())
    with pytest.raises(ValueError, match="rejected event"):
        FeatureEngine().update(0, -1.0)


def test_compute_features_given_naive_timestamps_raises() -> None:
    events = event_frame([1.0, 2.0])
    events["timestamp"] = events["timestamp"].dt.tz_localize(None)

    with pytest.raises(ValueError, match="tz-aware"):
        compute_features(events)


def test_events_frame_given_each_kind_returns_canonical_events() -> None:
    ts = pd.date_range("2021-01-08", periods=2, freq="s", tz="UTC")
    trades = events_frame(pd.DataFrame({"timestamp": ts, "price": [100.0, 101.0], "size": [0.5, 2.0]}), "trades")
    quotes = events_frame(pd.DataFrame({"timestamp": ts, "bid": [1.0, 1.1], "ask": [1.2, 1.3]}), "quotes")
    bars = events_frame(
        pd.DataFrame({"timestamp": ts, **{c: [5.0, 6.0] for c in ("open", "high", "low", "close")}}), "bars"
    )

    assert list(trades.columns) == ["timestamp", *EVENT_COLUMNS]
    assert trades["volume"].tolist() == [50.0, 202.0]
    assert quotes["close"].tolist() == pytest.approx([1.1, 1.2]) and (quotes["volume"] == 0.0).all()
    assert (quotes["high"] == quotes["close"]).all() and quotes["bid_size"].isna().all()
    assert (bars["volume"] == 0.0).all() and bars["bid"].isna().all()


def test_update_many_given_btc_month_returns_at_least_100k_events_per_second(
    real_events: dict[str, pd.DataFrame],
) -> None:
    events = real_events["btc_perp_1m"]
    ts = timestamp_ns(events["timestamp"])
    columns = [events[c].to_numpy() for c in EVENT_COLUMNS]
    FeatureEngine().update_many(ts[:10], *(c[:10] for c in columns))  # compile or load the cache first

    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        FeatureEngine().update_many(ts, *columns)
        best = min(best, time.perf_counter() - start)

    # the design floor for one symbol in one process on the 2-core machines (measured ~700k/s)
    assert len(events) / best >= 100_000
