"""Compiled batch-1 forward pass of the exported actor MLP.

One numba call for the whole network, because at batch 1 a chain of NumPy operations (about 1 us each:
matmul, bias add and activation per layer, three more for the output) costs more than the arithmetic of a
30-256-256-3 MLP. Each dense layer runs as an axpy over the rows of the (in, out) weight matrix: the inner
loop runs over independent outputs, so it vectorizes without ``fastmath`` and every sum keeps its fixed
order (IEEE float32, deterministic, NaN in -> NaN out like the NumPy path).

Every call allocates its own outputs: the kernel holds no state, so the returned array is the caller's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b`` for one row; ``w`` is (in, out)."""
    out = b.copy()
    for i in range(w.shape[0]):
        xi = x[i]
        for j in range(w.shape[1]):
            out[j] += xi * w[i, j]
    return out


@njit(cache=True)
def _activate(h: np.ndarray, relu: bool) -> None:
    if relu:
        zero = np.float32(0.0)
        for j in range(h.shape[0]):
            if h[j] < zero:  # a NaN stays NaN, as with np.maximum
                h[j] = zero
    else:
        for j in range(h.shape[0]):
            h[j] = math.tanh(h[j])


@njit(cache=True)
def forward_row(
    x: np.ndarray,
    weights: tuple[np.ndarray, ...],
    biases: tuple[np.ndarray, ...],
    relu: bool,
    squash: bool,
    low: np.ndarray,
    high: np.ndarray,
    half_range: np.ndarray,
    centre: np.ndarray,
) -> np.ndarray:
    """The action of one observation ``x``; the caller checks ``len(x)`` (numba does not bounds-check).

    ``squash``: ``centre + half_range * tanh(z)`` (DDPG/TD3's rescaled tanh), else ``z`` clipped to
    ``[low, high]`` (PPO's clipped mean).
    """
    h = _dense(x, weights[0], biases[0])
    for k in range(1, len(weights)):
        _activate(h, relu)
        h = _dense(h, weights[k], biases[k])
    for j in range(h.shape[0]):
        if squash:
            h[j] = centre[j] + half_range[j] * math.tanh(h[j])
        elif h[j] < low[j]:
            h[j] = low[j]
        elif h[j] > high[j]:
            h[j] = high[j]
    return h
