"""Compiled per-event step of ``RegimeTracker``: the input EWMAs, the input row and the softmax in one call.

The same work in plain Python floats and three BLAS calls cost ~8.3 us per event, most of it interpreter
dispatch over ~40 small operations; one numba call does it in ~1.3 us (BTC-PERP held-out bars, 2-core box).
It is the tracker's only path (``update`` and ``update_regime`` both, and ``InputState`` runs its
``input_row``), so they always agree. IEEE float64 without ``fastmath``; the products ``A_k u`` are summed in
index order, where BLAS may sum in another, so the probabilities can differ from
``SoftmaxWeights.probability_list`` / ``probabilities`` (the stateless and batch paths) in the last bits
(a test holds them to 1e-12).

Layout. ``params`` (read-only, per detector; ``pack_params``): mean, 1 / scale, the rows of ``A_k`` without
their constant column (``k (d + 1)`` rows of ``d``, row-major), the constant column, the EWMA decays.
``state`` (per tracker; ``new_state``): the EWMA sums and weights, then scratch: the standardised row, the
rows ``A_k u``, and the ``k`` probabilities of the last step (read by ``RegimeTracker.update``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from models.features import FEATURE_NAMES

FloatArray = npt.NDArray[np.float64]

N_EWMA = 9
"""EWMAs in ``InputSpec.halflives`` order: r^2, range x3, volume x3, spread x2."""
USED_FEATURES: tuple[str, ...] = (
    *("ret_1", "ret_5", "ret_15", "ret_60", "rvol_15", "ma_cross", "rsi_14", "zscore_30", "volume_ratio"),
    *("drawdown_60", "spread_bps", "spread_z_60"),
)
_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
(I_RET1, I_RET5, I_RET15, I_RET60, I_RVOL, I_CROSS, I_RSI, I_Z30, I_VOLR, I_DD, I_SPREAD, I_SPREADZ) = (
    _F[name] for name in USED_FEATURES
)
"""Where the inputs' features lie in a ``FEATURE_NAMES`` vector (``USED_FEATURES`` order)."""
PARKINSON = 1.0 / (4.0 * math.log(2.0))
"""Parkinson (1980): ``ln(high / low)^2`` times this estimates the variance of one bar's return."""
_ROOT_5, _ROOT_15, _ROOT_60 = math.sqrt(5.0), math.sqrt(15.0), math.sqrt(60.0)

BAD_QUOTES = -1
"""``step``'s answer when the detector reads quotes and the event's spread is not > 0."""
BAD_RANGE = -2
"""``step``'s answer when the range is not ``high >= low > 0`` and finite."""


def pack_params(
    mean: FloatArray, inv_scale: FloatArray, rows: FloatArray, rows_const: FloatArray, decays: FloatArray
) -> FloatArray:
    """The read-only parameter array ``step`` reads (see the module docstring)."""
    parts = [mean, inv_scale, rows.ravel(), rows_const, decays]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float64)


def new_state(d: int, k: int) -> FloatArray:
    """A fresh tracker state: zero sums and weights, then scratch (see the module docstring)."""
    return np.zeros(2 * N_EWMA + d + k * (d + 1) + k, dtype=np.float64)


def probabilities_offset(d: int, k: int) -> int:
    """Where the last step's probabilities start in the state array."""
    return 2 * N_EWMA + d + k * (d + 1)


@njit(cache=True)
def _log(x: float) -> float:
    return math.log(x) if x > 0.0 else math.nan


@njit(cache=True)
def _log_of_ratio(numerator: float, denominator: float) -> float:
    if denominator > 0.0:
        ratio = numerator / denominator
        if ratio > 0.0:
            return math.log(ratio)
    return math.nan


@njit(cache=True)
def _fold(terms: np.ndarray, decays: np.ndarray, state: np.ndarray, means: np.ndarray) -> None:
    """One EWMA step per term (a NaN term only decays the old weights); the means into ``means``."""
    for i in range(N_EWMA):
        term, decay = terms[i], decays[i]
        if term == term:
            s = state[i] * decay + term
            w = state[N_EWMA + i] * decay + 1.0
        else:
            s = state[i] * decay
            w = state[N_EWMA + i] * decay
        state[i] = s
        state[N_EWMA + i] = w
        means[i] = s / w if w > 0.0 else math.nan


