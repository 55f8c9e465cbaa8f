"""Compiled LinUCB kernels: the score of every arm, one decision, one arm's estimate, one Sherman-Morrison step.

Plain loops under numba, one call each, because at d=20 and 6 arms the per-call overhead of a chain of
NumPy operations (about 1 us each) costs more than the arithmetic. The math is the same as in the module
docstring of ``linucb``; the summation order is fixed, so results are deterministic. Every kernel reads an
arm's ``theta^T x`` and ``x^T A^{-1} x`` from ``_arm_terms``, so a score, a decision's estimate and
``LinUCB.estimate`` agree bit for bit.

``select_arm`` and ``context_select`` report through two caller-owned buffers (no allocation per call):
``out`` (float64, ``4 k``): scores, propensities, means, widths of every arm; ``order`` (int64, ``2 k + 2``):
the number of allowed arms ``n``, the number of explorable arms ``m``, the allowed arms best first (``n``
slots of ``k``), then the explorable arms in index order (``m`` slots of ``k``). ``flags`` (uint8, one per
arm): bit 0 allowed by the mask, bit 1 explorable (allowed and let through by the exploration guard).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _arm_terms(a_inv: np.ndarray, theta: np.ndarray, x: np.ndarray, a: int, rows: np.ndarray) -> tuple[float, float]:
    """Arm ``a``'s ``theta_a^T x`` and ``x^T A_a^{-1} x``, each sum in index order; ``rows``: d scratch floats.

    Every row ``(A_a^{-1} x)_i`` is summed over ``j`` in order, but the rows advance together (``j`` outer):
    the d sums are independent, so the CPU overlaps their additions instead of waiting on one chain at a
    time, and each sum sees the same operations in the same order as a row-by-row loop.
    """
    d = x.shape[0]
    for i in range(d):
        rows[i] = 0.0
    for j in range(d):
        xj = x[j]
        for i in range(d):
            rows[i] += a_inv[a, i, j] * xj
    mean = 0.0
    quad = 0.0
    for i in range(d):
        quad += x[i] * rows[i]
        mean += theta[a, i] * x[i]
    return mean, quad


@njit(cache=True)
def _width(quad: float) -> float:
    """The confidence width ``sqrt(x^T A^{-1} x)``; 0 where rounding left the quadratic form at or below 0."""
    return math.sqrt(quad) if quad > 0.0 else 0.0


@njit(cache=True)
def arm_estimate(a_inv: np.ndarray, theta: np.ndarray, x: np.ndarray, a: int) -> tuple[float, float]:
    """Arm ``a``'s ridge estimate ``theta_a^T x`` and confidence width (``LinUCB.estimate``)."""
    mean, quad = _arm_terms(a_inv, theta, x, a, np.empty(x.shape[0]))
    return mean, _width(quad)


@njit(cache=True)
def ucb_scores(
    a_inv: np.ndarray, theta: np.ndarray, x: np.ndarray, alpha: float, allowed: np.ndarray, scores: np.ndarray
) -> int:
    """Write ``theta_a . x + alpha sqrt(x^T A_a^{-1} x)`` for every arm into ``scores``.

    Returns the best allowed arm (lowest index on ties), or -1 when the context or any score is not finite.
    """
    k = theta.shape[0]
    best = -1
    best_score = -math.inf
    rows = np.empty(x.shape[0])
    for a in range(k):
        mean, quad = _arm_terms(a_inv, theta, x, a, rows)
        # x^T A^{-1} x >= 0 in exact arithmetic; rounding may leave a -1e-17.
        score = mean + alpha * math.sqrt(max(quad, 0.0))
        if not math.isfinite(score):
            return -1
        scores[a] = score
        if allowed[a] and (best < 0 or score > best_score):
            best = a
            best_score = score
    return best


@njit(cache=True)
def sherman_morrison(
    a_inv: np.ndarray, b: np.ndarray, theta: np.ndarray, arm: int, x: np.ndarray, reward: float, u: np.ndarray
) -> bool:
    """Fold ``(x, reward)`` into arm ``arm``: rank-one update of ``A^{-1}``, then ``b`` and ``theta = A^{-1} b``.

    Returns False, touching nothing, when ``1 + x^T A^{-1} x`` is not finite (a NaN or inf in ``x``).
    """
    d = x.shape[0]
    denom = 1.0
    for i in range(d):
        row = 0.0
        for j in range(d):
            row += a_inv[arm, i, j] * x[j]
        u[i] = row
        denom += x[i] * row
    if not math.isfinite(denom):
        return False
    for i in range(d):
        scale = u[i] / denom
        for j in range(d):
            a_inv[arm, i, j] -= scale * u[j]
    for i in range(d):
        b[arm, i] += reward * x[i]
    for i in range(d):
        row = 0.0
        for j in range(d):
            row += a_inv[arm, i, j] * b[arm, j]
        theta[arm, i] = row
    return True


