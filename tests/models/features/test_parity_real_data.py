"""Parity on every real dataset: the incremental and the batch engine agree on every row after warm-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FEATURE_NAMES,
    FEATURES,
    PAIR_FEATURES,
    FeatureDef,
    FeatureEngine,
    compute_pair_features,
    stream_pair_features,
)
from tests.models.features.builders import ATOL, RTOL
from tests.models.features.conftest import REAL_DATASETS

Frames = dict[str, tuple[pd.DataFrame, pd.DataFrame]]


def _assert_parity(batch: pd.DataFrame, stream: pd.DataFrame, defs: tuple[FeatureDef, ...]) -> None:
    assert list(batch.columns) == list(stream.columns) == ["timestamp", *(d.name for d in defs)]
    assert (batch["timestamp"] == stream["timestamp"]).all()
    for d in defs:
        b = batch[d.name].to_numpy()
        s = stream[d.name].to_numpy()
        assert b.dtype == s.dtype == np.float64
        close = np.isclose(s[d.warmup :], b[d.warmup :], rtol=RTOL, atol=ATOL)
        first = d.warmup + int(np.argmin(close))
        assert close.all(), f"{d.name}: {(~close).sum()} rows differ, first {first}: {s[first]!r} vs {b[first]!r}"


def _assert_defined_within_bounds(frame: pd.DataFrame, defs: tuple[FeatureDef, ...]) -> None:
    for d in defs:
        values = frame[d.name].to_numpy()
        assert np.isnan(values[: d.warmup]).all(), f"{d.name}: defined before its warm-up of {d.warmup}"
        after = values[d.warmup :]
        assert np.isfinite(after).all(), f"{d.name}: {(~np.isfinite(after)).sum()} NaN/inf after warm-up"
        # strict: bounds that are reachable (correlation 1, Samuelson's z) are clipped in both engines
        if d.lower is not None:
            assert after.min() >= d.lower, f"{d.name}: {after.min()} < {d.lower}"
        if d.upper is not None:
            assert after.max() <= d.upper, f"{d.name}: {after.max()} > {d.upper}"


@pytest.mark.parametrize("dataset", REAL_DATASETS)
def test_engines_given_real_dataset_returns_equal_features_after_warmup(real_features: Frames, dataset: str) -> None:
    batch, stream = real_features[dataset]

    _assert_parity(batch, stream, FEATURES)


@pytest.mark.parametrize("dataset", REAL_DATASETS)
def test_engines_given_real_dataset_returns_no_nan_after_warmup_and_values_within_bounds(
    real_features: Frames, dataset: str
) -> None:
    batch, stream = real_features[dataset]

    _assert_defined_within_bounds(batch, FEATURES)
    _assert_defined_within_bounds(stream, FEATURES)
    assert not stream[list(FEATURE_NAMES)].iloc[FeatureEngine().warmup :].isna().to_numpy().any()


def test_engines_given_real_datasets_returns_features_that_vary(real_features: Frames) -> None:
    # Parity of two constant columns would prove little: each feature moves on some real dataset.
    for name in FEATURE_NAMES:
        spread = max(np.nanstd(batch[name].to_numpy()) for batch, _ in real_features.values())
        assert spread > 0.0, f"{name} is constant on every real dataset"


def test_pair_engines_given_btc_and_its_5_minute_lag_returns_equal_features(
    real_events: dict[str, pd.DataFrame],
) -> None:
    btc = real_events["btc_perp_1m"]
    lagged = btc.assign(close=btc["close"].shift(5)).dropna(subset=["close"])

    batch, stream = compute_pair_features(btc, lagged), stream_pair_features(btc, lagged)

    assert len(batch) == len(btc) - 5
    _assert_parity(batch, stream, PAIR_FEATURES)
    _assert_defined_within_bounds(stream, PAIR_FEATURES)


def test_pair_engines_given_gbpusd_bid_and_ask_returns_equal_and_highly_correlated_features(
    gbpusd_sides: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    bid, ask = gbpusd_sides

    batch, stream = compute_pair_features(bid, ask), stream_pair_features(bid, ask)

    _assert_parity(batch, stream, PAIR_FEATURES)
    _assert_defined_within_bounds(batch, PAIR_FEATURES)
    assert np.nanmedian(batch["pair_corr_60"]) > 0.8  # two sides of one book move together
