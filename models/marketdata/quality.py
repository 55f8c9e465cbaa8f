"""Quality measures over accepted market data: gaps, time range, ordering, crossed quotes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from models.marketdata.schema import TIME


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch with no rows: from the last row before it to the first row after it."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def length(self) -> timedelta:
        return (self.end - self.start).to_pytimedelta()


def find_gaps(timestamps: pd.Series, max_gap: timedelta) -> list[Gap]:
    """Every interval between consecutive rows longer than ``max_gap``, longest first."""
    ts = timestamps.reset_index(drop=True)
    step = ts.diff()
    long = step[step > pd.Timedelta(max_gap)].index
    gaps = [Gap(start=ts[i - 1], end=ts[i]) for i in long]
    return sorted(gaps, key=lambda g: g.length, reverse=True)


def is_time_ordered(frame: pd.DataFrame, strict: bool) -> bool:
    """True when timestamps never go backwards (and never repeat, if ``strict``)."""
    ts = frame[TIME]
    return bool(ts.is_monotonic_increasing and (not strict or ts.is_unique))


def crossed_quote_count(frame: pd.DataFrame) -> int:
    """Rows whose bid is above the ask (best levels for a book)."""
    for bid, ask in (("bid", "ask"), ("bid_price_0", "ask_price_0")):
        if {bid, ask} <= set(frame.columns):
            return int((frame[bid] > frame[ask]).sum())
    return 0
