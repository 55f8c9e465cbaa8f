"""Rolling-window state for the incremental kernels: a ring of event records plus running sums.

Every windowed statistic the features need is a sum over the last ``n`` records of a term
``(x - anchor_x) * (y - anchor_y)`` of one or two record columns. Adding the newest record and
subtracting the one that leaves keeps each sum O(1) per event. Two numerical hazards, two remedies:

* drift of add-and-subtract running sums: each sum is a Neumaier compensated pair ``(s, c)``
  (Neumaier 1974, the branch-on-magnitude variant of Kahan summation);
* catastrophic cancellation in ``var = E[x^2] - E[x]^2`` of prices (BTC ~46,000 with a std of a few
  dollars, EUR/USD ~1.12 with a std of a pip): columns flagged "anchored" are summed as ``x - a``,
  where ``a`` is a recent value of the column. Within a factor of two of ``a`` the subtraction is exact
  (Sterbenz's lemma), so only the spread of the window enters the sums. Every ``rebuild`` events the
  anchors move to the newest value and the sums are recomputed from the ring, an O(window) pass that
  keeps the per-event cost amortised O(1) and erases any accumulated rounding.

Exact degeneracy (a window whose values are all equal: a flat price, zero volume, zero returns) is
read from per-column run lengths of equal consecutive values, never from a sum that may have kept a
rounding residue of 1e-17 where the true value is 0.

The state is one flat float64 array so it can be persisted as a plain list; ``layout`` (int64) holds
the offsets into it and the sum specifications. All functions compile lazily on first call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# Indices into the int64 layout array shared by every kernel.
L_NCOLS = 0  # columns per record
L_HIST = 1  # records kept in the ring (longest window + 1)
L_RING = 2  # state offset of the ring
L_ANCHOR = 3  # state offset of one anchor per column (0.0 for columns that are not anchored)
L_RUN = 4  # state offset of one run length per column
L_SUMS = 5  # state offset of the (s, c) pairs
L_NSUMS = 6
L_REBUILD = 7  # re-anchor and recompute every this many events
L_SUMSPEC = 8  # layout offset of (column_x, column_y or -1, window) per sum
L_ANCHORED = 9  # layout offset of one 0/1 flag per column
L_COUNT = 10  # state offset of the event counter
L_EXTRA = 11  # state offset where the kernel's own state begins
L_USER = 12  # first layout entry owned by the kernel


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """What a kernel asks of the window block."""

    columns: int
    history: int
    anchored: tuple[int, ...]
    sums: tuple[tuple[int, int, int], ...]
    """(column_x, column_y or -1, window) per sum: sum over the window of (x - a_x) * (y - a_y)."""
    rebuild: int
    extra_state: int
    user: tuple[int, ...]
    """Kernel parameters, stored from layout[L_USER] on."""


def build_layout(spec: WindowSpec) -> tuple[np.ndarray, int]:
    """Return the layout array and the length of the state array the spec needs."""
    if spec.history <= max(n for _, _, n in spec.sums):
        raise ValueError("history must exceed the longest window: the leaving record is read before overwrite")
    count = 0
    anchor = count + 1
    run = anchor + spec.columns
    sums = run + spec.columns
    ring = sums + 2 * len(spec.sums)
    extra = ring + spec.history * spec.columns
    size = extra + spec.extra_state
    sumspec = L_USER + len(spec.user)
    anchored_at = sumspec + 3 * len(spec.sums)
    header = [spec.columns, spec.history, ring, anchor, run, sums, len(spec.sums), spec.rebuild]
    header += [sumspec, anchored_at, count, extra]
    flags = [1 if c in spec.anchored else 0 for c in range(spec.columns)]
    lay = header + list(spec.user) + [v for s in spec.sums for v in s] + flags
    return np.asarray(lay, dtype=np.int64), size


@njit(cache=True)
def record_at(lay: np.ndarray, t: int) -> int:
    """State offset of the record of event ``t`` (valid while ``t`` is within the last ``history`` events)."""
    return int(lay[L_RING] + (t % lay[L_HIST]) * lay[L_NCOLS])


@njit(cache=True)
def event_count(state: np.ndarray, lay: np.ndarray) -> int:
    return int(state[lay[L_COUNT]])


@njit(cache=True)
def _neumaier_add(state: np.ndarray, off: int, x: float) -> None:
    s = state[off]
    t = s + x
    if abs(s) >= abs(x):
        state[off + 1] += (s - t) + x
    else:
        state[off + 1] += (x - t) + s
    state[off] = t


@njit(cache=True)
def _term(state: np.ndarray, lay: np.ndarray, rec: int, k: int) -> float:
    spec = lay[L_SUMSPEC] + 3 * k
    anchor = lay[L_ANCHOR]
    cx = lay[spec]
    cy = lay[spec + 1]
    value = state[rec + cx] - state[anchor + cx]
    if cy >= 0:
        value *= state[rec + cy] - state[anchor + cy]
    return float(value)


@njit(cache=True)
def _rebuild(state: np.ndarray, lay: np.ndarray, t: int) -> None:
    newest = record_at(lay, t)
    for col in range(lay[L_NCOLS]):
        if lay[lay[L_ANCHORED] + col] == 1:
            state[lay[L_ANCHOR] + col] = state[newest + col]
    for k in range(lay[L_NSUMS]):
        off = lay[L_SUMS] + 2 * k
        state[off] = 0.0
        state[off + 1] = 0.0
        first = max(0, t - lay[lay[L_SUMSPEC] + 3 * k + 2] + 1)
        for j in range(first, t + 1):
            _neumaier_add(state, off, _term(state, lay, record_at(lay, j), k))


@njit(cache=True)
def commit_record(state: np.ndarray, lay: np.ndarray) -> None:
    """Fold the record the caller wrote at ``record_at(lay, count)`` into run lengths and sums."""
    t = event_count(state, lay)
    rec = record_at(lay, t)
    run = lay[L_RUN]
    if t == 0:
        for col in range(lay[L_NCOLS]):
            state[run + col] = 1.0
        # anchors start at the first event's values, so even the first windows are summed shifted
        _rebuild(state, lay, 0)
    else:
        prev = record_at(lay, t - 1)
        for col in range(lay[L_NCOLS]):
            state[run + col] = state[run + col] + 1.0 if state[rec + col] == state[prev + col] else 1.0
        for k in range(lay[L_NSUMS]):
            off = lay[L_SUMS] + 2 * k
            _neumaier_add(state, off, _term(state, lay, rec, k))
            n = lay[lay[L_SUMSPEC] + 3 * k + 2]
            if t >= n:
                _neumaier_add(state, off, -_term(state, lay, record_at(lay, t - n), k))
        if (t + 1) % lay[L_REBUILD] == 0:
            _rebuild(state, lay, t)
    state[lay[L_COUNT]] = t + 1


@njit(cache=True)
def window_sum(state: np.ndarray, lay: np.ndarray, k: int) -> float:
    off = lay[L_SUMS] + 2 * k
    return float(state[off] + state[off + 1])


@njit(cache=True)
def anchor_of(state: np.ndarray, lay: np.ndarray, col: int) -> float:
    return float(state[lay[L_ANCHOR] + col])


@njit(cache=True)
def is_constant(state: np.ndarray, lay: np.ndarray, col: int, n: int) -> bool:
    """True when the last ``n`` values of ``col`` are all equal (exactly)."""
    return bool(state[lay[L_RUN] + col] >= n)


@njit(cache=True)
def zscore(state: np.ndarray, lay: np.ndarray, col: int, k1: int, k2: int, n: int) -> float:
    """Z-score (population std) of the newest value of an anchored column; sums k1 = sum x, k2 = sum x^2."""
    if is_constant(state, lay, col, n):
        return 0.0
    mean = window_sum(state, lay, k1) / n
    var = window_sum(state, lay, k2) / n - mean * mean
    if var <= 0.0:
        return 0.0
    x = state[record_at(lay, event_count(state, lay) - 1) + col] - anchor_of(state, lay, col)
    # Samuelson's inequality bounds |z| by sqrt(n - 1); clipping only removes rounding past it
    bound = np.sqrt(n - 1.0)
    return float(min(bound, max(-bound, (x - mean) / np.sqrt(var))))
