"""PartitionWorker on the real Redis: dead letters, crash recovery, duplicates, lost replies, counters."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from models.streaming.events import MarketEvent, Reason
from models.streaming.processor import FeatureRow, KeyedProcessor, StreamConfig
from models.streaming.replay import feed
from serving.streaming.redis_io import RetryPolicy, StreamKeys, StreamUnavailable, connect, publish
from serving.streaming.sinks import MemorySink, ParquetSink, read_parquet_features
from serving.streaming.worker import PartitionWorker, WorkerSettings, read_counters

GROUP = WorkerSettings().group
NOW_NS = 1_704_196_800 * 10**9  # 2024-01-02T12:00:00Z, the workers' fixed clock
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)

STREAM_REASONS = [r for r in Reason if r not in (Reason.DUPLICATE, Reason.UNKNOWN_SYMBOL)]
"""The stream's dead-letter reasons: a duplicate is counted, not dead-lettered, and every symbol is streamed
(``duplicate`` and ``unknown_symbol`` are the decision engine's refusals)."""


def _worker(keys: StreamKeys, url: str, sinks: list[Any], config: StreamConfig, **settings: Any) -> PartitionWorker:
    options = WorkerSettings(url=url, prefix=keys.prefix, retry=FAST_RETRY, **settings)
    return PartitionWorker(config, 0, sinks, settings=options, clock_ns=lambda: NOW_NS, sleep=lambda _: None)


def _symbols(events: list[MarketEvent], n: int) -> list[MarketEvent]:
    return [dataclasses.replace(e, symbol=f"S{i % n}") for i, e in enumerate(events)]


def _clean_rows(events: list[MarketEvent], config: StreamConfig) -> dict[str, list[FeatureRow]]:
    """Each symbol's rows from the processor alone, no Redis: what any recovery must reproduce."""
    rows = [row for batch in feed(KeyedProcessor(config), events) for row in batch]
    return {s: [r for r in rows if r.symbol == s] for s in sorted({r.symbol for r in rows})}


def _assert_parquet_equals(root: Path, expected: dict[str, list[FeatureRow]]) -> None:
    frame = read_parquet_features(root)
    assert not frame.duplicated(["symbol", "event_id"]).any(), "a row was written twice"
    for symbol, rows in expected.items():
        mine = frame[frame["symbol"] == symbol]
        assert mine["event_id"].tolist() == [r.event_id for r in rows]
        values = mine.drop(columns=["symbol", "event_timestamp", "event_id"]).to_numpy()
        assert values.tobytes() == np.vstack([r.vector for r in rows]).tobytes()


def _bad_payloads(good: MarketEvent) -> dict[Reason, bytes]:
    base = {"symbol": "X", "timestamp": "2024-01-02T11:00:00Z", "price": 100.0}

    def dump(**changes: Any) -> bytes:
        return json.dumps({k: v for k, v in {**base, **changes}.items() if v is not None}).encode()

    return {
        Reason.MALFORMED_JSON: b'{"symbol": "X", ',
        Reason.MISSING_FIELD: dump(symbol=None),
        Reason.BAD_TYPE: dump(timestamp="yesterday"),
        Reason.NAN_OR_INF: b'{"symbol": "X", "timestamp": 1704193200000, "price": Infinity}',
        Reason.NON_POSITIVE_PRICE: dump(price=-3.0),
        Reason.NEGATIVE_SIZE: dump(volume=-1.0),
        Reason.CROSSED_QUOTE: dump(bid=101.0, ask=100.0),
        Reason.FUTURE_TIMESTAMP: dump(timestamp="2024-01-02T13:00:00Z"),
        Reason.LATE: dataclasses.replace(good, event_id="late", timestamp_ns=good.timestamp_ns - 60 * 10**9).to_json(),
    }


def test_run_given_bad_payloads_returns_each_in_deadletter_with_reason(
    client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent]
) -> None:
    good = [dataclasses.replace(e, symbol="X") for e in btc_bars[:20]]
    publish(client, good, 1, keys=keys)
    bad = _bad_payloads(good[-1])
    for payload in bad.values():
        client.xadd(keys.events(0), {"event": payload})
    sink = MemorySink()
    counters = _worker(keys, redis_url, [sink], StreamConfig()).run(until_idle=True)

    letters = [fields for _, fields in client.xrange(keys.deadletter)]
    by_reason = {f[b"reason"].decode(): f for f in letters}
    assert sorted(by_reason) == sorted(r.value for r in STREAM_REASONS) and len(letters) == len(bad)
    for reason, payload in bad.items():
        letter = by_reason[reason.value]
        assert letter[b"payload"] == payload
        assert client.xrange(keys.events(0), letter[b"entry_id"], letter[b"entry_id"])[0][1][b"event"] == payload
    assert b"timestamp" in by_reason["bad_type"][b"detail"] and by_reason["missing_field"][b"detail"] == b"symbol"
    assert len(sink.rows) == 20 and counters["released"] == 20
    assert all(counters[f"rejected_{r.value}"] == 1 for r in STREAM_REASONS)
    assert client.xpending(keys.events(0), GROUP)["pending"] == 0, "dead letters are acknowledged too"


