"""One partition's pipeline worker: Redis Streams consumer group -> KeyedProcessor -> sinks -> commit.

Per batch (``step``): XREADGROUP up to ``buffer_size`` entries; parse each payload (a bad one
becomes a dead letter); ``KeyedProcessor.process`` (late events become dead letters); write the
rows to every sink; then commit in one MULTI/EXEC transaction: the dead letters (XADD), the
incremental checkpoint (HSET), the counters (HSET) and the XACK of every entry of the batch.

Why this is at-least-once delivery with exactly-once effect:

- An entry is acknowledged in the same transaction that stores the checkpoint containing its effect
  (its row's state in the engine, or the event itself while it waits in a reorder buffer), so an
  acknowledged entry is never needed again and an unacknowledged one is always replayed.
- A worker that dies after writing but before committing leaves its batch pending. The next worker
  for the partition (same consumer name, or another one via XAUTOCLAIM at start) restores the last
  checkpoint and reprocesses those entries; the processor is deterministic, so it produces the same
  rows, and sinks skip rows at or below the last key they hold (``sinks`` module docstring).
- If the connection drops during the commit and it is unclear whether EXEC ran, the retry first
  reads the checkpoint's commit sequence number: a commit is never applied twice.
- If a read's reply is lost, its entries sit in this consumer's pending list; after any read error
  the worker drains that list (XREADGROUP from id 0) before asking for new entries.

One worker per partition at a time: two live consumers of one partition would interleave and
overwrite one checkpoint. ``run_local`` and ``run_ray`` start exactly one per partition.

Counters (``counters()``, mirrored to ``<prefix>:stream:counters:<p>`` at every commit): the
processor's (received, released, duplicates, rejected_<reason> for parse and late rejections) plus
entries (stream entries read), acked, dead_lettered, reclaimed (pending entries taken over at
start), trimmed (entries deleted before processing) and redis_retries. They are part of the
checkpoint, so a replayed batch is never counted twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import redis

from models.features.definitions import FeatureConfig
from models.streaming.events import EventRejected, MarketEvent, parse_event
from models.streaming.processor import CHECKPOINT_VERSION, DEFAULT_FEATURES, KeyedProcessor, StreamConfig
from serving.streaming.redis_io import (
    DEFAULT_URL,
    EVENT_FIELD,
    RedisDown,
    RetryPolicy,
    StreamKeys,
    StreamUnavailable,
    connect,
    with_backoff,
)
from serving.streaming.sinks import FeatureSink

log = logging.getLogger(__name__)
T = TypeVar("T")
Entry = tuple[bytes, dict[bytes, bytes] | None]
_SYMBOL_FIELD = "symbol:"
_START = b"0-0"


class StopSignal(Protocol):
    """What ``run`` polls between batches: a ``threading.Event`` or a ``multiprocessing`` one."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerSettings:
    """Where and how a worker consumes; the job itself (parallelism, lateness, ...) is ``StreamConfig``."""

    url: str = DEFAULT_URL
    prefix: str = "rtopt"
    group: str = "rtopt-features"
    consumer: str | None = None
    """Consumer name; default ``partition-<p>``, stable, so a restarted worker finds its own pending entries."""
    block_ms: int = 1000
    """Longest wait for new entries in live mode; also how often ``run`` checks its stop event."""
    claim_min_idle_ms: int = 0
    """XAUTOCLAIM threshold at start. 0 takes over every pending entry at once, right for one worker
    per partition; raise it only if another consumer might still be alive and working."""
    timeout_s: float = 10.0
    """Socket timeout; longer than ``block_ms`` so a blocking read is not taken for a dead connection."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        for name in ("block_ms", "claim_min_idle_ms"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
        if not self.prefix or not self.group:
            raise ValueError(f"prefix/group: must not be empty, got {self.prefix!r}, {self.group!r}")
        if not self.timeout_s > self.block_ms / 1000.0:
            raise ValueError(f"timeout_s: must exceed block_ms ({self.block_ms} ms), got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class Batch:
    """One read's outcome, ready to commit: the entries to acknowledge and the dead letters to add."""

    entry_ids: list[bytes]
    dead_letters: list[dict[str, str | bytes]]


