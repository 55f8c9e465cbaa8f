"""Streaming feature state for one symbol: ``FeatureEngine.update`` folds one event in, O(1).

The per-event work is the numba kernel ``_kernel.step``; it compiles on the first update (or loads
from numba's on-disk cache), never at import. ``update_many`` runs that same kernel over arrays, so
replays and benchmarks exercise exactly the code path a live tick takes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from models.features._kernel import N_FEATURES, make_layout, step, step_many
from models.features._windows import L_COUNT
from models.features.batch import EVENT_COLUMNS, event_arrays, timestamp_ns
from models.features.definitions import DEFAULT_CONFIG, FeatureConfig, feature_names, feature_table
from models.features.pairs import PairFeatureEngine
from models.marketdata.schema import TIME

STATE_VERSION = 1
_NAN = math.nan


def _column(values: np.ndarray | None, n: int, fill: float) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=np.float64)
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"every input array must have shape ({n},), got {array.shape}")
    return array


class FeatureEngine:
    """Incremental features of one symbol; ``update`` returns the vector in ``names`` order.

    Inputs per event: ``timestamp_ns`` (nanoseconds since the epoch, UTC), ``close`` and optionally
    high, low (default: close), volume (default 0; NaN counts as 0), bid, ask, bid_size, ask_size
    (default NaN: absent). A value at event t depends only on events up to t.
    """

    def __init__(self, config: FeatureConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.names: tuple[str, ...] = feature_names(config)
        self.warmup: int = max(d.warmup for d in feature_table(config))
        """Leading events with a NaN somewhere in the vector: every feature is defined from event ``warmup`` on."""
        self._layout, self._state = make_layout(config)

    @property
    def events_seen(self) -> int:
        return int(self._state[self._layout[L_COUNT]])

    def update(
        self,
        timestamp_ns: int,
        close: float,
        high: float = _NAN,
        low: float = _NAN,
        volume: float = 0.0,
        bid: float = _NAN,
        ask: float = _NAN,
        bid_size: float = _NAN,
        ask_size: float = _NAN,
    ) -> np.ndarray:
        """Fold one event in and return its feature vector (float64, NaN where still warming up)."""
        out = np.empty(N_FEATURES)  # float64, numpy's default: naming the dtype costs a keyword parse per event
        code = step(
            self._state, self._layout, timestamp_ns, close, high, low, volume, bid, ask, bid_size, ask_size, out
        )
        if code != 0:
            raise ValueError(f"rejected event: close={close!r}, volume={volume!r} (close must be > 0, volume >= 0)")
        return out

    def update_many(
        self,
        timestamp_ns: np.ndarray,
        close: np.ndarray,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        volume: np.ndarray | None = None,
        bid: np.ndarray | None = None,
        ask: np.ndarray | None = None,
        bid_size: np.ndarray | None = None,
        ask_size: np.ndarray | None = None,
    ) -> np.ndarray:
        """Run the per-event kernel over a batch; row i is what ``update`` would have returned for event i.

        On a bad event a ValueError names it; the events before it have been folded in.
        """
        ts = np.ascontiguousarray(timestamp_ns, dtype=np.int64)
        n = ts.shape[0]
        closes, volumes = _column(close, n, _NAN), _column(volume, n, 0.0)
        highs, lows = _column(high, n, _NAN), _column(low, n, _NAN)
        bids, asks = _column(bid, n, _NAN), _column(ask, n, _NAN)
        bid_sizes, ask_sizes = _column(bid_size, n, _NAN), _column(ask_size, n, _NAN)
        out = np.empty((n, N_FEATURES), dtype=np.float64)
        bad = step_many(
            self._state, self._layout, ts, closes, highs, lows, volumes, bids, asks, bid_sizes, ask_sizes, out
        )
        if bad >= 0:
            raise ValueError(f"rejected event {bad}: close={closes[bad]!r}, volume={volumes[bad]!r}")
        return out

    def state_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable snapshot: the config and the flat state array."""
        return {
            "kind": "FeatureEngine",
            "version": STATE_VERSION,
            "config": dataclasses.asdict(self.config),
            "layout": self._layout.tolist(),
            "state": self._state.tolist(),
        }

    @classmethod
    def from_state_dict(cls, data: Mapping[str, Any]) -> FeatureEngine:
        """Rebuild an engine from ``state_dict()``; it continues exactly where the snapshot was taken."""
        if data.get("kind") != "FeatureEngine" or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a FeatureEngine state of version {STATE_VERSION}: {data.get('kind')!r}")
        fields = dict(data["config"])
        for key in ("ret_windows", "rvol_windows"):
            fields[key] = tuple(fields[key])
        engine = cls(FeatureConfig(**fields))
        # the layout is derived from config and code; a mismatch means the snapshot is from other code
        if list(data["layout"]) != engine._layout.tolist():
            raise ValueError("state layout does not match this config and code version")
        state = np.asarray(data["state"], dtype=np.float64)
        if state.shape != engine._state.shape:
            raise ValueError(f"state has {state.shape[0]} values, the config needs {engine._state.shape[0]}")
        engine._state = state.copy()
        return engine


def stream_features(events: pd.DataFrame, config: FeatureConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Replay an event frame (see ``batch.events_frame``) through a fresh engine; same shape as ``compute_features``."""
    engine = FeatureEngine(config)
    ev = event_arrays(events)
    values = engine.update_many(timestamp_ns(events[TIME]), *(ev[name] for name in EVENT_COLUMNS))
    frame = pd.DataFrame(values, columns=list(engine.names), index=events.index)
    frame.insert(0, TIME, events[TIME])
    return frame


def compile_kernels() -> None:
    """Compile (or load from numba's cache) the kernels now, e.g. at service start, not on the first live tick."""
    engine = FeatureEngine()
    engine.update(0, 1.0)
    engine.update_many(np.zeros(1, dtype=np.int64), np.ones(1))
    pair = PairFeatureEngine()
    pair.update(1.0, 1.0)
    pair.update_many(np.ones(1), np.ones(1))
