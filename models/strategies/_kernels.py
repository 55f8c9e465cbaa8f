"""Compiled per-tick rules of the built-in strategy arms: every arm of a ``SignalBank`` in one numba call.

The Python classes (``directional``, ``market_making``, ``relative_value``) cost ~1.9 us per arm per tick,
nearly all of it reading a mapping and building a ``Signal`` with a formatted reason; the engine reads only
the target and the active flag. This kernel runs the same rules over the float64 feature vector, with the
same operations in the same order (IEEE float64, no ``fastmath``), so targets are bit-identical; a test holds
it to the classes tick by tick. ``min(1.0, x)`` is written ``x if x < 1.0 else 1.0``, which is what Python's
``min`` returns (a NaN ``x`` gives 1.0).

Layout (``bank.py`` packs it). ``layout[i]``: the arm's kind (``PYTHON`` ... ``BREAKOUT``), then up to four
indices into the vector of the features it reads, in the order its class reads them; -1 reads NaN (a name
the engine's mapping holds as NaN, or an absent venue quote). ``params[i]``: its config constants (see each
rule). ``state[i]``: columns 0-1 its state now, columns 2-3 the state before the last step (so the bank can
undo a step when a later arm raises, as the Python loop would not have stepped it).

An arm the kernel does not decide (a ``PYTHON`` arm, or market-making quotes the class would reject) gets a
NaN target; ``step`` returns how many there are and the bank asks the Python object for those.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PYTHON = 0
"""An arm the kernel does not know: its Python ``on_features`` decides."""
MOMENTUM = 1
MEAN_REVERSION = 2
MARKET_MAKING = 3
PAIRS = 4
CROSS_VENUE = 5
BREAKOUT = 6

SHORT_VECTOR = -1
"""``step``'s answer when the vector lacks a feature the layout reads (numba does not check indices)."""
N_INDICES = 4
N_PARAMS = 6
N_STATE = 2
"""State values per arm; the state array holds twice as many (now, and before the last step)."""

_SANE = 1e300
_SEPARATE = 1e-12
"""Market-making quotes ``reservation -+ half`` surely pass ``Quotes``' checks (finite, bid < ask), whatever the
last-bit rounding, when both are below ``_SANE`` and ``half > |reservation| * _SEPARATE``; otherwise the class
decides the tick (and raises if its quotes are invalid)."""


@njit(cache=True)
def _value(vector: np.ndarray, index: int) -> float:
    return math.nan if index < 0 else vector[index]


@njit(cache=True)
def _capped(x: float) -> float:
    """Python's ``min(1.0, x)``."""
    return x if x < 1.0 else 1.0


@njit(cache=True)
def hysteresis_side(side: float, strength: float, entry: float, exit_: float) -> float:
    """``base.hysteresis_side`` on a side held as a float (-1.0, 0.0 or 1.0)."""
    if side > 0.0:
        return -1.0 if strength <= -entry else (0.0 if strength <= exit_ else 1.0)
    if side < 0.0:
        return 1.0 if strength >= entry else (0.0 if strength >= -exit_ else -1.0)
    return 1.0 if strength >= entry else (-1.0 if strength <= -entry else 0.0)


_SKIP = (0.0, False)
"""An arm that cannot act this tick (warm-up NaNs, no volatility, no book): inactive, target 0."""
_UNDECIDED = (math.nan, False)