@njit(cache=True)
def _assemble(f: np.ndarray, means: np.ndarray, use_quotes: bool, row: np.ndarray) -> None:
    """The inputs from the features and the EWMA means (``InputSpec.names`` order); non-finite -> NaN."""
    sigma = math.sqrt(means[0])
    nan = math.nan
    if sigma > 0.0:  # scaled by a defined baseline; without one these inputs are undefined
        row[0] = f[I_RET5] / (sigma * _ROOT_5)
        row[1] = f[I_RET15] / (sigma * _ROOT_15)
        row[2] = f[I_RET60] / (sigma * _ROOT_60)
        row[3] = _log(f[I_RVOL] / sigma)
        row[4] = f[I_CROSS] / sigma
        row[8] = f[I_DD] / sigma
    else:
        row[0] = row[1] = row[2] = row[3] = row[4] = row[8] = nan
    row[5] = (f[I_RSI] - 50.0) / 50.0
    row[6] = f[I_Z30]
    row[7] = _log(f[I_VOLR])
    row[9] = 0.5 * _log_of_ratio(means[1], means[3])
    row[10] = 0.5 * _log_of_ratio(means[2], means[3])
    row[11] = _log_of_ratio(means[4], means[6])
    row[12] = _log_of_ratio(means[5], means[6])
    if use_quotes:
        row[13] = f[I_SPREADZ]
        row[14] = _log_of_ratio(means[7], means[8])
    for i in range(row.shape[0]):
        if not math.isfinite(row[i]):
            row[i] = nan


@njit(cache=True)
def input_row(
    features: np.ndarray, high: float, low: float, volume: float, use_quotes: bool, decays: np.ndarray,
    state: np.ndarray, row: np.ndarray,
) -> int:  # fmt: skip
    """Fold one event into the EWMAs in ``state`` and write its inputs into ``row``; 0, or a ``BAD_*`` code.

    The terms per EWMA (``InputSpec.halflives`` order): r^2, the Parkinson range variance x3, volume x3
    (NaN counts as 0, as in the feature engine), the spread x2. Nothing is folded when the answer is not 0.
    """
    if not (low > 0.0 and high >= low and high < math.inf):
        return BAD_RANGE
    spread = features[I_SPREAD]
    if use_quotes and not spread > 0.0:
        return BAD_QUOTES
    if volume != volume:
        volume = 0.0
    r = math.log(high / low)
    range_var = r * r * PARKINSON
    ret_1 = features[I_RET1]
    terms = np.empty(N_EWMA)
    terms[0] = ret_1 * ret_1
    terms[1] = terms[2] = terms[3] = range_var
    terms[4] = terms[5] = terms[6] = volume
    terms[7] = terms[8] = spread
    means = np.empty(N_EWMA)
    _fold(terms, decays, state, means)
    _assemble(features, means, use_quotes, row)
    return 0


@njit(cache=True)
def _standardise(z: np.ndarray, mean: np.ndarray, inv_scale: np.ndarray, clip: float) -> None:
    """(x - mean) / scale in place, NaN -> 0, clipped at +-``clip`` (``SoftmaxWeights.standardise``)."""
    for i in range(z.shape[0]):
        v = (z[i] - mean[i]) * inv_scale[i]
        z[i] = clip if v > clip else -clip if v < -clip else v if v == v else 0.0


@njit(cache=True)
def _softmax_argmax(logits: np.ndarray) -> int:
    """``logits`` -> softmax probabilities in place (as ``_normalised``); the first largest one's index."""
    k = logits.shape[0]
    top = logits.max()
    total = 0.0
    for j in range(k):
        logits[j] = math.exp(logits[j] - top)
        total += logits[j]
    best, best_p = 0, -1.0
    for j in range(k):
        p = logits[j] / total
        logits[j] = p
        if p > best_p:
            best, best_p = j, p
    return best


@njit(cache=True)
def step(
    features: np.ndarray, high: float, low: float, volume: float, use_quotes: bool, d: int, k: int,
    params: np.ndarray, state: np.ndarray, clip: float,
) -> int:  # fmt: skip
    """One event: fold it in, the regime probabilities into ``state``; the argmax, or a ``BAD_*`` code.

    ``SoftmaxWeights.probability_list`` on ``input_row``'s row: standardise; ``A_k u`` then ``u' A_k u`` with
    ``u = (1, z)``, each sum in index order; the softmax; the first largest probability.
    """
    n_rows = k * (d + 1)
    split = 2 * d + n_rows * d
    z = state[2 * N_EWMA : 2 * N_EWMA + d]
    code = input_row(features, high, low, volume, use_quotes, params[split + n_rows :], state, z)
    if code != 0:
        return code
    _standardise(z, params[0:d], params[d : 2 * d], clip)
    rows_w, rows_const = params[2 * d : split], params[split : split + n_rows]
    rows = state[2 * N_EWMA + d : 2 * N_EWMA + d + n_rows]
    for r in range(n_rows):
        acc = 0.0
        for i in range(d):
            acc += rows_w[r * d + i] * z[i]
        rows[r] = acc + rows_const[r]
    probs = state[2 * N_EWMA + d + n_rows :]
    for j in range(k):
        base = j * (d + 1)
        acc = 0.0
        for i in range(d):
            acc += rows[base + 1 + i] * z[i]
        probs[j] = acc + rows[base]
    return _softmax_argmax(probs)
