"""The regime detector's input vector: scale-free transforms of the platform features plus a few EWMAs.

The detector reads the 21 features of ``models.features`` and adds nine exponentially weighted means
of the same event stream, each an O(1) update per event:

* ``r^2`` over a long half-life: the baseline variance ``sigma_L^2`` that makes returns, volatility,
  the moving-average gap and the drawdown scale-free, so a model fitted on simulated bars reads a
  real instrument of another price level and volatility (BTC at 46,000 or a simulated 100);
* the Parkinson (1980) range variance ``ln(high / low)^2 / (4 ln 2)`` over 5, 20 and the long
  half-life: a volatility level from highs and lows, about five times as efficient as close-to-close;
* volume over 10, 30 and the long half-life: volume relative to its own long-run level;
* ``spread_bps`` over 3 and the long half-life (only with quotes): the quoted spread widens with
  volatility, so its level against its long-run mean tells the volatility regime within a few bars.

Every mean is the bias-corrected EWMA ``sum_i d^(t-i) x_i / sum_i d^(t-i)`` with ``d = 0.5^(1 /
half-life)`` over the defined values (pandas' ``ewm(halflife, adjust=True)``): it starts as a plain
running mean instead of from a seed value. ``InputState`` updates it per event; ``regime_inputs``
is the vectorised twin over a whole frame (pandas ewm), held to parity by the tests. An input that is
undefined (warm-up, a zero baseline) is NaN; the model reads NaN as the training mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.features import FEATURE_NAMES
from models.features.batch import event_arrays
from models.regime._kernel import BAD_QUOTES, BAD_RANGE, N_EWMA, PARKINSON, USED_FEATURES, input_row

FloatArray = npt.NDArray[np.float64]

RANGE_HALFLIVES = (5.0, 20.0)
VOLUME_HALFLIVES = (10.0, 30.0)
SPREAD_HALFLIFE = 3.0
RETURN_HORIZONS = (5, 15, 60)

CORE_INPUTS: tuple[str, ...] = (
    *(f"ret_z_{k}" for k in RETURN_HORIZONS),
    "log_rvol_15",
    "ma_cross_z",
    "rsi_centered",
    "zscore_30",
    "log_volume_ratio",
    "drawdown_z",
    *(f"range_vol_{h:g}" for h in RANGE_HALFLIVES),
    *(f"volume_level_{h:g}" for h in VOLUME_HALFLIVES),
)
QUOTE_INPUTS: tuple[str, ...] = ("spread_z_60", f"spread_level_{SPREAD_HALFLIFE:g}")

_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
_FEATURE_SHAPE = (len(FEATURE_NAMES),)


@dataclass(frozen=True, kw_only=True, slots=True)
class InputSpec:
    """Which inputs the detector reads; saved with the model so a loaded detector rebuilds them alike."""

    use_quotes: bool = True
    """Read the quoted spread (``spread_z_60`` and the spread level); events must then carry bid and ask."""
    baseline_halflife: float = 720.0
    """Half-life in events of the long-run baselines (720 one-minute bars: half a day)."""

    def __post_init__(self) -> None:
        if not isinstance(self.use_quotes, bool):
            raise ValueError(f"use_quotes: must be a bool, got {self.use_quotes!r}")
        h = self.baseline_halflife
        if isinstance(h, bool) or not isinstance(h, int | float) or not 60.0 <= h <= 1e6:
            raise ValueError(f"baseline_halflife: must be a number in [60, 1e6] events, got {h!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Input names in vector order."""
        return CORE_INPUTS + QUOTE_INPUTS if self.use_quotes else CORE_INPUTS

    @property
    def halflives(self) -> tuple[float, ...]:
        """Half-lives of the EWMAs in state order: r^2, range x3, volume x3, spread x2."""
        long = float(self.baseline_halflife)
        return (long, *RANGE_HALFLIVES, long, *VOLUME_HALFLIVES, long, SPREAD_HALFLIFE, long)


def _log_ratio(numerator: FloatArray | float, denominator: FloatArray | float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(np.divide(numerator, denominator)), dtype=np.float64)


def _assemble(f: FloatArray, means: FloatArray, spec: InputSpec) -> FloatArray:
    """Inputs from the used features ``f`` (columns in ``USED_FEATURES`` order) and the EWMA means, rows = events.

    The vectorised assembly; ``InputState.update`` is its scalar twin, written in plain floats for speed.
    """
    r2_long, range_5, range_20, range_long, vol_10, vol_30, vol_long = (means[:, i] for i in range(7))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(r2_long)
        columns = [
            *(f[:, 1 + i] / (sigma * math.sqrt(k)) for i, k in enumerate(RETURN_HORIZONS)),
            _log_ratio(f[:, 4], sigma),
            f[:, 5] / sigma,
            (f[:, 6] - 50.0) / 50.0,
            f[:, 7],
            _log_ratio(f[:, 8], 1.0),
            f[:, 9] / sigma,
            0.5 * _log_ratio(range_5, range_long),
            0.5 * _log_ratio(range_20, range_long),
            _log_ratio(vol_10, vol_long),
            _log_ratio(vol_30, vol_long),
        ]
        if spec.use_quotes:
            columns += [f[:, 11], _log_ratio(means[:, 7], means[:, 8])]
    out = np.stack(columns, axis=1)
    return np.where(np.isfinite(out), out, np.nan)