@pytest.mark.parametrize("successor", ["crashed", "other"])
def test_consumer_crash_after_write_before_ack_given_successor_returns_clean_rows_once(
    successor: str, client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent], tmp_path: Path
) -> None:
    events = _symbols(btc_bars[:1200], 2)
    config = StreamConfig(buffer_size=250, allowed_lateness=timedelta(minutes=3))
    publish(client, events, 1, keys=keys)
    crashed = _worker(keys, redis_url, [ParquetSink(tmp_path)], config, consumer="crashed")
    crashed.start()
    assert crashed.step() == 250 and crashed.step() == 250
    # The crash: a third batch read, processed and written to the sink, then the process dies before commit.
    crashed.handle(crashed.read_batch())
    crashed.close()
    assert client.xpending(keys.events(0), GROUP)["pending"] == 250

    sink = ParquetSink(tmp_path)
    counters = _worker(keys, redis_url, [sink], config, consumer=successor).run(until_idle=True)

    _assert_parquet_equals(tmp_path, _clean_rows(events, config))
    assert sink.skipped > 0, "the replayed batch reached the sink and was recognised"
    assert (counters["released"], counters["acked"], counters["duplicates"]) == (1200, 1200, 0)
    assert counters["reclaimed"] == 250, "the pending batch is taken over at start, whoever left it"
    assert client.xpending(keys.events(0), GROUP)["pending"] == 0


def test_run_given_every_event_published_twice_returns_rows_once_and_counts_duplicates(
    client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent]
) -> None:
    events = _symbols(btc_bars[:300], 3)
    config = StreamConfig(buffer_size=100, dedup_horizon=timedelta(days=1))
    publish(client, events, 1, keys=keys)
    publish(client, events, 1, keys=keys)  # a producer that re-sent everything after a timeout
    sink = MemorySink()
    counters = _worker(keys, redis_url, [sink], config).run(until_idle=True)
    assert sorted((r.symbol, r.event_id) for r in sink.rows) == sorted((e.symbol, e.event_id) for e in events)
    assert (counters["released"], counters["duplicates"], counters["rejected_late"]) == (300, 300, 0)


def test_run_given_live_mode_returns_when_stopped_after_processing_new_entries(
    client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent]
) -> None:
    sink, stop = MemorySink(), threading.Event()
    worker = _worker(keys, redis_url, [sink], StreamConfig(), block_ms=50)
    worker.start()
    thread = threading.Thread(target=worker.run, kwargs={"stop": stop})
    thread.start()
    publish(client, btc_bars[:100], 1, keys=keys)  # arrives while the worker blocks on XREADGROUP
    deadline = time.monotonic() + 10.0
    while read_counters(client, keys, 0).get("acked", 0) < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5.0)
    assert not thread.is_alive()
    assert [r.event_id for r in sink.rows] == [e.event_id for e in btc_bars[:100]]


class DiskFullOnce(ParquetSink):
    """A ParquetSink whose n-th write fails before writing anything, as a full disk would."""

    def __init__(self, root: Path, fail_on: int) -> None:
        super().__init__(root)
        self.calls, self.fail_on = 0, fail_on

    def write(self, rows: Sequence[FeatureRow]) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise OSError(28, "No space left on device")
        super().write(rows)


