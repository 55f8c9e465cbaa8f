"""No lookahead in either engine, and persisted state that resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FeatureEngine,
    PairFeatureEngine,
    compute_features,
    compute_pair_features,
    stream_features,
    stream_pair_features,
)
from models.features.batch import EVENT_COLUMNS
from models.seeding import make_rng
from tests.models.features.builders import synthetic_events

CUTS = (0, 30, 59, 60, 150)


def _scramble_after(events: pd.DataFrame, cut: int, seed: int) -> pd.DataFrame:
    """Replace every event after ``cut`` with unrelated (but valid) values."""
    future = events.copy()
    rng = make_rng(seed)
    n = len(future) - cut - 1
    factor = rng.uniform(0.5, 2.0, n)
    for name in ("close", "high", "low", "bid", "ask"):
        future.loc[future.index[cut + 1 :], name] = future[name].to_numpy()[cut + 1 :] * factor
    for name in ("volume", "bid_size", "ask_size"):
        future.loc[future.index[cut + 1 :], name] = rng.uniform(0.0, 10.0, n)
    return future


@pytest.mark.parametrize("cut", CUTS)
def test_features_given_changed_future_events_returns_unchanged_past_features(cut: int) -> None:
    events = synthetic_events(300, seed=11)
    future = _scramble_after(events, cut, seed=cut)

    for engine in (compute_features, stream_features):
        before = engine(events).iloc[: cut + 1, 1:].to_numpy()
        after = engine(future).iloc[: cut + 1, 1:].to_numpy()
        assert np.array_equal(before, after, equal_nan=True), engine.__name__
        changed = engine(future).iloc[cut + 1 :, 1:].to_numpy()
        assert not np.array_equal(engine(events).iloc[cut + 1 :, 1:].to_numpy(), changed, equal_nan=True)


@pytest.mark.parametrize("cut", CUTS)
def test_pair_features_given_changed_future_events_returns_unchanged_past_features(cut: int) -> None:
    a, b = synthetic_events(300, seed=3), synthetic_events(300, seed=4)
    future_b = _scramble_after(b, cut, seed=cut)

    for engine in (compute_pair_features, stream_pair_features):
        before = engine(a, b).iloc[: cut + 1, 1:].to_numpy()
        after = engine(a, future_b).iloc[: cut + 1, 1:].to_numpy()
        assert np.array_equal(before, after, equal_nan=True), engine.__name__


def _arrays(events: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
    ts = events["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ts, [events[c].to_numpy() for c in EVENT_COLUMNS]


@pytest.mark.parametrize("split", [1, 31, 32, 61, 64, 250])
def test_state_dict_given_json_round_trip_mid_stream_returns_identical_continuation(split: int) -> None:
    ts, columns = _arrays(synthetic_events(400, seed=5))
    reference = FeatureEngine().update_many(ts, *columns)
    first = FeatureEngine()
    first.update_many(ts[:split], *(c[:split] for c in columns))

    saved = json.dumps(first.state_dict(), allow_nan=False)
    restored = FeatureEngine.from_state_dict(json.loads(saved))

    assert restored.events_seen == split
    rest = restored.update_many(ts[split:], *(c[split:] for c in columns))
    assert np.array_equal(rest, reference[split:], equal_nan=True)
    assert np.array_equal(first.update_many(ts[split:], *(c[split:] for c in columns)), rest, equal_nan=True)


@pytest.mark.parametrize("split", [1, 32, 61, 200])
def test_pair_state_dict_given_json_round_trip_mid_stream_returns_identical_continuation(split: int) -> None:
    a = synthetic_events(300, seed=6)["close"].to_numpy()
    b = synthetic_events(300, seed=7)["close"].to_numpy()
    reference = PairFeatureEngine().update_many(a, b)
    first = PairFeatureEngine()
    first.update_many(a[:split], b[:split])

    restored = PairFeatureEngine.from_state_dict(json.loads(json.dumps(first.state_dict(), allow_nan=False)))

    assert np.array_equal(restored.update_many(a[split:], b[split:]), reference[split:], equal_nan=True)


def test_from_state_dict_given_state_of_another_config_raises() -> None:
    data = FeatureEngine().state_dict()
    data["config"]["zscore_window"] = 20

    with pytest.raises(ValueError, match="layout"):
        FeatureEngine.from_state_dict(data)


def test_from_state_dict_given_truncated_state_raises() -> None:
    data = FeatureEngine().state_dict()
    data["state"] = data["state"][:-1]

    with pytest.raises(ValueError, match="state has"):
        FeatureEngine.from_state_dict(data)


def test_from_state_dict_given_pair_state_raises() -> None:
    with pytest.raises(ValueError, match="not a FeatureEngine state"):
        FeatureEngine.from_state_dict(PairFeatureEngine().state_dict())
