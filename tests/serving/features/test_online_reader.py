"""The fast online reader returns exactly what Feast's get_online_features returns."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from feast import FeatureStore

from models.features import feature_names
from orchestration.settings import load_settings, prepare
from serving.features.feast_repo import FEATURE_SERVICE, FEATURE_VIEW, apply_repo, open_store
from serving.features.online_reader import OnlineFeatureReader

NAMES = feature_names()


@pytest.fixture
def feast_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeatureStore]:
    # prepare() exports these; registering them with monkeypatch first restores them afterwards.
    exported = ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FEAST_FS_YAML_FILE_PATH")
    for name in (*exported, "RTOPT_REDIS_CONNECTION"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("RTOPT_HOME", str(tmp_path / "home"))
    settings = load_settings()
    if settings.online_store.backend != "redis":
        pytest.skip(f"Redis not reachable: {settings.online_store.reason}")
    prepare(settings)
    store = open_store(settings.feast_repo, settings.feast_yaml)
    apply_repo(store, settings.feast_repo)
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
