"""Partitioned runs: routing by symbol, one process per partition, the Ray actor, the ingest measurement."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import redis

from models.streaming.events import MarketEvent, parse_event
from models.streaming.processor import KeyedProcessor, StreamConfig, partition_of
from models.streaming.replay import feed
from serving.streaming.measure import bench_events, measure_stream_ingest
from serving.streaming.parallel import ParquetSinkFactory, run_local, run_ray
from serving.streaming.redis_io import StreamKeys, publish
from serving.streaming.sinks import read_parquet_features
from serving.streaming.worker import WorkerSettings


def _symbols(events: list[MarketEvent], n: int) -> list[MarketEvent]:
    return [dataclasses.replace(e, symbol=f"SYM{i % n}") for i, e in enumerate(events)]


def _assert_rows_equal_clean_run(root: Path, events: list[MarketEvent], config: StreamConfig) -> None:
    clean = [row for batch in feed(KeyedProcessor(config), events) for row in batch]
    frame = read_parquet_features(root).sort_values(["symbol", "event_timestamp"], kind="stable")
    clean.sort(key=lambda r: (r.symbol, r.timestamp_ns))
    assert frame["event_id"].tolist() == [r.event_id for r in clean]
    values = frame.drop(columns=["symbol", "event_timestamp", "event_id"]).to_numpy()
    assert values.tobytes() == np.vstack([r.vector for r in clean]).tobytes()


def test_publish_given_symbols_returns_each_symbol_on_its_hashed_partition(
    client: redis.Redis, keys: StreamKeys
) -> None:
    events = _symbols(list(bench_events(64, symbols=1)), 8)
    counts = publish(
        client, [*events, {"symbol": "RAW", "timestamp": 1704196800000, "price": 1.0}], 3, keys=keys, chunk=7
    )
    seen: dict[int, set[str]] = {}
    for p in range(3):
        entries = client.xrange(keys.events(p))
        assert len(entries) == counts[p]
        seen[p] = {parse_event(fields[b"event"]).symbol for _, fields in entries}
    assert sum(counts.values()) == 65
    for p, symbols in seen.items():
        assert all(partition_of(s, 3) == p for s in symbols)
    assert set.union(*seen.values()) == {*(f"SYM{i}" for i in range(8)), "RAW"}


def test_run_local_given_two_partitions_returns_every_symbol_once_in_parquet(
    client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent], tmp_path: Path
) -> None:
    events = _symbols(btc_bars[:1200], 4)
    config = StreamConfig(parallelism=2, buffer_size=200)
    counts = publish(client, events, 2, keys=keys)
    assert all(counts.values()), "both partitions have work"
    settings = WorkerSettings(url=redis_url, prefix=keys.prefix)
    counters = run_local(config, settings, ParquetSinkFactory(tmp_path))
    assert {p: c["released"] for p, c in counters.items()} == counts
    _assert_rows_equal_clean_run(tmp_path, events, config)


def test_run_local_given_live_mode_without_stop_raises_naming_stop(redis_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stop"):
        run_local(StreamConfig(), WorkerSettings(url=redis_url), ParquetSinkFactory(tmp_path), until_idle=False)


def test_run_ray_given_local_cluster_returns_partition_rows_in_parquet(
    client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent], tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    events = _symbols(btc_bars[:600], 2)
    config = StreamConfig(parallelism=1, buffer_size=200)
    publish(client, events, 1, keys=keys)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        counters = run_ray(config, WorkerSettings(url=redis_url, prefix=keys.prefix), ParquetSinkFactory(tmp_path))
    finally:
        ray.shutdown()
    assert counters[0]["released"] == 600
    _assert_rows_equal_clean_run(tmp_path, events, config)


def test_measure_stream_ingest_given_events_returns_rates_and_json_serialisable_result(client: redis.Redis) -> None:
    result = measure_stream_ingest(client, 4000, symbols=2, buffer_size=1000)
    assert json.loads(json.dumps(result)) == result
    assert result["events"] == 4000
    assert result["msgs_per_s"] > 0 and result["end_to_end_msgs_per_s"] < result["msgs_per_s"]
