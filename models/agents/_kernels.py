"""Compiled batch-1 forward pass of the exported actor MLP.

One numba call for the whole network, because at batch 1 a chain of NumPy operations (about 1 us each:
matmul, bias add and activation per layer, three more for the output) costs more than the arithmetic of a
30-256-256-3 MLP. Each dense layer runs as an axpy over the rows of the (in, out) weight matrix: the inner
loop runs over independent outputs, so it vectorizes without ``fastmath`` and every sum keeps its fixed
order (IEEE float32, deterministic, NaN in -> NaN out like the NumPy path).

The weights travel packed in one flat array (``pack_layers``): numba types every argument on every call,
and a tuple of arrays per layer cost about 1.5 us of that per decision, more than the 64-wide layers' math.

Every call allocates its own outputs: the kernel holds no state, so the returned array is the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from numba import njit

from models.env.observation import live_observation

Float32Array = npt.NDArray[np.float32]


def pack_layers(layers: Sequence[tuple[Float32Array, Float32Array]]) -> tuple[Float32Array, npt.NDArray[np.int64]]:
    """``forward_row``'s ``params`` and ``sizes`` from ``(weight, bias)`` pairs with weights laid out (in, out).

    ``params`` holds each layer's weight (row-major) then its bias; ``sizes`` the widths from input to output.
    """
    sizes = [layers[0][0].shape[0], *(w.shape[1] for w, _ in layers)]
    params = np.concatenate([part.ravel() for w, b in layers for part in (w, b)]).astype(np.float32)
    return params, np.asarray(sizes, dtype=np.int64)


@njit(cache=True)
def _dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b`` for one row; ``w`` is (in, out); each output sums ``b, x0 w0, x1 w1, ...`` in that order."""
    n_out = w.shape[1]
    out = np.empty(n_out, dtype=np.float32)
    for j in range(n_out):
        out[j] = b[j]
    for i in range(w.shape[0]):
        xi = x[i]
        row = w[i]
        for j in range(n_out):
            out[j] += xi * row[j]
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
    params: np.ndarray,
    sizes: np.ndarray,
    relu: bool,
    squash: bool,
    bounds: np.ndarray,
) -> np.ndarray:
    """The action of one observation ``x``; the caller checks ``len(x)`` (numba does not bounds-check).

    ``params``, ``sizes``: the network as ``pack_layers`` lays it out. ``bounds``: rows low, high,
    half_range, centre of the action. ``squash``: ``centre + half_range * tanh(z)`` (DDPG/TD3's rescaled
    tanh), else ``z`` clipped to ``[low, high]`` (PPO's clipped mean).
    """
    h = x
    offset = 0
    for k in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[k], sizes[k + 1]
        if k > 0:
            _activate(h, relu)
        w = params[offset : offset + n_in * n_out].reshape((n_in, n_out))
        offset += n_in * n_out
        b = params[offset : offset + n_out]
        offset += n_out
        h = _dense(h, w, b)
    low, high, half_range, centre = bounds[0], bounds[1], bounds[2], bounds[3]
    for j in range(h.shape[0]):
        if squash:
            h[j] = centre[j] + half_range[j] * math.tanh(h[j])
        elif h[j] < low[j]:
            h[j] = low[j]
        elif h[j] > high[j]:
            h[j] = high[j]
    return h


@njit(cache=True)
def observe_and_act(
    obs: np.ndarray,
    features: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    clip: float,
    position: float,
    entry_price: float,
    close: float,
    regime: int,
    params: np.ndarray,
    sizes: np.ndarray,
    relu: bool,
    squash: bool,
    bounds: np.ndarray,
) -> np.ndarray:
    """The live observation, written into ``obs``, and the actor's action on it in one compiled call.

    The same two kernels as ``ObservationBuilder.build`` then ``NumpyActor``, so bit for bit their results,
    for one dispatch (and none of the Python between them) instead of two. ``forward_row`` does not write
    into its input, so ``obs`` keeps the observation as built. The caller checks the lengths.
    """
    live_observation(obs, features, center, scale, clip, position, entry_price, close, regime)
    return forward_row(obs, params, sizes, relu, squash, bounds)
