"""The single-symbol incremental kernel: one event in, the 21-feature vector out, O(1) state update.

``step`` is the only per-event code path; ``step_many`` is a loop over ``step`` for replay and
benchmarks. The batch engine (``batch.py``) is a separate, vectorised implementation; the parity
tests hold the two to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from models.features._windows import (
    L_EXTRA,
    L_USER,
    WindowSpec,
    anchor_of,
    build_layout,
    commit_record,
    event_count,
    is_constant,
    record_at,
    window_sum,
    zscore,
)
from models.features.definitions import FeatureConfig

N_FEATURES = 21
DAY_NS = 86_400_000_000_000
TWO_PI = 2.0 * math.pi

# Record columns.
C_CLOSE, C_TP, C_VOL, C_RET, C_SPREAD, C_AMIHUD, C_VPOS = range(7)
# Running sums, in the order _spec lists them.
S_R2_A, S_R2_B, S_MA_FAST, S_MA_SLOW, S_Z1, S_Z2, S_VOL_FAST, S_VOL_SLOW = range(8)
S_PV, S_VWAP_V, S_VWAP_TP, S_SP1, S_SP2, S_AMIHUD, S_AMIHUD_N = range(8, 15)
# Kernel parameters in the layout (after L_USER).
U_RET = L_USER
U_RVOL = L_USER + 4
U_ROC, U_MA_FAST, U_MA_SLOW, U_RSI, U_Z, U_VOL_FAST, U_VOL_SLOW, U_VWAP, U_SZ, U_AMIHUD, U_DD = range(
    L_USER + 6, L_USER + 17
)
# Kernel state after layout[L_EXTRA]: EWMA variance, Wilder averages, decay, rolling-max deque.
X_EWMA, X_GAIN, X_LOSS, X_LAMBDA, X_DQ_HEAD, X_DQ_SIZE, X_DQ = range(7)

# Rebuild (re-anchor) period: short enough that the anchor stays near the window, long enough to be cheap.
REBUILD_EVENTS = 32


def make_layout(config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Layout and a fresh state array for ``config``."""
    c = config
    n_r2a, n_r2b = c.rvol_windows
    sums = (
        (C_RET, C_RET, n_r2a),
        (C_RET, C_RET, n_r2b),
        (C_CLOSE, -1, c.ma_fast),
        (C_CLOSE, -1, c.ma_slow),
        (C_CLOSE, -1, c.zscore_window),
        (C_CLOSE, C_CLOSE, c.zscore_window),
        (C_VOL, -1, c.volume_fast),
        (C_VOL, -1, c.volume_slow),
        (C_TP, C_VOL, c.vwap_window),
        (C_VOL, -1, c.vwap_window),
        (C_TP, -1, c.vwap_window),
        (C_SPREAD, -1, c.spread_z_window),
        (C_SPREAD, C_SPREAD, c.spread_z_window),
        (C_AMIHUD, -1, c.amihud_window),
        (C_VPOS, -1, c.amihud_window),
    )
    user: tuple[int, ...] = (
        *c.ret_windows,
        *c.rvol_windows,
        c.roc_window,
        c.ma_fast,
        c.ma_slow,
        c.rsi_window,
        c.zscore_window,
    )
    user += (c.volume_fast, c.volume_slow, c.vwap_window, c.spread_z_window, c.amihud_window, c.drawdown_window)
    spec = WindowSpec(
        columns=7,
        history=c.longest_window,
        anchored=(C_CLOSE, C_TP, C_SPREAD),
        sums=sums,
        rebuild=REBUILD_EVENTS,
        extra_state=X_DQ + 2 * (c.drawdown_window + 1),
        user=user,
    )
    lay, size = build_layout(spec)
    state = np.zeros(size, dtype=np.float64)
    state[lay[L_EXTRA] + X_LAMBDA] = c.ewma_lambda
    return lay, state


@njit(cache=True)
def _rolling_max(state: np.ndarray, lay: np.ndarray, t: int, x: float) -> float:
    """Monotonic deque of (event, close), decreasing in close: the front is the window's max."""
    base = lay[L_EXTRA]
    n = lay[U_DD]
    cap = n + 1
    dq = base + X_DQ
    head = int(state[base + X_DQ_HEAD])
    size = int(state[base + X_DQ_SIZE])
    while size > 0 and state[dq + 2 * ((head + size - 1) % cap) + 1] <= x:
        size -= 1
    slot = (head + size) % cap
    state[dq + 2 * slot] = t
    state[dq + 2 * slot + 1] = x
    size += 1
    while state[dq + 2 * head] <= t - n:
        head = (head + 1) % cap
        size -= 1
    state[base + X_DQ_HEAD] = head
    state[base + X_DQ_SIZE] = size
    return float(state[dq + 2 * head + 1])


