"""Fitting the regime detector on labelled bars (the simulator's ground truth) with scikit-learn.

scikit-learn is used for fitting only: ``fit_softmax`` returns the fitted ``LogisticRegression`` next
to the plain weights, and the tests hold the numpy inference of ``SoftmaxWeights`` to its
``predict_proba``. The training rows are every ``row_stride``-th bar of each frame: neighbouring bars
share almost all of their windows, so the skipped rows would add fit time, not information.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from models.features import compute_features, events_frame
from models.marketdata.simulator import REGIMES, SimulatorConfig, simulate
from models.regime.detector import RegimeDetector, SoftmaxWeights, expand, standardise
from models.regime.inputs import InputSpec, regime_inputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LABEL_COLUMN = "regime"
_INDEX_OF = {r.value: i for i, r in enumerate(REGIMES)}


def _check_number(obj: RegimeConfig, name: str, low: float, high: float, *, integral: bool = False) -> None:
    value: object = getattr(obj, name)
    number = isinstance(value, int) if integral else isinstance(value, int | float)
    # NaN fails the range test, so no separate finiteness check
    if isinstance(value, bool) or not isinstance(value, int | float) or not number or not low <= value <= high:
        what = "an int" if integral else "a number"
        raise ValueError(f"{name}: must be {what} in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeConfig:
    """Everything that determines a fit besides the data; equal configs and data, equal detectors."""

    use_quotes: bool = True
    """Read the quoted spread; set False for bars without bid and ask (e.g. the BTC-PERP sample)."""
    baseline_halflife: float = 720.0
    """Half-life in events of the long-run baselines that make the inputs scale-free."""
    row_stride: int = 8
    """Fit on every n-th row of each frame (neighbouring rows share almost all of their windows)."""
    l2_c: float = 0.05
    """Inverse L2 strength (scikit-learn's ``C``), chosen on the validation seeds, never the test seeds."""
    max_iter: int = 3_000
    """L-BFGS iteration cap; a fit that reaches it is refused rather than returned half-converged."""
    tol: float = 1e-4
    """L-BFGS gradient tolerance."""

    def __post_init__(self) -> None:
        if not isinstance(self.use_quotes, bool):
            raise ValueError(f"use_quotes: must be a bool, got {self.use_quotes!r}")
        _check_number(self, "baseline_halflife", 60.0, 1e6)
        _check_number(self, "row_stride", 1, 10_000, integral=True)
        _check_number(self, "l2_c", 1e-6, 1e6)
        _check_number(self, "max_iter", 10, 1_000_000, integral=True)
        _check_number(self, "tol", 1e-12, 1.0)

    @property
    def spec(self) -> InputSpec:
        return InputSpec(use_quotes=self.use_quotes, baseline_halflife=self.baseline_halflife)


def simulated_frames(seeds: Sequence[int], n_bars: int) -> list[pd.DataFrame]:
    """One labelled simulator frame per seed, default dynamics."""
    return [simulate(SimulatorConfig(seed=seed, n_bars=n_bars)) for seed in seeds]


def labels_of(frame: pd.DataFrame) -> IntArray:
    """Regime indices (``REGIMES`` order) of a labelled frame's ``regime`` column."""
    if LABEL_COLUMN not in frame.columns:
        raise ValueError(f"frame: needs a '{LABEL_COLUMN}' column of regime labels")
    values = frame[LABEL_COLUMN].astype(str)
    unknown = sorted(set(values) - set(_INDEX_OF))
    if unknown:
        raise ValueError(f"{LABEL_COLUMN}: unknown labels {unknown[:5]}; expected one of {list(_INDEX_OF)}")
    return np.asarray([_INDEX_OF[v] for v in values], dtype=np.int64)


def frame_inputs(frame: pd.DataFrame, spec: InputSpec, kind: str = "bars") -> FloatArray:
    """Input matrix of a curated bars (quotes, trades) frame: events, features, then ``regime_inputs``."""
    events = events_frame(frame, kind)
    return regime_inputs(events, compute_features(events), spec)


def training_set(frames: Sequence[pd.DataFrame], config: RegimeConfig) -> tuple[FloatArray, IntArray]:
    """Stacked inputs and labels of every ``row_stride``-th row of each frame (each frame computed alone)."""
    if not frames:
        raise ValueError("frames_with_labels: needs at least one labelled frame")
    xs, ys = [], []
    for frame in frames:
        xs.append(frame_inputs(frame, config.spec)[:: config.row_stride])
        ys.append(labels_of(frame)[:: config.row_stride])
    y = np.concatenate(ys)
    missing = [REGIMES[i].value for i in range(len(REGIMES)) if not (y == i).any()]
    if missing:
        raise ValueError(f"frames_with_labels: no training rows for regimes {missing}; add frames or bars")
    return np.concatenate(xs), y


class SoftmaxFit(NamedTuple):
    """The plain weights and the scikit-learn objects they were read from (for the parity test)."""

    weights: SoftmaxWeights
    model: Any
    """The fitted ``LogisticRegression``, on ``scaler.transform(expand(standardise(x)))``."""
    scaler: Any
    """The ``StandardScaler`` of the expanded columns."""


def fit_softmax(x: FloatArray, y: IntArray, config: RegimeConfig) -> SoftmaxFit:
    """Fit the quadratic softmax; returns the plain weights and the scikit-learn model they came from.

    Inputs are standardised (NaN-aware), winsorised and expanded; the expanded columns are
    standardised again so one L2 strength suits them all, and that second scaling is folded into
    the returned coefficients.
    """
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise ValueError("frames_with_labels: an input is undefined on every training row")
    scale = np.where(std > 0.0, std, 1.0)
    q = expand(standardise(x, mean, scale))
    scaler = StandardScaler().fit(q)
    model = LogisticRegression(C=config.l2_c, max_iter=config.max_iter, tol=config.tol)
    model.fit(scaler.transform(q), y)
    if int(model.n_iter_[0]) >= config.max_iter:
        raise RuntimeError(f"max_iter: L-BFGS did not converge in {config.max_iter} iterations")
    coef = np.asarray(model.coef_, dtype=np.float64) / np.asarray(scaler.scale_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64) - coef @ np.asarray(scaler.mean_, dtype=np.float64)
    weights = SoftmaxWeights(mean=mean, scale=scale, coef=coef, intercept=intercept)
    return SoftmaxFit(weights, model, scaler)


def fit_regime_detector(frames_with_labels: Sequence[pd.DataFrame], config: RegimeConfig) -> RegimeDetector:
    """Fit a detector on labelled bar frames (``simulate`` output or any frame with a ``regime`` column)."""
    started = time.perf_counter()
    x, y = training_set(frames_with_labels, config)
    fitted = fit_softmax(x, y, config)
    metadata = {
        "n_frames": float(len(frames_with_labels)),
        "n_train_rows": float(len(y)),
        "n_iter": float(fitted.model.n_iter_[0]),
        "row_stride": float(config.row_stride),
        "l2_c": config.l2_c,
        "fit_seconds": time.perf_counter() - started,
    }
    return RegimeDetector(spec=config.spec, weights=fitted.weights, metadata=metadata)