def _raw_terms(
    ret_1: FloatArray, high: FloatArray, low: FloatArray, volume: FloatArray, spread: FloatArray
) -> FloatArray:
    """Per-event terms the EWMAs average, one column per EWMA in ``InputSpec.halflives`` order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        range_var = np.log(high / low) ** 2 * PARKINSON
    r2 = ret_1 * ret_1
    return np.stack([r2, range_var, range_var, range_var, volume, volume, volume, spread, spread], axis=1)


def _quote_error(where: str, spread: float) -> ValueError:
    return ValueError(
        f"{where}: spread_bps is {spread!r}; a detector fitted with use_quotes=True needs bid < ask on every "
        "event (fit one with use_quotes=False for bars without quotes)"
    )


def _check_quotes(spread: FloatArray, spec: InputSpec) -> None:
    missing = ~(spread > 0.0)
    if spec.use_quotes and missing.any():
        row = int(np.argmax(missing))
        raise _quote_error(f"event {row}", float(spread[row]))


def regime_inputs(events: pd.DataFrame, features: pd.DataFrame, spec: InputSpec) -> FloatArray:
    """Batch twin of ``InputState``: the input matrix (events x ``spec.names``) of a whole event frame.

    ``events`` is the canonical event frame (``models.features.events_frame``) and ``features`` its
    ``compute_features`` output, row for row. Row t depends only on rows up to t.
    """
    if len(events) != len(features):
        raise ValueError(f"features: {len(features)} rows for {len(events)} events")
    ev = event_arrays(events)
    f = np.stack([features[name].to_numpy(dtype=np.float64) for name in USED_FEATURES], axis=1)
    _check_quotes(f[:, 10], spec)
    terms = _raw_terms(f[:, 0], ev["high"], ev["low"], ev["volume"], f[:, 10])
    means = np.empty_like(terms)
    for j, halflife in enumerate(spec.halflives):
        ewm = pd.Series(terms[:, j]).ewm(halflife=halflife, adjust=True, ignore_na=False)
        means[:, j] = ewm.mean().to_numpy()
    # pandas carries the last mean forward over an undefined term; before any defined term it is NaN
    return _assemble(f, means, spec)


def ewma_decays(spec: InputSpec) -> FloatArray:
    """Per-event decay ``0.5 ** (1 / half-life)`` of each EWMA, ``InputSpec.halflives`` order."""
    return np.array([0.5 ** (1.0 / h) for h in spec.halflives])


class InputState:
    """Streaming input state of one symbol: ``update`` folds one event in, O(1), and returns its inputs.

    The arithmetic is ``models.regime._kernel.input_row`` (one compiled call; ``RegimeTracker`` runs the same
    function inside its per-event step), on the EWMA sums and weights this object holds.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self._decay = ewma_decays(spec)
        self._state = np.zeros(2 * N_EWMA)

    def update(self, features: FloatArray, *, high: float, low: float, volume: float) -> FloatArray:
        """Inputs of the event whose feature vector (``FEATURE_NAMES`` order) is ``features`` (non-finite: NaN).

        ``high`` and ``low`` are the event's range (the close for a quote or trade event, as
        ``events_frame`` sets them); ``volume`` NaN counts as 0, as in the feature engine.
        """
        check_shape(features)
        row = np.empty(len(self.spec.names))
        code = input_row(features, high, low, volume, self.spec.use_quotes, self._decay, self._state, row)
        check_event(features, code, high, low)
        return row

    def update_row(self, features: FloatArray, *, high: float, low: float, volume: float) -> list[float]:
        """``update`` as a list of floats."""
        out: list[float] = self.update(features, high=high, low=low, volume=volume).tolist()
        return out


def check_event(features: FloatArray, code: int, high: float, low: float) -> None:
    """Raise the error behind a kernel answer (``BAD_RANGE``, ``BAD_QUOTES``); a regime index or 0 passes."""
    if code >= 0:
        return
    if code == BAD_RANGE:
        raise ValueError(f"high/low: need high >= low > 0, got high={high!r}, low={low!r}")
    if code == BAD_QUOTES:
        raise _quote_error("event", float(features[_F["spread_bps"]]))
    raise ValueError(f"regime step: unexpected answer {code}")


def check_shape(features: FloatArray) -> None:
    if features.shape != _FEATURE_SHAPE:
        raise ValueError(f"features: expected shape ({len(FEATURE_NAMES)},), got {features.shape}")