@njit(cache=True)
def _smooth(state: np.ndarray, lay: np.ndarray, t: int, change: float, ret: float) -> None:
    """Wilder's gain/loss averages and the RiskMetrics EWMA of r^2, both recursive, O(1)."""
    base = lay[L_EXTRA]
    n = lay[U_RSI]
    gain = max(change, 0.0)
    loss = max(-change, 0.0)
    if t <= n:
        # the seed is the simple mean of the first n changes, accumulated here and divided at t == n
        state[base + X_GAIN] += gain
        state[base + X_LOSS] += loss
        if t == n:
            state[base + X_GAIN] /= n
            state[base + X_LOSS] /= n
    else:
        alpha = 1.0 / n
        state[base + X_GAIN] = (1.0 - alpha) * state[base + X_GAIN] + alpha * gain
        state[base + X_LOSS] = (1.0 - alpha) * state[base + X_LOSS] + alpha * loss
    if t == 1:
        state[base + X_EWMA] = ret * ret
    else:
        alpha = 1.0 - state[base + X_LAMBDA]
        state[base + X_EWMA] = (1.0 - alpha) * state[base + X_EWMA] + alpha * (ret * ret)


@njit(cache=True)
def _price_features(state: np.ndarray, lay: np.ndarray, t: int, out: np.ndarray) -> None:
    close = state[record_at(lay, t) + C_CLOSE]
    for i in range(4):
        k = lay[U_RET + i]
        out[i] = math.log(close / state[record_at(lay, t - k) + C_CLOSE]) if t >= k else np.nan
    for i in range(2):
        n = lay[U_RVOL + i]
        zero = is_constant(state, lay, C_RET, n) and state[record_at(lay, t) + C_RET] == 0.0
        out[4 + i] = np.nan if t < n else (0.0 if zero else math.sqrt(max(window_sum(state, lay, S_R2_A + i) / n, 0.0)))
    out[6] = math.sqrt(state[lay[L_EXTRA] + X_EWMA]) if t >= 1 else np.nan
    k = lay[U_ROC]
    out[7] = close / state[record_at(lay, t - k) + C_CLOSE] - 1.0 if t >= k else np.nan
    fast = lay[U_MA_FAST]
    slow = lay[U_MA_SLOW]
    if t >= slow - 1:
        mean_slow = window_sum(state, lay, S_MA_SLOW) / slow
        diff = window_sum(state, lay, S_MA_FAST) / fast - mean_slow
        out[8] = diff / (anchor_of(state, lay, C_CLOSE) + mean_slow)
    else:
        out[8] = np.nan
    gain = state[lay[L_EXTRA] + X_GAIN]
    loss = state[lay[L_EXTRA] + X_LOSS]
    total = gain + loss
    out[9] = np.nan if t < lay[U_RSI] else (50.0 if total == 0.0 else 100.0 * gain / total)
    n = lay[U_Z]
    out[10] = zscore(state, lay, C_CLOSE, S_Z1, S_Z2, n) if t >= n - 1 else np.nan


@njit(cache=True)
def _flow_features(state: np.ndarray, lay: np.ndarray, t: int, out: np.ndarray) -> None:
    fast = lay[U_VOL_FAST]
    slow = lay[U_VOL_SLOW]
    no_volume = state[record_at(lay, t) + C_VOL] == 0.0
    if t >= max(fast, slow) - 1:
        mean_fast = 0.0 if no_volume and is_constant(state, lay, C_VOL, fast) else window_sum(state, lay, S_VOL_FAST)
        mean_slow = 0.0 if no_volume and is_constant(state, lay, C_VOL, slow) else window_sum(state, lay, S_VOL_SLOW)
        mean_fast /= fast
        mean_slow /= slow
        ratio = 1.0 if mean_slow == 0.0 and mean_fast == 0.0 else mean_fast / mean_slow
        # the short window's sum never exceeds the long one's; clipping only removes rounding past the bound
        out[11] = min(ratio, slow / fast) if fast <= slow else ratio
    else:
        out[11] = np.nan
    n = lay[U_VWAP]
    if t >= n - 1:
        if no_volume and is_constant(state, lay, C_VOL, n):
            offset = window_sum(state, lay, S_VWAP_TP) / n
        else:
            offset = window_sum(state, lay, S_PV) / window_sum(state, lay, S_VWAP_V)
        anchor = anchor_of(state, lay, C_TP)
        out[12] = ((state[record_at(lay, t) + C_CLOSE] - anchor) - offset) / (anchor + offset)
    else:
        out[12] = np.nan


