"""Compiled LinUCB kernels: the score of every arm, and one Sherman-Morrison step.

Plain loops under numba, one call each, because at d=20 and 6 arms the per-call overhead of a chain of
NumPy operations (about 1 us each) costs more than the arithmetic. The math is the same as in the module
docstring of ``linucb``; the summation order is fixed, so results are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def ucb_scores(
    a_inv: np.ndarray, theta: np.ndarray, x: np.ndarray, alpha: float, allowed: np.ndarray, scores: np.ndarray
) -> int:
    """Write ``theta_a . x + alpha sqrt(x^T A_a^{-1} x)`` for every arm into ``scores``.

    Returns the best allowed arm (lowest index on ties), or -1 when the context or any score is not finite.
    """
    k, d = theta.shape
    best = -1
    best_score = -math.inf
    for a in range(k):
        mean = 0.0
        quad = 0.0
        for i in range(d):
            row = 0.0
            for j in range(d):
                row += a_inv[a, i, j] * x[j]
            quad += x[i] * row
            mean += theta[a, i] * x[i]
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
