"""File replay: the embedded market-event source (DESIGN.md, "market event ingress").

A curated market-data frame (bars, quotes, trades or book snapshots, as ``models.marketdata``
loads them) becomes ``MarketEvent``s through ``models.features.batch.events_frame``, the mapping the
offline features use, so a replayed stream and the batch path see identical inputs. ``replay`` paces
any time-ordered events as fast as possible or at k times real time; its clock and sleep are
injectable so tests never wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from models.features.batch import EVENT_COLUMNS, events_frame, timestamp_ns
from models.marketdata.samples import SampleDataset
from models.marketdata.schema import TIME, DataKind
from models.streaming.events import MarketEvent
from models.streaming.processor import FeatureRow, KeyedProcessor


def events_from_frame(frame: pd.DataFrame, kind: DataKind | str, symbol: str) -> list[MarketEvent]:
    """One event per row of a curated frame, in row order.

    Event ids are ``<symbol>:<row position, zero-padded to 10 digits>``: unique, stable across
    replays, and sorting like the rows, so events sharing a timestamp keep the file's order (the
    processor breaks timestamp ties by event id). Raises ``EventRejected`` on a row the streaming
    record refuses; a curated frame has none.
    """
    events = events_frame(frame, kind)
    ts = timestamp_ns(events[TIME]).tolist()
    columns = [events[name].to_numpy(dtype=np.float64).tolist() for name in EVENT_COLUMNS]
    return [
        MarketEvent(
            symbol=symbol, timestamp_ns=t, event_id=f"{symbol}:{i:010d}", **dict(zip(EVENT_COLUMNS, row, strict=True))
        )
        for i, (t, *row) in enumerate(zip(ts, *columns, strict=True))
    ]


def events_from_dataset(dataset: SampleDataset) -> list[MarketEvent]:
    """The events of one shipped sample (``models.marketdata.samples.SAMPLES``), loaded and validated."""
    return events_from_frame(dataset.load().frame, dataset.kind, dataset.symbol)


def replay(
    events: Iterable[MarketEvent],
    *,
    speed: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[MarketEvent]:
    """Yield ``events`` as fast as possible (``speed`` None) or at ``speed`` times real time.

    Paced against the first event: event i is due ``(t_i - t_0) / speed`` seconds after the replay
    started. Delays are computed from the start, not from the previous event, so sleeping late never
    accumulates drift. ``clock`` is monotonic seconds.
    """
    if speed is not None and not (math.isfinite(speed) and speed > 0.0):
        raise ValueError(f"speed: must be a finite number > 0 or None, got {speed!r}")
    start_wall: float | None = None
    start_ts = 0
    for event in events:
        if speed is not None:
            if start_wall is None:
                start_wall, start_ts = clock(), event.timestamp_ns
            delay = start_wall + (event.timestamp_ns - start_ts) / 1e9 / speed - clock()
            if delay > 0.0:
                sleep(delay)
        yield event


def feed(
    processor: KeyedProcessor,
    events: Iterable[MarketEvent],
    *,
    batch_size: int | None = None,
    flush: bool = True,
) -> Iterator[list[FeatureRow]]:
    """Drive ``processor`` with ``events`` in batches (default: its ``buffer_size``); yield each batch's rows.

    Late events are counted by the processor and dropped here; the Redis worker dead-letters them.
    With ``flush`` the buffers are released after the last event (a finite replay).
    """
    size = processor.config.buffer_size if batch_size is None else batch_size
    if size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {size}")
    batch: list[MarketEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield processor.process(batch).rows
            batch = []
    if batch:
        yield processor.process(batch).rows
    if flush:
        yield processor.flush()
