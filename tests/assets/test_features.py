"""Feature assets materialize on the shipped data with their checks, and fill the online store."""

from __future__ import annotations

import pandas as pd
import pytest
import redis
from dagster import DagsterInstance, materialize

from assets.features import WARMUP, feature_assets, feature_store_definitions, offline_features, online_features
from assets.market_data import market_data_assets
from models.features import feature_names
from models.marketdata.samples import SAMPLES
from models.marketdata.store import MarketDataStore
from orchestration.resources import build_resources
from orchestration.settings import Settings
from serving.features.online_reader import OnlineFeatureReader


def test_materialize_given_btc_perp_sample_returns_features_checks_and_online_vector(rtopt_settings: Settings) -> None:
    if rtopt_settings.online_store.backend != "redis":
        pytest.skip(rtopt_settings.online_store.reason)
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    MarketDataStore(rtopt_settings.market_data_root).write_batch(sample.symbol, sample.load(), None)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["BTC-PERP"])
    resources = build_resources(rtopt_settings)
    assert materialize([feature_store_definitions], resources=resources, instance=instance).success

    result = materialize(
        [*market_data_assets, *feature_assets],
        selection=["market_bars", "offline_features", "online_features"],
        partition_key="BTC-PERP",
        resources=resources,
        instance=instance,
    )

    assert result.success
    checks = {
        e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key == offline_features.key
    }
    assert checks == {"no_nan_after_warmup": True, "point_in_time": True, "value_ranges": True}
    offline = pd.read_parquet(rtopt_settings.offline_features_root / "BTC-PERP.parquet")
    assert len(offline) == 10_080 - WARMUP
    reader = OnlineFeatureReader(redis.Redis.from_url(rtopt_settings.online_store.redis_url), "rtopt", feature_names())
    online = reader.read("BTC-PERP")
    assert online is not None
    assert online.values.tolist() == offline[list(feature_names())].iloc[-1].tolist()
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert online_features.key in materialized
