"""Market data frames as the decision path's wire payloads: the one conversion every door shares.

The backtest, the HTTP demo, the parity test and the benchmarks all send the same dicts, so any
difference in their decisions can only come from the path, never from how the events were built.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from models.marketdata.schema import TIME

_FIELDS = ("close", "high", "low", "volume", "bid", "ask", "bid_size", "ask_size")


def frame_payloads(frame: pd.DataFrame, symbol: str) -> list[dict[str, Any]]:
    """One payload per row: ``symbol``, ``timestamp_ns`` and every price/size column the row has (NaN left out).

    Event ids are the row's position in the frame, zero-padded (ties in time are ordered by id as text, so
    ``S-10`` must not sort before ``S-9``), prefixed by the symbol: stable across runs and doors.
    """
    stamps = (
        pd.DatetimeIndex(frame[TIME])
        .tz_convert("UTC")
        .as_unit("ns")
        .tz_localize(None)
        .to_numpy()
        .astype("int64")
        .tolist()
    )
    columns = [name for name in _FIELDS if name in frame.columns]
    values = frame[columns].to_numpy(dtype=float).tolist()
    out = []
    for i, (ts, row) in enumerate(zip(stamps, values, strict=True)):
        payload: dict[str, Any] = {"symbol": symbol, "timestamp_ns": int(ts), "event_id": f"{symbol}-{i:010d}"}
        payload.update({name: v for name, v in zip(columns, row, strict=True) if not math.isnan(v)})
        out.append(payload)
    return out
