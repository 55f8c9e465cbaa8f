"""The fast online reader returns exactly what Feast's get_online_features returns."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import redis
from feast import FeatureStore

from models.features import feature_names
from orchestration.settings import Settings, load_settings
from serving.features.feast_repo import FEATURE_SERVICE, FEATURE_VIEW, apply_repo, open_store
from serving.features.online_reader import OnlineFeatureReader

NAMES = feature_names()


@pytest.fixture
def feast_store(rtopt_settings: Settings) -> Iterator[FeatureStore]:
    if rtopt_settings.online_store.backend != "redis":
        pytest.skip(f"Redis not reachable: {rtopt_settings.online_store.reason}")
    store = open_store(rtopt_settings.feast_repo, rtopt_settings.feast_yaml)
    apply_repo(store, rtopt_settings.feast_repo)
    yield store


def _row(symbol: str, seed: int) -> pd.DataFrame:
    values = np.random.default_rng(seed).normal(size=len(NAMES))
    frame = pd.DataFrame([dict(zip(NAMES, values, strict=True))])
    frame.insert(0, "event_timestamp", pd.Timestamp("2024-03-01 12:34:56.789", tz="UTC"))
    frame.insert(0, "symbol", symbol)
    return frame


def test_read_given_vector_written_through_feast_returns_exactly_feasts_values(feast_store: FeatureStore) -> None:
    symbol = f"T{uuid.uuid4().hex[:10]}"
    feast_store.write_to_online_store(FEATURE_VIEW, _row(symbol, 7))
    reader = OnlineFeatureReader(redis.Redis.from_url(load_settings().online_store.redis_url), "rtopt", NAMES)

    fast = reader.read(symbol)
    feast = feast_store.get_online_features(
        features=feast_store.get_feature_service(FEATURE_SERVICE), entity_rows=[{"symbol": symbol}]
    ).to_dict()

    assert fast is not None
    assert fast.values.tolist() == [feast[name][0] for name in NAMES]
    assert fast.event_time == pd.Timestamp("2024-03-01 12:34:56.789", tz="UTC").to_pydatetime()


def test_read_given_later_write_returns_the_latest_vector(feast_store: FeatureStore) -> None:
    symbol = f"T{uuid.uuid4().hex[:10]}"
    reader = OnlineFeatureReader(redis.Redis.from_url(load_settings().online_store.redis_url), "rtopt", NAMES)
    feast_store.write_to_online_store(FEATURE_VIEW, _row(symbol, 1))
    later = _row(symbol, 2)
    later["event_timestamp"] = pd.Timestamp("2024-03-02", tz="UTC")
    feast_store.write_to_online_store(FEATURE_VIEW, later)

    fast = reader.read(symbol)

    assert fast is not None
    assert fast.values.tolist() == later[list(NAMES)].iloc[0].tolist()


def test_read_given_unknown_symbol_returns_none(feast_store: FeatureStore) -> None:
    reader = OnlineFeatureReader(redis.Redis.from_url(load_settings().online_store.redis_url), "rtopt", NAMES)

    assert reader.read(f"NONE{uuid.uuid4().hex[:8]}") is None


def test_push_sink_given_stream_rows_returns_latest_vector_per_symbol_online(feast_store: FeatureStore) -> None:
    from models.streaming.processor import FeatureRow
    from serving.features.push_sink import FeastPushSink

    symbol = f"T{uuid.uuid4().hex[:10]}"
    vectors = np.random.default_rng(3).normal(size=(3, len(NAMES)))
    base = pd.Timestamp("2024-03-01", tz="UTC").value
    rows = [FeatureRow(symbol, base + i * 60_000_000_000, f"e{i}", vectors[i]) for i in range(3)]
    sink = FeastPushSink(feast_store, NAMES)
    reader = OnlineFeatureReader(redis.Redis.from_url(load_settings().online_store.redis_url), "rtopt", NAMES)

    sink.write([rows[2], rows[0], rows[1]])

    fast = reader.read(symbol)
    assert fast is not None
    assert fast.values.tolist() == vectors[2].tolist()
    assert fast.event_time == pd.Timestamp(base + 2 * 60_000_000_000, tz="UTC").to_pydatetime()