@njit(cache=True)
def select_arm(
    a_inv: np.ndarray,
    theta: np.ndarray,
    x: np.ndarray,
    alpha: float,
    epsilon: float,
    flags: np.ndarray,
    out: np.ndarray,
    order: np.ndarray,
) -> int:
    """Everything ``LinUCB.select`` needs but the exploration draw, written into ``out`` and ``order``.

    Returns the greedy arm: the highest-scoring allowed arm, lowest index on ties (``order``'s ranking is
    stable, as ``sorted(reverse=True)`` is); -1, before writing any propensity, when the context or a score
    is not finite. The propensities are ``LinUCB.select``'s: ``epsilon / m`` on each explorable arm plus
    ``1 - epsilon`` on the greedy one, or all on the greedy arm when nothing is explorable.
    """
    k = theta.shape[0]
    n = 0
    rows = np.empty(x.shape[0])
    for a in range(k):
        mean, quad = _arm_terms(a_inv, theta, x, a, rows)
        score = mean + alpha * math.sqrt(max(quad, 0.0))
        if not math.isfinite(score):
            return -1
        out[a] = score
        out[2 * k + a] = mean
        out[3 * k + a] = _width(quad)
        if flags[a] & 1:
            # insertion into the allowed arms ranked best first: after every arm scoring at least as high
            pos = n
            while pos > 0 and out[order[1 + pos]] < score:
                order[2 + pos] = order[1 + pos]
                pos -= 1
            order[2 + pos] = a
            n += 1
    if n == 0:
        return -1
    best: int = order[2]
    m = 0
    for a in range(k):
        out[k + a] = 0.0
        if flags[a] & 2:
            order[2 + k + m] = a
            m += 1
    if m == 0:
        out[k + best] = 1.0
    else:
        share = epsilon / m
        for i in range(m):
            out[k + order[2 + k + i]] = share
        out[k + best] += 1.0 - epsilon
    order[0] = n
    order[1] = m
    return best


@njit(cache=True)
def build_context(
    vector: np.ndarray, index: np.ndarray, scales: np.ndarray, regime: int, arm_pnl: np.ndarray, x: np.ndarray
) -> bool:
    """``models.bandit.context.build_context`` from a feature vector, into ``x``: the same IEEE operations.

    ``index``: the positions in ``vector`` of the volatility, tod_sin, tod_cos, spread and Amihud features;
    ``scales``: vol_scale_bps, spread_scale_bps, pnl_scale_bps, clip. Returns False, leaving ``x`` partly
    written, where the Python builder would raise (a feature or an arm's PnL not finite, ``log1p`` of an
    Amihud value <= -1): the caller then calls it, and it names the culprit. The caller checks the lengths.
    """
    n_regimes = x.shape[0] - arm_pnl.shape[0] - 5
    vol = vector[index[0]]
    tod_sin = vector[index[1]]
    tod_cos = vector[index[2]]
    spread = vector[index[3]]
    amihud = vector[index[4]]
    if not (
        math.isfinite(vol)
        and math.isfinite(tod_sin)
        and math.isfinite(tod_cos)
        and math.isfinite(spread)
        and math.isfinite(amihud)
        and amihud > -1.0
    ):
        return False
    for i in range(n_regimes):
        x[i] = 1.0 if i == regime else 0.0
    clip = scales[3]
    x[n_regimes] = _clip(vol * 1e4 / scales[0], clip)
    x[n_regimes + 1] = _clip(tod_sin, clip)
    x[n_regimes + 2] = _clip(tod_cos, clip)
    x[n_regimes + 3] = _clip(spread / scales[1], clip)
    x[n_regimes + 4] = _clip(math.log1p(amihud), clip)
    offset = n_regimes + 5
    for a in range(arm_pnl.shape[0]):
        pnl = arm_pnl[a]
        if not math.isfinite(pnl):
            return False
        x[offset + a] = _clip(pnl / scales[2], clip)
    return True


@njit(cache=True)
def _clip(v: float, clip: float) -> float:
    """``max(-clip, min(clip, v))`` as Python evaluates it (``min`` keeps its first argument unless the second
    is smaller), for the finite or infinite values the builder clips."""
    low = -clip
    if low < v < clip:
        return v
    m = v if v < clip else clip
    return m if m > low else low


@njit(cache=True)
def context_select(
    vector: np.ndarray,
    index: np.ndarray,
    scales: np.ndarray,
    regime: int,
    arm_pnl: np.ndarray,
    a_inv: np.ndarray,
    theta: np.ndarray,
    x: np.ndarray,
    alpha: float,
    epsilon: float,
    flags: np.ndarray,
    out: np.ndarray,
    order: np.ndarray,
) -> int:
    """``build_context`` into ``x`` then ``select_arm`` in one call (the decision path's): the greedy arm, -2
    where the context cannot be built, -1 where a score is not finite."""
    if not build_context(vector, index, scales, regime, arm_pnl, x):
        return -2
    return select_arm(a_inv, theta, x, alpha, epsilon, flags, out, order)