@njit(cache=True)
def _spread_bps(bid: float, ask: float) -> float:
    if bid > 0.0 and ask > 0.0 and bid < np.inf and ask < np.inf:
        mid = (bid + ask) * 0.5
        return (ask - bid) / mid * 1e4
    return 0.0


@njit(cache=True)
def _imbalance(bid_size: float, ask_size: float) -> float:
    total = bid_size + ask_size
    if total > 0.0 and total < np.inf:
        return (bid_size - ask_size) / total
    return 0.0


@njit(cache=True)
def _book_and_risk(state: np.ndarray, lay: np.ndarray, t: int, ts_ns: int, imbalance: float, out: np.ndarray) -> None:
    spread = state[record_at(lay, t) + C_SPREAD]
    out[13] = spread
    n = lay[U_SZ]
    out[14] = zscore(state, lay, C_SPREAD, S_SP1, S_SP2, n) if t >= n - 1 else np.nan
    out[15] = imbalance
    # (microprice - mid) / mid = (ask - bid) (bid_size - ask_size) / (2 (bid_size + ask_size) mid)
    out[16] = 0.5 * spread * imbalance
    n = lay[U_AMIHUD]
    count = window_sum(state, lay, S_AMIHUD_N)
    if t < n:
        out[17] = np.nan
    else:
        out[17] = window_sum(state, lay, S_AMIHUD) / count if count >= 0.5 else 0.0
    frac = float(ts_ns % DAY_NS) / DAY_NS
    out[19] = math.sin(TWO_PI * frac)
    out[20] = math.cos(TWO_PI * frac)


@njit(cache=True)
def step(
    state: np.ndarray,
    lay: np.ndarray,
    ts_ns: int,
    close: float,
    high: float,
    low: float,
    volume: float,
    bid: float,
    ask: float,
    bid_size: float,
    ask_size: float,
    out: np.ndarray,
) -> int:
    """Fold one event into ``state`` and write its features to ``out``; 0, or 1 for a bad close, 2 bad volume."""
    if not (close > 0.0 and close < np.inf):
        return 1
    volume = 0.0 if volume != volume else volume
    if not (volume >= 0.0 and volume < np.inf):
        return 2
    high = close if high != high else high
    low = close if low != low else low
    t = event_count(state, lay)
    rec = record_at(lay, t)
    prev_close = state[record_at(lay, t - 1) + C_CLOSE] if t > 0 else close
    ret = math.log(close / prev_close) if t > 0 else 0.0
    state[rec + C_CLOSE] = close
    state[rec + C_TP] = (high + low + close) / 3.0
    state[rec + C_VOL] = volume
    state[rec + C_RET] = ret
    state[rec + C_SPREAD] = _spread_bps(bid, ask)
    state[rec + C_AMIHUD] = abs(ret) / volume * 1e6 if volume > 0.0 else 0.0
    state[rec + C_VPOS] = 1.0 if volume > 0.0 else 0.0
    if t > 0:
        _smooth(state, lay, t, close - prev_close, ret)
    high_water = _rolling_max(state, lay, t, close)
    commit_record(state, lay)
    _price_features(state, lay, t, out)
    _flow_features(state, lay, t, out)
    _book_and_risk(state, lay, t, ts_ns, _imbalance(bid_size, ask_size), out)
    out[18] = close / high_water - 1.0 if t >= lay[U_DD] - 1 else np.nan
    return 0


@njit(cache=True)
def step_many(
    state: np.ndarray,
    lay: np.ndarray,
    ts_ns: np.ndarray,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bid_size: np.ndarray,
    ask_size: np.ndarray,
    out: np.ndarray,
) -> int:
    """``step`` over a batch, row i of ``out`` for event i; returns -1, or the index of the first bad event."""
    for i in range(close.shape[0]):
        code = step(
            state, lay, ts_ns[i], close[i], high[i], low[i], volume[i], bid[i], ask[i], bid_size[i], ask_size[i], out[i]
        )
        if code != 0:
            return i
    return -1
