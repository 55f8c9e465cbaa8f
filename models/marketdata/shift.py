"""Inject the simulator's ``RegimeShift`` into real bars: the history stays as recorded, the recent part changes.

The simulator (``models.marketdata.simulator``) draws whole synthetic markets; a drift scenario on real
data needs the opposite: real bars up to ``shift.at``, then the same bars with the shift's dynamics.
Each shifted bar is rebuilt from the previous (already shifted) close in log space:

    log X'_t = log C'_{t-1} + vol_multiplier * (log X_t - log C_{t-1}) + drift_per_bar,  X in {O, H, L, C}

Scaling every intra-bar log offset by the same positive factor and adding the same drift keeps
low <= open, close <= high, so a shifted bar is as valid as a recorded one. Volume and timestamps stay
real; quoted ``bid``/``ask`` (when present) keep their relative half-spread times ``spread_multiplier``
around the new close. ``forced_regime`` is a simulator-only notion (a drawn regime path) and is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.marketdata.schema import TIME
from models.marketdata.simulator import RegimeShift

OHLC = ("open", "high", "low", "close")
SHIFTED = "shifted"


def inject_shift(bars: pd.DataFrame, shift: RegimeShift) -> pd.DataFrame:
    """``bars`` with ``shift`` applied to every bar stamped at or after ``shift.at``, plus a ``shifted`` column.

    Raises ``ValueError`` naming the field when the bars lack a column, are unordered, or no bar (or every
    bar) falls after ``shift.at``: a shift with no history before it has nothing to drift from.
    """
    if shift.forced_regime is not None:
        raise ValueError("shift.forced_regime: real bars have no regime path to force; leave it None")
    missing = [c for c in (TIME, *OHLC) if c not in bars.columns]
    if missing:
        raise ValueError(f"bars: missing columns {missing}")
    stamps = pd.DatetimeIndex(bars[TIME])
    if not stamps.is_monotonic_increasing:
        raise ValueError(f"bars.{TIME}: must be sorted ascending")
    mask = np.asarray(stamps >= pd.Timestamp(shift.at), dtype=np.bool_)
    first = int(np.argmax(mask)) if mask.any() else len(mask)
    if first == 0 or first == len(mask):
        raise ValueError(f"shift.at: {shift.at.isoformat()} must fall inside the bars ({stamps[0]} .. {stamps[-1]})")
    logs = {c: np.log(bars[c].to_numpy(dtype=np.float64)) for c in OHLC}
    prev_close = np.concatenate([[logs["open"][0]], logs["close"][:-1]])
    offsets = {c: shift.vol_multiplier * (logs[c][first:] - prev_close[first:]) + shift.drift_per_bar for c in OHLC}
    closes = logs["close"][first - 1] + np.cumsum(offsets["close"])
    prev_new = np.concatenate([[logs["close"][first - 1]], closes[:-1]])
    new = {c: np.concatenate([logs[c][:first], prev_new + offsets[c]]) for c in OHLC}
    out = bars.copy()
    for c in OHLC:
        out[c] = np.exp(new[c])
    for side, sign in (("bid", -1.0), ("ask", 1.0)):
        if side in out.columns:
            half = np.log(bars[side].to_numpy(dtype=np.float64)) - logs["close"]
            factor = np.where(mask, shift.spread_multiplier, 1.0)
            out[side] = np.exp(new["close"] + sign * np.abs(half) * factor)
    out[SHIFTED] = mask
    return out
