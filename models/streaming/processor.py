"""Keyed event-time processing: per symbol a reorder buffer, a watermark and a ``FeatureEngine``.

The shape is Flink's keyed process function with bounded out-of-orderness watermarks (Flink docs,
"Generating Watermarks"): per symbol the watermark is the largest event time seen minus
``allowed_lateness``; buffered events at or below it are released in (timestamp_ns, event_id) order
into the symbol's engine. Every decision (release, duplicate, late) is taken event by event, so the
output depends only on the order of the events, never on how they were cut into batches: a
restarted worker that replays the same entries from its checkpoint emits the same rows.

Released events of one symbol within a batch go through ``FeatureEngine.update_many``, the same
numba kernel as ``update``, so batching changes the cost, not a single bit of the output.
"""

from __future__ import annotations

import hashlib
import heapq
import operator
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

import numpy as np

from models.features.definitions import FeatureConfig, feature_names
from models.features.engine import FeatureEngine
from models.streaming.events import EventRejected, MarketEvent, Reason

CHECKPOINT_VERSION = 1
DEFAULT_FEATURES = FeatureConfig()
_US = timedelta(microseconds=1)
_EVENT_FIELDS = ("close", "high", "low", "volume", "bid", "ask", "bid_size", "ask_size")
_EVENT_VALUES = operator.attrgetter(*_EVENT_FIELDS)


