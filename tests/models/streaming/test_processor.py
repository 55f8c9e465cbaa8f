"""KeyedProcessor: event-time reordering, late and duplicate events, real-data parity, checkpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta

import numpy as np
import pytest

from models.features.definitions import FeatureConfig
from models.features.engine import FeatureEngine
from models.marketdata.samples import SAMPLES
from models.seeding import make_rng
from models.streaming.events import MarketEvent, Reason
from models.streaming.processor import FeatureRow, KeyedProcessor, StreamConfig, partition_of
from models.streaming.replay import events_from_dataset, feed

MINUTE = 60_000_000_000
FIELDS = ("close", "high", "low", "volume", "bid", "ask", "bid_size", "ask_size")


@pytest.fixture(scope="module")
def btc_bars() -> list[MarketEvent]:
    return events_from_dataset(next(d for d in SAMPLES if d.symbol == "BTC-PERP"))


@pytest.fixture(scope="module")
def btc_quotes() -> list[MarketEvent]:
    return events_from_dataset(next(d for d in SAMPLES if d.symbol == "BTCUSDT" and d.kind == "quotes"))


def _reference(events: list[MarketEvent]) -> np.ndarray:
    """What FeatureEngine.update_many gives over the same events in order."""
    ts = np.array([e.timestamp_ns for e in events], dtype=np.int64)
    return FeatureEngine().update_many(ts, *(np.array([getattr(e, f) for e in events]) for f in FIELDS))


def _matrix(rows: list[FeatureRow]) -> np.ndarray:
    return np.vstack([r.vector for r in rows])


def _by_symbol(rows: list[FeatureRow]) -> list[FeatureRow]:
    return sorted(rows, key=lambda r: (r.symbol, r.timestamp_ns, r.event_id))


def _run(processor: KeyedProcessor, events: list[MarketEvent], batch_size: int = 1000) -> list[FeatureRow]:
    return [row for rows in feed(processor, events, batch_size=batch_size) for row in rows]


def _event(ts_minutes: int, event_id: str = "", symbol: str = "X", close: float = 100.0) -> MarketEvent:
    return MarketEvent(
        symbol=symbol,
        timestamp_ns=1_700_000_000 * 10**9 + ts_minutes * MINUTE,
        event_id=event_id or str(ts_minutes),
        close=close,
    )


@pytest.mark.parametrize("dataset", ["btc_bars", "btc_quotes"])
def test_process_given_real_dataset_returns_update_many_bitwise(dataset: str, request: pytest.FixtureRequest) -> None:
    events: list[MarketEvent] = request.getfixturevalue(dataset)
    rows = _run(KeyedProcessor(StreamConfig(allowed_lateness=timedelta(minutes=3))), events, batch_size=777)
    assert [r.event_id for r in rows] == [e.event_id for e in events]
    assert _matrix(rows).tobytes() == _reference(events).tobytes()


def test_process_given_shuffle_within_lateness_returns_same_features_as_in_order(btc_bars: list[MarketEvent]) -> None:
    lateness = 5 * MINUTE
    rng = make_rng(7)
    # Each event arrives up to `lateness` after its own time: disorder bounded by the allowed lateness.
    arrival = np.array([e.timestamp_ns for e in btc_bars]) + rng.integers(0, lateness, len(btc_bars))
    shuffled = [btc_bars[i] for i in np.argsort(arrival, kind="stable")]
    assert shuffled != btc_bars
    config = StreamConfig(allowed_lateness=timedelta(minutes=5))
    in_order = _run(KeyedProcessor(config), btc_bars)
    processor = KeyedProcessor(config)
    out_of_order = _run(processor, shuffled)
    assert processor.counters()["rejected_late"] == 0
    assert [r.event_id for r in out_of_order] == [r.event_id for r in in_order]
    assert _matrix(out_of_order).tobytes() == _matrix(in_order).tobytes()


def test_process_given_event_beyond_lateness_returns_late_rejection_and_no_row() -> None:
    processor = KeyedProcessor(StreamConfig(allowed_lateness=timedelta(minutes=2)))
    result = processor.process([_event(0), _event(5), _event(2), _event(4)])
    assert [r.event_id for r in result.rows] == ["0", "2"]
    assert [(i, exc.reason) for i, exc in result.rejected] == []
    late = processor.process([_event(1), _event(3)])
    assert [(i, exc.reason) for i, exc in late.rejected] == [(0, Reason.LATE)]
    assert "older than the last released" in late.rejected[0][1].detail
    assert [r.event_id for r in late.rows] == ["3"], "3 is newer than the last released event (2)"
    assert processor.counters()["rejected_late"] == 1
    assert [r.event_id for r in processor.flush()] == ["4", "5"]


def test_process_given_duplicates_returns_one_row_per_event_and_counts_duplicates() -> None:
    processor = KeyedProcessor(StreamConfig(allowed_lateness=timedelta(minutes=1), dedup_horizon=timedelta(minutes=3)))
    first = processor.process([_event(0), _event(1), _event(2), _event(2)])  # a buffered one repeated
    again = processor.process([_event(0), _event(1), _event(3)])  # released ones repeated
    rows = [*first.rows, *again.rows, *processor.flush()]
    assert [r.event_id for r in rows] == ["0", "1", "2", "3"]
    counters = processor.counters()
    assert (counters["received"], counters["released"], counters["duplicates"]) == (7, 4, 3)
    assert counters["rejected_late"] == 0


def test_process_given_repeat_older_than_dedup_horizon_returns_late_not_a_second_row() -> None:
    processor = KeyedProcessor(StreamConfig(dedup_horizon=timedelta(minutes=2)))
    processor.process([_event(m) for m in range(10)])
    result = processor.process([_event(1)])
    assert result.rows == [] and [exc.reason for _, exc in result.rejected] == [Reason.LATE]
    assert processor.counters()["released"] == 10


def test_process_given_equal_timestamps_returns_event_id_order_whatever_the_arrival() -> None:
    processor = KeyedProcessor(StreamConfig(allowed_lateness=timedelta(minutes=1)))
    rows = [*processor.process([_event(0, "b"), _event(0, "a"), _event(0, "c")]).rows, *processor.flush()]
    assert [r.event_id for r in rows] == ["a", "b", "c"]


def test_process_given_different_batch_cuts_returns_identical_rows(btc_bars: list[MarketEvent]) -> None:
    events = [dataclasses.replace(e, symbol=f"S{i % 3}") for i, e in enumerate(btc_bars[:3000])]
    config = StreamConfig(allowed_lateness=timedelta(minutes=4))
    whole = _by_symbol(_run(KeyedProcessor(config), events, batch_size=3000))
    cut = _by_symbol(_run(KeyedProcessor(config), events, batch_size=37))
    assert [(r.symbol, r.event_id) for r in cut] == [(r.symbol, r.event_id) for r in whole]
    assert _matrix(cut).tobytes() == _matrix(whole).tobytes()


def test_restore_given_json_checkpoint_mid_stream_continues_identically(btc_bars: list[MarketEvent]) -> None:
    events = [dataclasses.replace(e, symbol=f"S{i % 2}") for i, e in enumerate(btc_bars[:2000])]
    config = StreamConfig(allowed_lateness=timedelta(minutes=3))
    unbroken = KeyedProcessor(config)
    expected = _run(unbroken, events, batch_size=250)
    first = KeyedProcessor(config)
    head = first.process(events[:1111]).rows
    assert first.buffered("S0") > 0, "the checkpoint must carry buffered events"
    saved = json.loads(json.dumps(first.checkpoint(), allow_nan=False))
    second = KeyedProcessor(config)
    second.restore(saved)
    tail = _run(second, events[1111:], batch_size=250)
    # Rows come out grouped by symbol within a batch, so compare each symbol's sequence.
    resumed, reference = _by_symbol(head + tail), _by_symbol(expected)
    assert [(r.symbol, r.event_id) for r in resumed] == [(r.symbol, r.event_id) for r in reference]
    assert _matrix(resumed).tobytes() == _matrix(reference).tobytes()
    assert second.counters() == unbroken.counters()


def test_checkpoint_given_symbols_returns_only_those_states() -> None:
    processor = KeyedProcessor()
    processor.process([_event(0, symbol="A"), _event(0, symbol="B")])
    assert processor.take_dirty() == {"A", "B"}
    processor.process([_event(1, symbol="B")])
    dirty = processor.take_dirty()
    assert dirty == {"B"} and set(processor.checkpoint(dirty)["symbols"]) == {"B"}


def test_restore_given_checkpoint_of_other_feature_config_raises_naming_config() -> None:
    other = KeyedProcessor(features=FeatureConfig(zscore_window=20))
    other.process([_event(0)])
    with pytest.raises(ValueError, match="FeatureConfig"):
        KeyedProcessor().restore(other.checkpoint())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("parallelism", 0),
        ("buffer_size", 1.5),
        ("allowed_lateness", timedelta(seconds=-1)),
        ("max_future", 5),
        ("dedup_horizon", None),
    ],
)
def test_stream_config_given_bad_value_raises_naming_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        StreamConfig(**{field: value})  # type: ignore[arg-type]


def test_stream_config_given_unknown_field_raises() -> None:
    with pytest.raises(TypeError, match="checkpoint_interval"):
        StreamConfig(checkpoint_interval=5)  # type: ignore[call-arg]


def test_partition_of_given_symbol_returns_stable_well_spread_partition() -> None:
    # blake2b(b"BTC-PERP", digest_size=8), big-endian: the same on every platform and in every process.
    digest = int.from_bytes(hashlib.blake2b(b"BTC-PERP", digest_size=8).digest(), "big")
    assert partition_of("BTC-PERP", 7) == digest % 7 and partition_of("BTC-PERP", 1) == 0
    for parallelism in (2, 4):
        assert {partition_of(f"SYM{i}", parallelism) for i in range(4 * parallelism)} == set(range(parallelism))


def test_process_one_given_every_shipped_sample_returns_process_rows_bit_for_bit() -> None:
    """The decision path's single-event fast path folds exactly as the batch path does."""
    from models.features import events_frame
    from models.marketdata.samples import SAMPLES
    from models.streaming.events import parse_event
    from serving.decision.replay import frame_payloads

    for sample in SAMPLES:
        events = [parse_event(p) for p in frame_payloads(events_frame(sample.load().frame, sample.kind), sample.symbol)]
        batch, single = KeyedProcessor(), KeyedProcessor()
        expected = [row.vector for e in events for row in batch.process([e]).rows]
        got = [row.vector for e in events for row in single.process_one(e)]
        assert len(got) == len(expected) == len(events)
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(expected, got, strict=True)), sample.symbol
        assert single.counters() == batch.counters()


def test_process_one_given_released_event_returns_read_only_feature_row_like_process(
    btc_bars: list[MarketEvent],
) -> None:
    """The single-event row is the same record as the batch path's: a FeatureRow, its vector read-only."""
    batch, single = KeyedProcessor(), KeyedProcessor()
    for event in btc_bars[:50]:
        (expected,) = batch.process([event]).rows
        (got,) = single.process_one(event)
        assert type(got) is FeatureRow and got._fields == expected._fields
        assert got[:3] == expected[:3] == (event.symbol, event.timestamp_ns, event.event_id)
        assert not got.vector.flags.writeable and got.vector.dtype == np.float64
        assert np.array_equal(got.vector, expected.vector, equal_nan=True)
