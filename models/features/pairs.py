"""Two-symbol features on timestamp-aligned closes: rolling return correlation and spread z-score.

``PairFeatureEngine`` is the incremental operator (numba kernel on the shared window block, O(1) per
aligned event); ``compute_pair_features`` the vectorised batch twin. ``align_pair`` is the one place
that decides which events the pair sees: timestamps present in both frames, in time order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from models.features._windows import (
    L_COUNT,
    L_USER,
    WindowSpec,
    build_layout,
    commit_record,
    event_count,
    is_constant,
    record_at,
    window_sum,
    zscore,
)
from models.features.batch import rolling_windows, window_zscore
from models.features.definitions import DEFAULT_PAIR_CONFIG, PairConfig, pair_feature_names, pair_feature_table
from models.marketdata.schema import TIME

STATE_VERSION = 1
P_CLOSE_A, P_CLOSE_B, P_RET_A, P_RET_B, P_SPREAD = range(5)
S_A, S_B, S_AA, S_BB, S_AB, S_S1, S_S2 = range(7)
U_CORR, U_SPREAD = L_USER, L_USER + 1


def _make_layout(config: PairConfig) -> tuple[np.ndarray, np.ndarray]:
    n, m = config.corr_window, config.spread_z_window
    corr = ((P_RET_A, -1, n), (P_RET_B, -1, n), (P_RET_A, P_RET_A, n), (P_RET_B, P_RET_B, n), (P_RET_A, P_RET_B, n))
    spec = WindowSpec(
        columns=5,
        history=max(n, m) + 1,
        # returns are centred near 0 already; the log price ratio is a level and needs the anchor
        anchored=(P_SPREAD,),
        sums=(*corr, (P_SPREAD, -1, m), (P_SPREAD, P_SPREAD, m)),
        rebuild=32,
        extra_state=0,
        user=(n, m),
    )
    lay, size = build_layout(spec)
    return lay, np.zeros(size, dtype=np.float64)


@njit(cache=True)
def _correlation(state: np.ndarray, lay: np.ndarray, n: int) -> float:
    if is_constant(state, lay, P_RET_A, n) or is_constant(state, lay, P_RET_B, n):
        return 0.0
    sum_a = window_sum(state, lay, S_A)
    sum_b = window_sum(state, lay, S_B)
    var_a = window_sum(state, lay, S_AA) - sum_a * sum_a / n
    var_b = window_sum(state, lay, S_BB) - sum_b * sum_b / n
    if var_a <= 0.0 or var_b <= 0.0:
        return 0.0
    corr = (window_sum(state, lay, S_AB) - sum_a * sum_b / n) / math.sqrt(var_a * var_b)
    return min(1.0, max(-1.0, corr))


@njit(cache=True)
def pair_step(state: np.ndarray, lay: np.ndarray, close_a: float, close_b: float, out: np.ndarray) -> int:
    """Fold one aligned pair of closes in; 0, or 1 when a close is not a finite positive number."""
    if not (close_a > 0.0 and close_a < np.inf and close_b > 0.0 and close_b < np.inf):
        return 1
    t = event_count(state, lay)
    rec = record_at(lay, t)
    if t > 0:
        prev = record_at(lay, t - 1)
        state[rec + P_RET_A] = math.log(close_a / state[prev + P_CLOSE_A])
        state[rec + P_RET_B] = math.log(close_b / state[prev + P_CLOSE_B])
    else:
        state[rec + P_RET_A] = 0.0
        state[rec + P_RET_B] = 0.0
    state[rec + P_CLOSE_A] = close_a
    state[rec + P_CLOSE_B] = close_b
    state[rec + P_SPREAD] = math.log(close_a / close_b)
    commit_record(state, lay)
    n = lay[U_CORR]
    m = lay[U_SPREAD]
    out[0] = _correlation(state, lay, n) if t >= n else np.nan
    out[1] = zscore(state, lay, P_SPREAD, S_S1, S_S2, m) if t >= m - 1 else np.nan
    return 0


@njit(cache=True)
def pair_step_many(
    state: np.ndarray, lay: np.ndarray, close_a: np.ndarray, close_b: np.ndarray, out: np.ndarray
) -> int:
    for i in range(close_a.shape[0]):
        if pair_step(state, lay, close_a[i], close_b[i], out[i]) != 0:
            return i
    return -1


class PairFeatureEngine:
    """Incremental pair features; feed it aligned closes (``align_pair`` does the alignment for frames)."""

    def __init__(self, config: PairConfig = DEFAULT_PAIR_CONFIG) -> None:
        self.config = config
        self.names: tuple[str, ...] = pair_feature_names(config)
        self.warmup: int = max(d.warmup for d in pair_feature_table(config))
        self._layout, self._state = _make_layout(config)

    @property
    def events_seen(self) -> int:
        return int(self._state[self._layout[L_COUNT]])

    def update(self, close_a: float, close_b: float) -> np.ndarray:
        out = np.empty(2, dtype=np.float64)
        if pair_step(self._state, self._layout, close_a, close_b, out) != 0:
            raise ValueError(f"rejected pair event: closes must be finite and > 0, got {close_a!r}, {close_b!r}")
        return out

    def update_many(self, close_a: np.ndarray, close_b: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(close_a, dtype=np.float64)
        b = np.ascontiguousarray(close_b, dtype=np.float64)
        if a.shape != b.shape or a.ndim != 1:
            raise ValueError(f"close_a and close_b must be 1-D of equal length, got {a.shape} and {b.shape}")
        out = np.empty((a.shape[0], 2), dtype=np.float64)
        bad = pair_step_many(self._state, self._layout, a, b, out)
        if bad >= 0:
            raise ValueError(f"rejected pair event {bad}: closes {a[bad]!r}, {b[bad]!r}")
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "PairFeatureEngine",
            "version": STATE_VERSION,
            "config": dataclasses.asdict(self.config),
            "layout": self._layout.tolist(),
            "state": self._state.tolist(),
        }

    @classmethod
    def from_state_dict(cls, data: Mapping[str, Any]) -> PairFeatureEngine:
        if data.get("kind") != "PairFeatureEngine" or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a PairFeatureEngine state of version {STATE_VERSION}: {data.get('kind')!r}")
        engine = cls(PairConfig(**data["config"]))
        # the layout is derived from config and code; a mismatch means the snapshot is from other code
        if list(data["layout"]) != engine._layout.tolist():
            raise ValueError("state layout does not match this config and code version")
        state = np.asarray(data["state"], dtype=np.float64)
        if state.shape != engine._state.shape:
            raise ValueError(f"state has {state.shape[0]} values, the config needs {engine._state.shape[0]}")
        engine._state = state.copy()
        return engine


def align_pair(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """``timestamp``, ``close_a``, ``close_b`` for the timestamps both event frames have, in time order."""
    left = a[[TIME, "close"]].rename(columns={"close": "close_a"})
    right = b[[TIME, "close"]].rename(columns={"close": "close_b"})
    joined = left.merge(right, on=TIME, how="inner", validate="one_to_one")
    return joined.sort_values(TIME, kind="stable").reset_index(drop=True)


def _correlation_batch(ret_a: np.ndarray, ret_b: np.ndarray, n: int) -> np.ndarray:
    wa = rolling_windows(ret_a, n)
    wb = rolling_windows(ret_b, n)
    da = wa - wa.mean(axis=1)[:, None]
    db = wb - wb.mean(axis=1)[:, None]
    corr = (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    constant = (wa.max(axis=1) == wa.min(axis=1)) | (wb.max(axis=1) == wb.min(axis=1))
    return np.where(constant, 0.0, np.clip(corr, -1.0, 1.0))


def compute_pair_features(a: pd.DataFrame, b: pd.DataFrame, config: PairConfig = DEFAULT_PAIR_CONFIG) -> pd.DataFrame:
    """Pair features of two event frames over their common timestamps: ``timestamp`` plus the pair names."""
    pair = align_pair(a, b)
    ca = pair["close_a"].to_numpy(dtype=np.float64)
    cb = pair["close_b"].to_numpy(dtype=np.float64)
    if not (np.all(ca > 0.0) and np.all(cb > 0.0) and np.isfinite(ca).all() and np.isfinite(cb).all()):
        raise ValueError("rejected pair events: closes must be finite and > 0")
    ret_a = np.full_like(ca, np.nan)
    ret_b = np.full_like(cb, np.nan)
    ret_a[1:] = np.log(ca[1:] / ca[:-1])
    ret_b[1:] = np.log(cb[1:] / cb[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = _correlation_batch(ret_a, ret_b, config.corr_window)
        spread_z = window_zscore(np.log(ca / cb), config.spread_z_window)
    names = pair_feature_names(config)
    return pd.DataFrame({TIME: pair[TIME], names[0]: corr, names[1]: spread_z})


def stream_pair_features(a: pd.DataFrame, b: pd.DataFrame, config: PairConfig = DEFAULT_PAIR_CONFIG) -> pd.DataFrame:
    """Replay the aligned pair through a fresh ``PairFeatureEngine``; same shape as ``compute_pair_features``."""
    pair = align_pair(a, b)
    engine = PairFeatureEngine(config)
    values = engine.update_many(pair["close_a"].to_numpy(), pair["close_b"].to_numpy())
    return pd.DataFrame({TIME: pair[TIME], engine.names[0]: values[:, 0], engine.names[1]: values[:, 1]})
