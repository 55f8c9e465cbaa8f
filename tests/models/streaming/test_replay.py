"""File replay: curated frames become events like the offline path sees them; pacing follows event time."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models.features.batch import event_arrays, events_frame
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from models.streaming.events import MarketEvent
from models.streaming.processor import KeyedProcessor, StreamConfig
from models.streaming.replay import events_from_dataset, events_from_frame, feed, replay

SECOND = 1_000_000_000


class FakeClock:
    """Monotonic seconds that advance only when the replay sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _events(offsets_s: list[float]) -> list[MarketEvent]:
    return [
        MarketEvent(symbol="X", timestamp_ns=1_700_000_000 * SECOND + int(s * SECOND), event_id=f"{i}", close=1.0)
        for i, s in enumerate(offsets_s)
    ]


def test_replay_given_speed_returns_events_paced_by_event_time_over_speed() -> None:
    clock = FakeClock()
    out = list(replay(_events([0.0, 1.0, 1.0, 4.0]), speed=2.0, clock=clock, sleep=clock.sleep))
    assert [e.event_id for e in out] == ["0", "1", "2", "3"]
    assert clock.sleeps == pytest.approx([0.5, 1.5])
    assert clock.now == pytest.approx(102.0)


def test_replay_given_no_speed_returns_events_without_sleeping() -> None:
    clock = FakeClock()
    assert len(list(replay(_events([0.0, 10.0]), clock=clock, sleep=clock.sleep))) == 2
    assert clock.sleeps == []


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_replay_given_non_positive_speed_raises_naming_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        list(replay(_events([0.0]), speed=speed))


@pytest.mark.parametrize(("symbol", "kind"), [("BTCUSDT", "trades"), ("BTCUSDT", "quotes"), ("EURUSD", "quotes")])
def test_events_from_dataset_given_sample_returns_offline_event_columns(symbol: str, kind: str) -> None:
    dataset = next(d for d in SAMPLES if d.symbol == symbol and d.kind == kind)
    frame = dataset.load().frame
    events = events_from_dataset(dataset)
    expected = events_frame(frame, kind)
    assert len(events) == len(frame)
    for name in ("close", "volume", "bid", "ask", "bid_size", "ask_size"):
        np.testing.assert_array_equal(np.array([getattr(e, name) for e in events]), expected[name].to_numpy())
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids sort like the rows"
    # volume NaN (absent) in the event is what event_arrays turns into 0 for the kernel.
    assert event_arrays(expected)["volume"].min() >= 0.0


def test_events_from_frame_given_trades_returns_quote_currency_volume() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02T00:00:00Z", "2024-01-02T00:00:01Z"]),
            "price": [10.0, 20.0],
            "size": [2.0, 0.5],
        }
    )
    events = events_from_frame(frame, DataKind.TRADES, "X")
    assert [(e.close, e.volume) for e in events] == [(10.0, 20.0), (20.0, 10.0)]
    assert events[1].timestamp_ns - events[0].timestamp_ns == SECOND


def test_feed_given_flush_returns_every_buffered_event_at_the_end() -> None:
    processor = KeyedProcessor(StreamConfig(allowed_lateness=timedelta(hours=1)))
    batches = list(feed(processor, _events([0.0, 1.0, 2.0]), batch_size=2))
    assert [len(rows) for rows in batches] == [0, 0, 3]
    assert processor.counters()["released"] == 3