@njit(cache=True)
def _momentum(x0: float, x1: float, x2: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    # x: return, vol, trend; p: entry_z, exit_z, full_z, sqrt(horizon); s: side
    if x0 != x0 or x1 != x1 or x2 != x2 or x1 <= 0.0:
        return _SKIP
    z = x0 / (x1 * p[3])
    held = s[0]
    side = hysteresis_side(held, z, p[0], p[1])
    if side != 0.0 and side != held and side * x2 <= 0.0:
        side = 0.0
    s[0] = side
    return side * _capped(abs(z) / p[2]), True


@njit(cache=True)
def _mean_reversion(x0: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    # x: z-score; p: entry_z, exit_z, full_z; s: side
    if x0 != x0:
        return _SKIP
    side = hysteresis_side(s[0], -x0, p[0], p[1])
    s[0] = side
    return side * _capped(abs(x0) / p[2]), True


@njit(cache=True)
def _market_making(x0: float, x1: float, x2: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    # x: microprice, spread, vol; p: risk_aversion, horizon_events, fill spread, min half-spread; s: inventory.
    # The target is always 0 and the state never changes here; the quotes are computed only to hand the tick
    # to the class wherever ``Quotes`` might reject them (a non-finite side, bid >= ask), so it raises as before.
    if x0 != x0 or x1 != x1 or x2 != x2 or x1 <= 0.0:
        return _SKIP
    sigma = x2 * 1e4
    inventory_risk = p[0] * (sigma * sigma) * p[1]
    reservation = x0 - s[0] * inventory_risk
    spread = (inventory_risk + p[2]) / 2.0
    half = spread if spread > p[3] else p[3]
    size = abs(reservation)
    if size < _SANE and half < _SANE and half > size * _SEPARATE:
        return 0.0, True
    return _UNDECIDED


@njit(cache=True)
def _pairs(x0: float, x1: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    # x: spread z, corr; p: entry_z, exit_z, stop_z, min_corr, position; s: side, stopped
    if x0 != x0 or x1 != x1:
        return _SKIP
    entry, stop, min_corr = p[0], p[2], p[3]
    size = abs(x0)
    side = s[0]
    if side != 0.0 and (size >= stop or x1 < min_corr):
        side = 0.0
        s[1] = 1.0
    elif s[1] != 0.0:
        s[1] = 1.0 if size >= entry else 0.0
    else:
        new = hysteresis_side(side, -x0, entry, p[1])
        if new != 0.0 and new != side and (x1 < min_corr or size >= stop):
            new = 0.0
        side = new
    s[0] = side
    return side * p[4], True


@njit(cache=True)
def _cross_venue(
    bid_a: float, ask_a: float, bid_b: float, ask_b: float, p: np.ndarray, s: np.ndarray
) -> tuple[float, bool]:
    # p: costs_bps, min_edge_bps, full_edge_bps, confirm_events; s: pending, streak
    if bid_a != bid_a or ask_a != ask_a or bid_b != bid_b or ask_b != ask_b:
        s[0] = 0.0
        s[1] = 0.0
        return _SKIP
    low = bid_a if bid_a <= bid_b else bid_b
    if low <= 0.0 or bid_a > ask_a or bid_b > ask_b:
        s[0] = 0.0
        s[1] = 0.0
        return _SKIP
    mid = (bid_a + ask_a + bid_b + ask_b) / 4.0
    edge_long_a = (bid_b - ask_a) / mid * 1e4 - p[0]
    edge_long_b = (bid_a - ask_b) / mid * 1e4 - p[0]
    if edge_long_a >= edge_long_b:
        side, edge = 1.0, edge_long_a
    else:
        side, edge = -1.0, edge_long_b
    if edge >= p[1]:
        s[1] = s[1] + 1.0 if side == s[0] else 1.0
        s[0] = side
    else:
        s[0] = 0.0
        s[1] = 0.0
    if s[1] >= p[3]:
        return side * _capped(edge / p[2]), True
    return 0.0, True


@njit(cache=True)
def _breakout(x0: float, x1: float, x2: float, x3: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    # x: return, fast vol, slow vol, volume ratio; p: breakout_z, vol_expansion, min_volume_ratio, hold_events,
    # position, sqrt(horizon); s: side, remaining
    if x0 != x0 or x1 != x1 or x2 != x2 or x3 != x3 or x2 <= 0.0:
        return _SKIP
    z = x0 / (x2 * p[5])
    expansion = x1 / x2
    if abs(z) >= p[0] and expansion >= p[1] and x3 >= p[2]:
        s[0] = 1.0 if z > 0 else -1.0
        s[1] = p[3] - 1.0
    elif s[1] > 0.0:
        s[1] -= 1.0
    else:
        s[0] = 0.0
    return s[0] * p[4], True


@njit(cache=True)
def _arm(kind: int, x0: float, x1: float, x2: float, x3: float, p: np.ndarray, s: np.ndarray) -> tuple[float, bool]:
    """One arm's tick by its kind's rule (``_UNDECIDED`` for a ``PYTHON`` arm)."""
    if kind == MOMENTUM:
        return _momentum(x0, x1, x2, p, s)
    if kind == MEAN_REVERSION:
        return _mean_reversion(x0, p, s)
    if kind == MARKET_MAKING:
        return _market_making(x0, x1, x2, p, s)
    if kind == PAIRS:
        return _pairs(x0, x1, p, s)
    if kind == CROSS_VENUE:
        return _cross_venue(x0, x1, x2, x3, p, s)
    if kind == BREAKOUT:
        return _breakout(x0, x1, x2, x3, p, s)
    return _UNDECIDED


@njit(cache=True)
def _fits(vector: np.ndarray, layout: np.ndarray) -> bool:
    """Whether every index in ``layout`` lies inside ``vector``."""
    size = vector.shape[0]
    for i in range(layout.shape[0]):
        for j in range(1, 1 + N_INDICES):
            if layout[i, j] >= size:
                return False
    return True


@njit(cache=True)
def step(
    vector: np.ndarray,
    layout: np.ndarray,
    params: np.ndarray,
    state: np.ndarray,
    targets: np.ndarray,
    active: np.ndarray,
) -> int:
    """One tick of every arm: its target into ``targets``, its active flag into ``active``, its state advanced.

    Returns how many arms the kernel left undecided (NaN target, inactive): the caller decides those in Python;
    ``SHORT_VECTOR``, touching nothing, when ``vector`` is too short for an index in ``layout``.
    """
    if not _fits(vector, layout):
        return SHORT_VECTOR
    undecided = 0
    for i in range(layout.shape[0]):
        s = state[i]
        for j in range(N_STATE):
            s[N_STATE + j] = s[j]
        p = params[i]
        x0 = _value(vector, layout[i, 1])
        x1 = _value(vector, layout[i, 2])
        x2 = _value(vector, layout[i, 3])
        x3 = _value(vector, layout[i, 4])
        target, on = _arm(layout[i, 0], x0, x1, x2, x3, p, s)
        if target != target:
            undecided += 1
        targets[i] = target
        active[i] = on
    return undecided