def _ns(delta: timedelta) -> int:
    return delta // _US * 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamConfig:
    """The streaming job; ``parallelism`` and ``buffer_size`` mirror the seed's ``FlinkConfig``."""

    parallelism: int = 1
    """Partitions of the event stream, one worker each; a symbol always maps to the same partition."""
    buffer_size: int = 10_000
    """Stream entries a worker reads per batch (XREADGROUP COUNT); one checkpoint and one XACK per batch."""
    allowed_lateness: timedelta = timedelta(0)
    """Event-time disorder tolerated per symbol. Each event is held back until an event this much newer
    arrives, so this is also the feature latency in event time: 0 releases every event at once and
    rejects any reordering as ``late``."""
    max_future: timedelta = timedelta(seconds=5)
    """An event stamped further ahead of the receiver's clock is rejected ``future_timestamp``."""
    dedup_horizon: timedelta = timedelta(minutes=1)
    """How far back (event time, behind the newest event of the symbol) released keys are remembered: a
    repeat within it counts as a duplicate, an older repeat is rejected ``late``. Either way it is never
    folded in twice. The remembered keys are part of every checkpoint, so this bounds its size."""

    def __post_init__(self) -> None:
        for name in ("parallelism", "buffer_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        for name in ("allowed_lateness", "max_future", "dedup_horizon"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise ValueError(f"{name}: must be a timedelta >= 0, got {value!r}")


def partition_of(symbol: str, parallelism: int) -> int:
    """Partition of ``symbol``: the first 8 bytes of BLAKE2b of its UTF-8 bytes, big-endian, modulo ``parallelism``.

    Stable across processes and machines (Python's ``hash`` of a str is salted per process), so a
    symbol's events and state always live on one worker. Not CRC-32: its low bits are a linear
    function of the input, and symbols that differ in one character (``SYM0`` .. ``SYM3``) all land on
    the same one of two partitions.
    """
    digest = hashlib.blake2b(symbol.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % parallelism


class FeatureRow(NamedTuple):
    """The feature vector (in ``KeyedProcessor.names`` order, read-only) computed at one event.

    A NamedTuple rather than a dataclass: one is built per event and tuple construction is the
    cheapest immutable record in CPython.
    """

    symbol: str
    timestamp_ns: int
    event_id: str
    vector: np.ndarray


class Processed(NamedTuple):
    """What one ``process`` call produced: rows, and (index into the input, reason) of each rejected event."""

    rows: list[FeatureRow]
    rejected: list[tuple[int, EventRejected]]


_DUPLICATE = "duplicate"
_TUPLE_NEW = tuple.__new__


class _SymbolState:
    """One symbol: its engine, reorder heap, remembered keys and the last released key."""

    __slots__ = ("engine", "heap", "last_key", "max_ts", "recent", "seen")

    def __init__(self, engine: FeatureEngine) -> None:
        self.engine = engine
        self.heap: list[tuple[int, str, MarketEvent]] = []
        self.seen: set[tuple[int, str]] = set()
        """Keys of buffered events and of ``recent``."""
        self.recent: deque[tuple[int, str]] = deque()
        """Released keys within the dedup horizon, oldest first (release order is key order)."""
        self.last_key: tuple[int, str] | None = None
        self.max_ts: int | None = None

    def push(self, event: MarketEvent, lateness_ns: int, horizon_ns: int, ready: list[MarketEvent]) -> str | None:
        """Buffer ``event`` and move what the watermark passed to ``ready``; a verdict when it is refused."""
        # Once per event on the decision path: the state's containers are read into locals once.
        ts = event.timestamp_ns
        key = (ts, event.event_id)
        last, seen = self.last_key, self.seen
        if last is not None and key <= last:
            return _DUPLICATE if key == last or key in seen else Reason.LATE
        if key in seen:
            return _DUPLICATE
        seen.add(key)
        max_ts = self.max_ts
        if max_ts is None or ts > max_ts:
            max_ts = self.max_ts = ts
        watermark = max_ts - lateness_ns
        recent = self.recent
        if not self.heap and ts <= watermark:
            # In-order fast path: nothing is buffered and this key exceeds the last released one.
            self.last_key = key
            recent.append(key)
            ready.append(event)
        else:
            heapq.heappush(self.heap, (ts, key[1], event))
            self.release(watermark, ready)
        cutoff = max_ts - horizon_ns
        while recent and recent[0][0] < cutoff:
            seen.discard(recent.popleft())
        return None

    def release(self, watermark: int | None, ready: list[MarketEvent]) -> None:
        """Pop buffered events at or below ``watermark`` (all of them for None) in key order."""
        heap = self.heap
        while heap and (watermark is None or heap[0][0] <= watermark):
            ts, event_id, event = heapq.heappop(heap)
            self.last_key = (ts, event_id)
            self.recent.append(self.last_key)
            ready.append(event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine.state_dict(),
            "buffer": [_event_state(item[2]) for item in sorted(self.heap)],
            "recent": [list(key) for key in self.recent],
            "last_key": None if self.last_key is None else list(self.last_key),
            "max_ts": self.max_ts,
        }

    @classmethod
    def from_dict(cls, symbol: str, data: Mapping[str, Any]) -> _SymbolState:
        state = cls(FeatureEngine.from_state_dict(data["engine"]))
        state.heap = [
            (e.timestamp_ns, e.event_id, e) for e in (_event_from_state(symbol, row) for row in data["buffer"])
        ]
        heapq.heapify(state.heap)
        state.recent = deque((int(ts), str(event_id)) for ts, event_id in data["recent"])
        state.seen = {(ts, event_id) for ts, event_id, _ in state.heap} | set(state.recent)
        last = data["last_key"]
        state.last_key = None if last is None else (int(last[0]), str(last[1]))
        state.max_ts = None if data["max_ts"] is None else int(data["max_ts"])
        return state


def _event_state(event: MarketEvent) -> list[Any]:
    """A buffered event as a JSON list; NaN becomes null so the checkpoint is strict JSON."""
    values = _EVENT_VALUES(event)
    return [event.timestamp_ns, event.event_id, *(None if v != v else v for v in values)]


def _event_from_state(symbol: str, row: Sequence[Any]) -> MarketEvent:
    values = {name: float("nan") if v is None else float(v) for name, v in zip(_EVENT_FIELDS, row[2:], strict=True)}
    return MarketEvent(symbol=symbol, timestamp_ns=int(row[0]), event_id=str(row[1]), **values)


def _counter_names() -> list[str]:
    return ["received", "released", "duplicates", *(f"rejected_{reason.value}" for reason in Reason)]


class KeyedProcessor:
    """Events in, feature rows out, keyed by symbol; ``checkpoint``/``restore`` make it restartable.

    Counters: ``received`` (events given to ``process``), ``released`` (folded into an engine, one row
    each), ``duplicates``, ``rejected_<reason>``, plus whatever a caller adds with ``count`` (the
    worker counts parse rejections and acks here, so they are checkpointed with the state they
    describe and a replay never counts twice).
    """

    def __init__(self, config: StreamConfig = StreamConfig(), features: FeatureConfig = DEFAULT_FEATURES) -> None:
        self.config = config
        self.features = features
        self.names: tuple[str, ...] = feature_names(features)
        self._lateness_ns = _ns(config.allowed_lateness)
        self._horizon_ns = _ns(config.dedup_horizon)
        self._symbols: dict[str, _SymbolState] = {}
        self._counters: dict[str, int] = dict.fromkeys(_counter_names(), 0)
        self._dirty: set[str] = set()

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._symbols)

    def watermark(self, symbol: str) -> int | None:
        """Event time (ns) up to which ``symbol`` has been released; None before its first event."""
        state = self._symbols.get(symbol)
        return None if state is None or state.max_ts is None else state.max_ts - self._lateness_ns

    def buffered(self, symbol: str) -> int:
        state = self._symbols.get(symbol)
        return 0 if state is None else len(state.heap)

    def process(self, events: Sequence[MarketEvent]) -> Processed:
        """Fold ``events`` in; rows come out per symbol in key order, only for events the watermark passed."""
        ready: dict[str, list[MarketEvent]] = {}
        rejected: list[tuple[int, EventRejected]] = []
        duplicates = 0
        for i, event in enumerate(events):
            symbol = event.symbol
            state = self._symbols.get(symbol) or self._add(symbol)
            out = ready.get(symbol)
            if out is None:
                out = ready[symbol] = []
            verdict = state.push(event, self._lateness_ns, self._horizon_ns, out)
            if verdict is _DUPLICATE:
                duplicates += 1
            elif verdict is not None:
                rejected.append((i, _late(event, state)))
        self._counters["received"] += len(events)
        self._counters["duplicates"] += duplicates
        self._counters["rejected_late"] += len(rejected)
        self._dirty.update(ready)
        return Processed(self._fold(ready), rejected)

    def process_one(self, event: MarketEvent) -> list[FeatureRow]:
        """``process([event])`` without the batch bookkeeping: the rows released (none for a duplicate).

        A late event raises ``EventRejected``. The decision path calls this once per event; a lone released
        event goes through ``FeatureEngine.update``, the kernel ``update_many`` runs per row: same bits.
        """
        symbol = event.symbol
        state = self._symbols.get(symbol) or self._add(symbol)
        ready: list[MarketEvent] = []
        verdict = state.push(event, self._lateness_ns, self._horizon_ns, ready)
        counters = self._counters
        counters["received"] += 1
        if verdict is _DUPLICATE:
            counters["duplicates"] += 1
            return []
        if verdict is not None:
            counters["rejected_late"] += 1
            raise _late(event, state)
        if not ready:
            return []
        self._dirty.add(symbol)
        counters["released"] += len(ready)
        if len(ready) > 1:
            return self._fold_symbol(symbol, ready)
        e = ready[0]
        ts = e.timestamp_ns
        vector = state.engine.update(ts, e.close, e.high, e.low, e.volume, e.bid, e.ask, e.bid_size, e.ask_size)
        vector.setflags(write=False)  # what ``flags.writeable = False`` does, without building a flags object
        # tuple.__new__ is what FeatureRow(...) runs, minus the generated Python __new__ it goes through.
        return [_TUPLE_NEW(FeatureRow, (symbol, ts, e.event_id, vector))]

    def flush(self) -> list[FeatureRow]:
        """Release every buffered event (the end of a replay); later events older than them are late."""
        ready: dict[str, list[MarketEvent]] = {}
        for symbol, state in self._symbols.items():
            if state.heap:
                state.release(None, ready.setdefault(symbol, []))
                self._dirty.add(symbol)
        return self._fold(ready)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (created at 0); checkpointed with the processor's state."""
        self._counters[name] = self._counters.get(name, 0) + n

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def take_dirty(self) -> set[str]:
        """Symbols whose state changed since the last call: what an incremental checkpoint must save."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def checkpoint(self, symbols: Collection[str] | None = None) -> dict[str, Any]:
        """JSON-serialisable snapshot: counters and, per symbol, engine state, buffer and dedup keys.

        With ``symbols``, only those symbols' states (an incremental checkpoint, to be merged into the
        previous one by symbol); ``restore`` needs the merged, complete form.
        """
        chosen = self._symbols if symbols is None else {s: self._symbols[s] for s in symbols if s in self._symbols}
        return {
            "kind": "KeyedProcessor",
            "version": CHECKPOINT_VERSION,
            "counters": dict(self._counters),
            "symbols": {symbol: state.to_dict() for symbol, state in chosen.items()},
        }

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        """Replace all state with ``checkpoint``'s; the processor then continues exactly as the original."""
        if checkpoint.get("kind") != "KeyedProcessor" or checkpoint.get("version") != CHECKPOINT_VERSION:
            raise ValueError(
                f"not a KeyedProcessor checkpoint of version {CHECKPOINT_VERSION}: {checkpoint.get('kind')!r}"
            )
        symbols = {symbol: _SymbolState.from_dict(symbol, data) for symbol, data in checkpoint["symbols"].items()}
        for symbol, state in symbols.items():
            if state.engine.names != self.names or state.engine.config != self.features:
                raise ValueError(f"checkpoint: {symbol}'s engine was built with a different FeatureConfig")
        self._symbols = symbols
        self._counters = dict.fromkeys(_counter_names(), 0) | {k: int(v) for k, v in checkpoint["counters"].items()}
        self._dirty = set()

    def _add(self, symbol: str) -> _SymbolState:
        state = self._symbols[symbol] = _SymbolState(FeatureEngine(self.features))
        return state

    def _fold(self, ready: Mapping[str, list[MarketEvent]]) -> list[FeatureRow]:
        rows: list[FeatureRow] = []
        for symbol, events in ready.items():
            if events:
                rows.extend(self._fold_symbol(symbol, events))
        self._counters["released"] += len(rows)
        return rows

    def _fold_symbol(self, symbol: str, events: list[MarketEvent]) -> list[FeatureRow]:
        n = len(events)
        ts = np.fromiter((e.timestamp_ns for e in events), dtype=np.int64, count=n)
        values = np.array([_EVENT_VALUES(e) for e in events], dtype=np.float64)
        columns = [np.ascontiguousarray(values[:, j]) for j in range(len(_EVENT_FIELDS))]
        matrix = self._symbols[symbol].engine.update_many(ts, *columns)
        matrix.flags.writeable = False
        return [FeatureRow(symbol, e.timestamp_ns, e.event_id, matrix[i]) for i, e in enumerate(events)]


def _late(event: MarketEvent, state: _SymbolState) -> EventRejected:
    return EventRejected(
        Reason.LATE,
        f"{event.symbol} event {event.event_id!r} at {event.timestamp_ns} ns is older than the last released "
        f"event {state.last_key} (allowed lateness exceeded)",
    )