class PartitionWorker:
    """Consumes ``<prefix>:events:<partition>`` into ``sinks``; see the module docstring for the guarantees."""

    def __init__(
        self,
        config: StreamConfig,
        partition: int,
        sinks: Sequence[FeatureSink],
        *,
        settings: WorkerSettings = WorkerSettings(),
        features: FeatureConfig = DEFAULT_FEATURES,
        clock_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        client_factory: Callable[[WorkerSettings], redis.Redis] | None = None,
    ) -> None:
        """``clock_ns`` (epoch ns, for ``max_future``), ``sleep`` (backoff) and ``client_factory`` (default:
        ``connect(settings.url)``) are injectable so tests can fix time and put a lossy network in between."""
        if not 0 <= partition < config.parallelism:
            raise ValueError(f"partition: must lie in [0, {config.parallelism}), got {partition}")
        self.config = config
        self.partition = partition
        self.settings = settings
        self.sinks = tuple(sinks)
        self.features = features
        self.processor = KeyedProcessor(config, features)
        self.keys = StreamKeys(prefix=settings.prefix)
        self.stream = self.keys.events(partition)
        self.consumer = settings.consumer or f"partition-{partition}"
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._client_factory = client_factory or _default_client
        self._client: redis.Redis | None = None
        self._cursor: bytes | None = _START
        """Position in this consumer's own pending list while draining it; None reads new entries."""
        self._seq = 0

    def start(self) -> None:
        """Connect (``StreamUnavailable`` naming the URL if Redis does not answer), restore, reclaim."""
        client = self._client_factory(self.settings)
        try:
            client.ping()
        except (*RedisDown, OSError) as exc:
            raise StreamUnavailable(self.settings.url, f"no answer to PING ({exc})") from exc
        self._client = client
        # A fresh processor: a restart after a failed batch must not keep state the checkpoint lacks.
        self.processor, self._seq = KeyedProcessor(self.config, self.features), 0
        self._call(self._ensure_group, "XGROUP CREATE")
        self._call(self._restore, "load checkpoint")
        self._call(self._reclaim, "XAUTOCLAIM")
        self._cursor = _START
        log.info("%s: consumer %s started at commit %d", self.stream, self.consumer, self._seq)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def counters(self) -> dict[str, int]:
        return self.processor.counters()

    def run(self, *, until_idle: bool = False, stop: StopSignal | None = None) -> dict[str, int]:
        """Process batches until ``stop`` is set or, with ``until_idle``, until the stream is drained.

        ``until_idle`` is a finite replay: when nothing is left it flushes the reorder buffers and
        commits. Returns the counters.
        """
        if self._client is None:
            self.start()
        while stop is None or not stop.is_set():
            if self.step(block_ms=None if until_idle else self.settings.block_ms) == 0 and until_idle:
                self.finish()
                break
        return self.counters()

    def step(self, block_ms: int | None = None) -> int:
        """Read, handle and commit one batch; returns the number of stream entries it consumed.

        If anything fails (Redis gone for good, a sink raising), the in-memory state may be ahead of
        the last commit, so the worker disconnects; ``start`` (or ``run``) restores the checkpoint.
        """
        try:
            entries = self.read_batch(block_ms)
            if entries:
                self.commit(self.handle(entries))
        except BaseException:
            self.close()
            raise
        return len(entries)

    def finish(self) -> None:
        """Release every buffered event (end of a replay), write the rows and commit the state."""
        try:
            rows = self.processor.flush()
            self._write(rows)
            self.commit(Batch([], []))
        except BaseException:
            self.close()
            raise

    def read_batch(self, block_ms: int | None = None) -> list[Entry]:
        """Up to ``buffer_size`` entries: first this consumer's pending ones, then new ones."""

        def lost_reply(_: Exception) -> None:
            self._cursor = _START  # a lost reply may have delivered entries into the pending list

        return self._call(lambda: self._read(block_ms), "XREADGROUP", lost_reply)

    def handle(self, entries: Sequence[Entry]) -> Batch:
        """Parse, process and write one batch; nothing is acknowledged until ``commit``."""
        count = self.processor.count
        now_ns = self._clock_ns()
        events: list[MarketEvent] = []
        origin: list[int] = []
        dead: list[dict[str, str | bytes]] = []
        for index, (entry_id, fields) in enumerate(entries):
            if fields is None:
                log.error("%s: entry %s was deleted before it was processed", self.stream, entry_id)
                count("trimmed")
                continue
            payload = fields.get(EVENT_FIELD, b"")
            try:
                events.append(parse_event(payload, now_ns=now_ns, max_future=self.config.max_future))
                origin.append(index)
            except EventRejected as exc:
                count(f"rejected_{exc.reason.value}")
                dead.append(self._dead_letter(entry_id, payload, exc))
        processed = self.processor.process(events)
        for i, late in processed.rejected:
            entry_id, fields = entries[origin[i]]
            dead.append(self._dead_letter(entry_id, (fields or {}).get(EVENT_FIELD, b""), late))
        self._write(processed.rows)
        count("entries", len(entries))
        count("dead_lettered", len(dead))
        return Batch([entry_id for entry_id, _ in entries], dead)

    def commit(self, batch: Batch) -> None:
        """Atomically: dead letters, incremental checkpoint, counters, XACK (see the module docstring)."""
        self._seq += 1
        seq = self._seq
        self.processor.count("acked", len(batch.entry_ids))
        delta = self.processor.checkpoint(self.processor.take_dirty())
        fields: dict[str, str] = {_SYMBOL_FIELD + s: json.dumps(state) for s, state in delta["symbols"].items()}
        fields["meta"] = json.dumps({"seq": seq, "counters": delta["counters"]})
        attempted = False

        def attempt() -> None:
            nonlocal attempted
            if attempted and self._committed_seq() >= seq:
                return  # the lost reply belonged to an EXEC that ran
            attempted = True
            pipe = self._redis().pipeline(transaction=True)
            for letter in batch.dead_letters:
                pipe.xadd(self.keys.deadletter, cast(Any, letter))
            pipe.hset(self.keys.checkpoint(self.partition), mapping=cast(Any, fields))
            pipe.hset(self.keys.counters(self.partition), mapping=cast(Any, delta["counters"]))
            if batch.entry_ids:
                pipe.xack(self.stream, self.settings.group, *batch.entry_ids)
            pipe.execute()

        self._call(attempt, "commit")

    def _read(self, block_ms: int | None) -> list[Entry]:
        client, group, count = self._redis(), self.settings.group, self.config.buffer_size
        if self._cursor is not None:
            reply = client.xreadgroup(group, self.consumer, {self.stream: self._cursor}, count=count)
            entries = _entries(reply)
            if entries:
                self._cursor = entries[-1][0]
                return entries
            self._cursor = None
        return _entries(client.xreadgroup(group, self.consumer, {self.stream: ">"}, count=count, block=block_ms))

    def _write(self, rows: Sequence[Any]) -> None:
        if rows:
            for sink in self.sinks:
                sink.write(rows)

    def _dead_letter(self, entry_id: bytes, payload: bytes, exc: EventRejected) -> dict[str, str | bytes]:
        return {
            "reason": exc.reason.value,
            "detail": exc.detail,
            "payload": payload,
            "stream": self.stream,
            "entry_id": entry_id,
            "partition": str(self.partition),
            "consumer": self.consumer,
            "rejected_at_ns": str(self._clock_ns()),
        }

    def _ensure_group(self) -> None:
        try:
            self._redis().xgroup_create(self.stream, self.settings.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # BUSYGROUP: the group exists, which is the normal restart
                raise

    def _restore(self) -> None:
        stored = cast(dict[bytes, bytes], self._redis().hgetall(self.keys.checkpoint(self.partition)))
        if not stored:
            return
        meta = json.loads(stored[b"meta"])
        symbols = {
            name.decode()[len(_SYMBOL_FIELD) :]: json.loads(value)
            for name, value in stored.items()
            if name.startswith(_SYMBOL_FIELD.encode())
        }
        state = {
            "kind": "KeyedProcessor",
            "version": CHECKPOINT_VERSION,
            "counters": meta["counters"],
            "symbols": symbols,
        }
        self.processor.restore(state)
        self._seq = int(meta["seq"])

    def _reclaim(self) -> None:
        """Take over entries other consumers left pending (a crashed worker's batch); they are read back in order."""
        client, start, claimed = self._redis(), _START, 0
        while True:
            # Not JUSTID: redis-py's reply parser then drops the cursor needed to page through the list.
            group, idle, count = self.settings.group, self.settings.claim_min_idle_ms, self.config.buffer_size
            reply = cast(list[Any], client.xautoclaim(self.stream, group, self.consumer, idle, start, count=count))
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            claimed += len(entries)
            if deleted:
                log.error("%s: %d pending entries were deleted before processing", self.stream, len(deleted))
                self.processor.count("trimmed", len(deleted))
            if start in (_START, "0-0"):
                break
        if claimed:
            log.warning("%s: %s reclaimed %d pending entries", self.stream, self.consumer, claimed)
            self.processor.count("reclaimed", claimed)

    def _committed_seq(self) -> int:
        meta = self._redis().hget(self.keys.checkpoint(self.partition), "meta")
        return 0 if meta is None else int(json.loads(cast(bytes, meta))["seq"])

    def _redis(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError(f"{self.stream}: worker not started; call start()")
        return self._client

    def _call(self, fn: Callable[[], T], what: str, on_retry: Callable[[Exception], None] | None = None) -> T:
        def retried(exc: Exception) -> None:
            self.processor.count("redis_retries")
            if on_retry is not None:
                on_retry(exc)

        return with_backoff(
            fn,
            what=f"{self.stream} {what}",
            url=self.settings.url,
            policy=self.settings.retry,
            sleep=self._sleep,
            on_retry=retried,
        )


def _default_client(settings: WorkerSettings) -> redis.Redis:
    return connect(settings.url, timeout_s=settings.timeout_s)


def _entries(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREADGROUP reply (RESP2: [[stream, [(id, fields), ...]]], or None)."""
    if not reply:
        return []
    return cast(list[Entry], reply[0][1])


def read_counters(client: redis.Redis, keys: StreamKeys, partition: int) -> dict[str, int]:
    """The counters a worker mirrored to ``<prefix>:stream:counters:<partition>``."""
    raw = cast(Mapping[bytes, bytes], client.hgetall(keys.counters(partition)))
    return {name.decode(): int(value) for name, value in raw.items()}
