"""Redis killed (SIGKILL) and restarted mid-stream: the worker backs off, reconnects and loses nothing."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
import redis

from models.streaming.events import MarketEvent
from models.streaming.processor import FeatureRow, KeyedProcessor, StreamConfig
from models.streaming.replay import feed
from serving.streaming.redis_io import RetryPolicy, StreamKeys, publish
from serving.streaming.sinks import MemorySink
from serving.streaming.worker import PartitionWorker, WorkerSettings, read_counters
from tests.serving.streaming.redis_server import RedisServer


def _by_symbol(rows: Sequence[FeatureRow]) -> list[FeatureRow]:
    return sorted(rows, key=lambda r: (r.symbol, r.timestamp_ns))


class OutageSink(MemorySink):
    """Records rows; on the chosen writes it kills Redis and has it restarted after ``down_s`` seconds."""

    def __init__(self, server: RedisServer, kill_on_writes: set[int], down_s: float) -> None:
        super().__init__()
        self.server = server
        self.kill_on_writes = kill_on_writes
        self.down_s = down_s
        self.restarts: list[threading.Thread] = []

    def write(self, rows: Sequence[FeatureRow]) -> None:
        super().write(rows)
        if self.writes in self.kill_on_writes:
            self.server.kill()
            restart = threading.Timer(self.down_s, self.server.start)
            restart.start()
            self.restarts.append(restart)


def test_run_given_redis_killed_and_restarted_mid_stream_returns_every_row_once(
    redis_server: RedisServer, btc_bars: list[MarketEvent], caplog: pytest.LogCaptureFixture
) -> None:
    events = [dataclasses.replace(e, symbol=f"S{i % 3}") for i, e in enumerate(btc_bars[:3000])]
    config = StreamConfig(buffer_size=300, allowed_lateness=timedelta(minutes=2))
    keys = StreamKeys(prefix="restart")
    client = redis.Redis.from_url(redis_server.url)
    publish(client, events, 1, keys=keys)
    client.close()

    sink = OutageSink(redis_server, kill_on_writes={2, 5}, down_s=0.4)
    retry = RetryPolicy(attempts=10, base_delay_s=0.05, max_delay_s=0.4)
    worker = PartitionWorker(
        config, 0, [sink], settings=WorkerSettings(url=redis_server.url, prefix="restart", retry=retry)
    )
    with caplog.at_level(logging.WARNING, logger="serving.streaming"):
        counters = worker.run(until_idle=True)
    for restart in sink.restarts:
        restart.join()

    expected = [row for batch in feed(KeyedProcessor(config), events) for row in batch]
    written, clean = _by_symbol(sink.rows), _by_symbol(expected)
    assert [(r.symbol, r.event_id) for r in written] == [(r.symbol, r.event_id) for r in clean], "none lost or repeated"
    assert np.vstack([r.vector for r in written]).tobytes() == np.vstack([r.vector for r in clean]).tobytes()
    assert counters["released"] == 3000 and counters["redis_retries"] >= 2
    assert any("retry 1/10" in message for message in caplog.messages), "each retry is logged"
    after = redis.Redis.from_url(redis_server.url)
    assert after.xlen(keys.events(0)) == 3000, "the append-only file kept the stream"
    assert after.xpending(keys.events(0), WorkerSettings().group)["pending"] == 0
    assert read_counters(after, keys, 0) == counters
    after.close()