@pytest.mark.parametrize("fail_on", [1, 3], ids=["before-any-commit", "after-two-commits"])
def test_run_given_sink_failure_then_rerun_returns_clean_rows_once(
    fail_on: int, client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent], tmp_path: Path
) -> None:
    events = _symbols(btc_bars[:900], 3)
    config = StreamConfig(buffer_size=200, allowed_lateness=timedelta(minutes=2))
    publish(client, events, 1, keys=keys)
    worker = _worker(keys, redis_url, [DiskFullOnce(tmp_path, fail_on)], config)
    with pytest.raises(OSError, match="No space"):
        worker.run(until_idle=True)
    assert client.xpending(keys.events(0), GROUP)["pending"] == 200, "the failed batch stays unacknowledged"
    counters = worker.run(until_idle=True)  # the supervisor's restart: start() restores the last commit
    _assert_parquet_equals(tmp_path, _clean_rows(events, config))
    assert (counters["released"], counters["acked"]) == (900, 900)


class LossyClient:
    """A real client whose next reply to ``command`` is lost after Redis executed it (a dropped connection)."""

    def __init__(self, inner: redis.Redis, command: str) -> None:
        self._inner = inner
        self.lose = {command}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def xreadgroup(self, *args: Any, **kwargs: Any) -> Any:
        reply = self._inner.xreadgroup(*args, **kwargs)
        self._drop_reply("xreadgroup", reply and reply[0][1])  # only a reply that delivered entries
        return reply

    def pipeline(self, transaction: bool = True) -> Any:
        pipe = self._inner.pipeline(transaction=transaction)
        real_execute = pipe.execute

        def execute(*args: Any, **kwargs: Any) -> Any:
            reply = real_execute(*args, **kwargs)
            self._drop_reply("exec", reply)
            return reply

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    def _drop_reply(self, command: str, reply: Any) -> None:
        if command in self.lose and reply:
            self.lose.discard(command)
            raise redis.ConnectionError(f"connection lost before the {command} reply")


@pytest.mark.parametrize("command", ["xreadgroup", "exec"])
def test_run_given_lost_reply_returns_every_event_once(
    command: str, client: redis.Redis, keys: StreamKeys, redis_url: str, btc_bars: list[MarketEvent]
) -> None:
    events = [dataclasses.replace(e, symbol="X") for e in btc_bars[:400]]
    # The bad entry first: the first batch, whose reply is lost, carries a dead letter.
    client.xadd(keys.events(0), {"event": b"not json"})
    publish(client, events, 1, keys=keys)
    lossy: list[LossyClient] = []

    def factory(settings: WorkerSettings) -> Any:
        lossy.append(LossyClient(connect(settings.url), command))
        return lossy[-1]

    sink = MemorySink()
    options = WorkerSettings(url=redis_url, prefix=keys.prefix, retry=FAST_RETRY)
    worker = PartitionWorker(StreamConfig(buffer_size=150), 0, [sink], settings=options, client_factory=factory)
    counters = worker.run(until_idle=True)
    assert not lossy[0].lose, "the reply was lost once"
    assert [r.event_id for r in sink.rows] == [e.event_id for e in events]
    assert counters["redis_retries"] == 1 and counters["released"] == 400
    assert client.xlen(keys.deadletter) == 1, "a commit retried after a lost EXEC reply is not applied twice"
    assert read_counters(client, keys, 0) == counters


def test_start_given_unreachable_redis_raises_stream_unavailable_naming_url() -> None:
    url = "redis://:hunter2@127.0.0.1:1/0"
    worker = PartitionWorker(StreamConfig(), 0, [MemorySink()], settings=WorkerSettings(url=url, timeout_s=2.0))
    with pytest.raises(StreamUnavailable, match=r"redis://\*\*\*@127\.0\.0\.1:1/0") as caught:
        worker.start()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"), [("block_ms", -1), ("claim_min_idle_ms", 0.5), ("timeout_s", 0.5), ("prefix", "")]
)
def test_worker_settings_given_bad_value_raises_naming_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        WorkerSettings(**{field: value})  # type: ignore[arg-type]


def test_worker_given_partition_outside_parallelism_raises_naming_partition() -> None:
    with pytest.raises(ValueError, match="partition"):
        PartitionWorker(StreamConfig(parallelism=2), 2, [MemorySink()])
