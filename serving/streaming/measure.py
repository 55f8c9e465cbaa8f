"""Ingest throughput of the Redis Streams pipeline, for the benchmark suite (which owns the reporting).

``measure_stream_ingest`` publishes real BTC-PERP 1-minute bars (the shipped sample, cycled and spread
over a few symbols) to a fresh stream and runs one worker to completion: XREADGROUP, parse, keyed
processing, feature kernel, sink, checkpoint and XACK. The stream, checkpoint, counters and dead
letters live under a unique prefix and are deleted afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from models.features.engine import FeatureEngine
from models.marketdata.samples import SAMPLES
from models.streaming.events import MarketEvent
from models.streaming.processor import FeatureRow, StreamConfig
from models.streaming.replay import events_from_dataset
from serving.streaming.redis_io import StreamKeys, delete_keys, publish
from serving.streaming.sinks import FeatureSink
from serving.streaming.worker import PartitionWorker, WorkerSettings

BENCH_SAMPLE = "BTC-PERP"
_MINUTE_NS = 60_000_000_000


def url_of(client: redis.Redis) -> str:
    """A URL that reaches the same server and database as ``client`` (the worker opens its own connection)."""
    kw: dict[str, Any] = client.connection_pool.connection_kwargs
    auth = f"{kw.get('username') or ''}:{kw['password']}@" if kw.get("password") else ""
    if kw.get("path"):
        return f"unix://{auth}{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{auth}{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def bench_events(n_events: int, symbols: int = 4) -> Iterator[MarketEvent]:
    """``n_events`` real bars, round-robin over ``symbols`` symbols (BENCH-0, ...), each in time order.

    Symbol k's i-th event is bar ``i mod len(sample)`` of the sample; every pass over the sample is
    shifted by the sample's span, so each symbol's timestamps keep increasing. The sample is loaded
    here; the events are built lazily, so the measurement never holds them all at once (their
    garbage-collector traversals would be timed too) and the publish time includes building each
    event, as a producer's would.
    """
    if n_events < 1 or symbols < 1:
        raise ValueError(f"n_events and symbols: must be >= 1, got {n_events}, {symbols}")
    bars = events_from_dataset(next(d for d in SAMPLES if d.symbol == BENCH_SAMPLE))  # loaded now, not when timed
    return _cycle(bars, n_events, symbols)


def _cycle(bars: list[MarketEvent], n_events: int, symbols: int) -> Iterator[MarketEvent]:
    span = bars[-1].timestamp_ns - bars[0].timestamp_ns + _MINUTE_NS
    for j in range(n_events):
        symbol, i = f"BENCH-{j % symbols}", j // symbols
        bar = bars[i % len(bars)]
        yield MarketEvent(
            symbol=symbol,
            timestamp_ns=bar.timestamp_ns + (i // len(bars)) * span,
            event_id=f"{symbol}:{i:010d}",
            close=bar.close,
            high=bar.high,
            low=bar.low,
            volume=bar.volume,
        )


class CountingSink:
    """Counts rows and drops them: the default sink of the measurement, so it times the pipeline alone."""

    def __init__(self) -> None:
        self.rows = 0

    def write(self, rows: Sequence[FeatureRow]) -> None:
        self.rows += len(rows)


def measure_stream_ingest(
    client: redis.Redis,
    n_events: int,
    *,
    symbols: int = 4,
    buffer_size: int = 10_000,
    sink: FeatureSink | None = None,
) -> dict[str, float | int]:
    """Publish ``n_events`` to a fresh stream, consume them with one worker to completion, and time both.

    ``sink``: where the rows go (default ``CountingSink``; pass a ``ParquetSink`` to include its cost).

    Returns ``msgs_per_s`` (the worker: read to acknowledged, including the final flush and commit),
    ``publish_msgs_per_s`` (pipelined XADD) and ``end_to_end_msgs_per_s`` (both phases back to back),
    with the seconds and counts behind them. Raises ``RuntimeError`` if any event was not processed
    exactly once.
    """
    FeatureEngine().update(1, 1.0)  # numba compile or cache load, untimed
    events = bench_events(n_events, symbols)
    keys = StreamKeys(prefix=f"rtopt-bench-{uuid.uuid4().hex[:12]}")
    config = StreamConfig(parallelism=1, buffer_size=buffer_size)
    worker = PartitionWorker(
        config, 0, [sink or CountingSink()], settings=WorkerSettings(url=url_of(client), prefix=keys.prefix)
    )
    try:
        started = time.perf_counter()
        publish(client, events, 1, keys=keys)
        published = time.perf_counter()
        worker.start()
        counters = worker.run(until_idle=True)
        consumed = time.perf_counter()
    finally:
        worker.close()
        delete_keys(client, keys, 1)
    if counters["released"] != n_events or counters["acked"] != n_events:
        raise RuntimeError(f"measure_stream_ingest: {n_events} events published, counters {counters}")
    publish_s, consume_s = published - started, consumed - published
    return {
        "events": n_events,
        "symbols": symbols,
        "buffer_size": buffer_size,
        "publish_s": publish_s,
        "consume_s": consume_s,
        "msgs_per_s": n_events / consume_s,
        "publish_msgs_per_s": n_events / publish_s,
        "end_to_end_msgs_per_s": n_events / (consume_s + publish_s),
    }
