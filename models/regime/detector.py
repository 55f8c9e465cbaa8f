"""The fitted regime detector: a quadratic softmax over standardised inputs, inference in numpy only.

The model is multinomial logistic regression on the standardised inputs ``z`` and all their pairwise
products ``z_i z_j`` (i <= j): linear in ``z`` it can only cut the input space by hyperplanes, while the
products let it learn "volatility far from normal in either direction" or "a large move given a high
range", i.e. the class-conditional covariance structure that QDA would model, under one convex fit.
With ``u = (1, z)`` the logit of regime k is the quadratic form ``u' A_k u``.
The fitted weights are plain arrays; ``save`` writes them as JSON (Python floats round-trip exactly),
``load`` reads them back without pickle, so a loaded detector predicts bit for bit the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.marketdata.simulator import REGIMES, Regime
from models.regime._kernel import new_state, pack_params, probabilities_offset, step
from models.regime.inputs import InputSpec, check_event, check_shape, ewma_decays

FloatArray = npt.NDArray[np.float64]

FORMAT = "rtopt-regime-detector"
FORMAT_VERSION = 1
CLIP_Z = 6.0
"""Standardised inputs are winsorised at +-6 sd, in training and inference alike, so the quadratic
terms cannot extrapolate wildly on data far outside the training range (a flash crash, a new venue)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeEstimate:
    """The detector's output for one event: immutable, recorded with every decision."""

    regime: Regime
    probabilities: tuple[float, ...]
    """Posterior probability of each regime, in ``REGIMES`` order; sums to 1."""
    confidence: float
    """Probability of the chosen regime (the largest)."""


def n_quadratic(n_inputs: int) -> int:
    """Columns of ``expand``: the inputs plus their n (n + 1) / 2 distinct pairwise products."""
    return n_inputs + n_inputs * (n_inputs + 1) // 2


def standardise(x: FloatArray, mean: FloatArray, scale: FloatArray) -> FloatArray:
    """(x - mean) / scale, NaN (an undefined input) read as the mean, winsorised at +-``CLIP_Z``."""
    z = (x - mean) * (1.0 / scale)
    return np.clip(np.where(np.isnan(z), 0.0, z), -CLIP_Z, CLIP_Z)


def expand(z: FloatArray) -> FloatArray:
    """Rows of z followed by their products z_i z_j for i <= j in row-major order (``np.triu_indices``)."""
    upper_i, upper_j = np.triu_indices(z.shape[1])
    return np.concatenate([z, z[:, upper_i] * z[:, upper_j]], axis=1)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SoftmaxWeights:
    """Fitted arrays: input standardisation, then logits = coef @ expand(z) + intercept."""

    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    """(regimes, ``n_quadratic(inputs)``), with the standardisation of the expanded columns folded in."""
    intercept: FloatArray
    _quadratic: FloatArray = field(init=False, repr=False)
    _inv_scale: FloatArray = field(init=False, repr=False)
    _rows: FloatArray = field(init=False, repr=False)
    _rows_const: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        d, k = self.mean.shape[0], len(REGIMES)
        shapes = {"mean": (d,), "scale": (d,), "coef": (k, n_quadratic(d)), "intercept": (k,)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value.shape != shape or not np.isfinite(value).all():
                raise ValueError(f"{name}: must be finite with shape {shape}, got {value.shape}")
        if not (self.scale > 0.0).all():
            raise ValueError("scale: every input scale must be > 0")
        # logits_k = u' A_k u with u = (1, z): the intercept at A_k[0, 0], the linear weights in row 0
        # and the products in the upper triangle, so inference is two matrix products, whatever d is.
        a = np.zeros((k, d + 1, d + 1), dtype=np.float64)
        a[:, 0, 0] = self.intercept
        a[:, 0, 1:] = self.coef[:, :d]
        upper_i, upper_j = np.triu_indices(d)
        a[:, 1 + upper_i, 1 + upper_j] = self.coef[:, d:]
        object.__setattr__(self, "_quadratic", a)
        object.__setattr__(self, "_inv_scale", 1.0 / self.scale)
        flat = a.reshape(k * (d + 1), d + 1)
        object.__setattr__(self, "_rows", np.ascontiguousarray(flat[:, 1:]))
        object.__setattr__(self, "_rows_const", np.ascontiguousarray(flat[:, 0]))

    def packed(self, spec: InputSpec) -> FloatArray:
        """The weights and ``spec``'s EWMA decays as ``models.regime._kernel.step`` reads them (one array)."""
        return pack_params(self.mean, self._inv_scale, self._rows, self._rows_const, ewma_decays(spec))

    def probabilities(self, x: FloatArray) -> FloatArray:
        """Softmax probabilities (rows, regimes) of an input matrix (rows, inputs)."""
        u = np.concatenate([np.ones((x.shape[0], 1)), standardise(x, self.mean, self.scale)], axis=1)
        logits = np.einsum("ni,kij,nj->nk", u, self._quadratic, u, optimize=True)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        probs: FloatArray = weights / weights.sum(axis=1, keepdims=True)
        return probs

    def probability_list(self, x: FloatArray) -> list[float]:
        """``probabilities`` of one input vector as floats, in as few numpy calls as the hot path allows.

        With u = (1, z): A_k u = A_k[:, 0] + A_k[:, 1:] z, so the constant column is added instead of
        building u (a concatenation costs more than the addition); the softmax of 7 numbers is cheaper
        in plain floats than in numpy.
        """
        z = (x - self.mean) * self._inv_scale
        z[np.isnan(z)] = 0.0
        np.minimum(z, CLIP_Z, out=z)
        np.maximum(z, -CLIP_Z, out=z)
        return self._softmax(z)

    def _softmax(self, z: FloatArray) -> list[float]:
        rows = (self._rows @ z + self._rows_const).reshape(len(REGIMES), -1)
        return _normalised((rows[:, 1:] @ z + rows[:, 0]).tolist())


def _normalised(logits: list[float]) -> list[float]:
    """The softmax of a few logits in plain floats (cheaper than numpy for 7 numbers)."""
    top = max(logits)
    exp = math.exp
    weights = [exp(v - top) for v in logits]
    total = sum(weights)
    return [v / total for v in weights]


def _estimate(probs: list[float]) -> RegimeEstimate:
    best = probs.index(max(probs))
    return RegimeEstimate(regime=REGIMES[best], probabilities=tuple(probs), confidence=probs[best])


class RegimeDetector:
    """A fitted detector: stateless ``predict`` on input vectors, ``tracker()`` for per-symbol streams."""

    def __init__(self, *, spec: InputSpec, weights: SoftmaxWeights, metadata: dict[str, float] | None = None) -> None:
        if weights.mean.shape[0] != len(spec.names):
            raise ValueError(f"weights: {weights.mean.shape[0]} inputs, the spec has {len(spec.names)}")
        self.spec = spec
        self.weights = weights
        self.metadata: dict[str, float] = dict(metadata or {})
        """Facts of the fit (rows, iterations, regularisation), saved alongside the weights."""

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.spec.names

    def predict(self, inputs: FloatArray) -> RegimeEstimate:
        """Estimate for one input vector (``input_names`` order; NaN where undefined)."""
        x = np.asarray(inputs, dtype=np.float64)
        if x.shape != (len(self.spec.names),):
            raise ValueError(f"inputs: expected shape ({len(self.spec.names)},), got {x.shape}")
        return _estimate(self.weights.probability_list(x))

    def predict_many(self, inputs: FloatArray) -> FloatArray:
        """Probabilities (rows, regimes in ``REGIMES`` order) for an input matrix (rows, ``input_names``)."""
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.spec.names):
            raise ValueError(f"inputs: expected shape (n, {len(self.spec.names)}), got {x.shape}")
        return self.weights.probabilities(x)

    def tracker(self) -> RegimeTracker:
        """Fresh streaming state for one symbol."""
        return RegimeTracker(self)

    def save(self, path: Path) -> None:
        """Write the detector as JSON: format, regimes, input spec, weights and metadata; no pickle."""
        w = self.weights
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "regimes": [r.value for r in REGIMES],
            "inputs": {
                "names": list(self.spec.names),
                "use_quotes": self.spec.use_quotes,
                "baseline_halflife": self.spec.baseline_halflife,
            },
            "weights": {name: getattr(w, name).tolist() for name in ("mean", "scale", "coef", "intercept")},
            "metadata": self.metadata,
        }
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> RegimeDetector:
        """Read a file written by ``save``; refuses other formats, versions, regimes or input code."""
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a {FORMAT} file of version {FORMAT_VERSION}")
        if document["regimes"] != [r.value for r in REGIMES]:
            raise ValueError(f"{path}: regimes {document['regimes']} differ from this code's {list(REGIMES)}")
        inputs = document["inputs"]
        spec = InputSpec(use_quotes=inputs["use_quotes"], baseline_halflife=inputs["baseline_halflife"])
        if list(spec.names) != inputs["names"]:
            raise ValueError(f"{path}: inputs {inputs['names']} differ from this code's {list(spec.names)}")
        arrays = {name: np.asarray(v, dtype=np.float64) for name, v in document["weights"].items()}
        weights = SoftmaxWeights(**arrays)
        return cls(spec=spec, weights=weights, metadata={k: float(v) for k, v in document["metadata"].items()})


class RegimeTracker:
    """Per-symbol streaming detector: one ``update`` per event, O(1), causal by construction.

    Each event is one compiled call (``models.regime._kernel.step``): the input EWMAs, the input row and the
    softmax, on this tracker's state array and the detector's packed weights.
    """

    def __init__(self, detector: RegimeDetector) -> None:
        self.detector = detector
        self._use_quotes = detector.spec.use_quotes
        self._d, self._k = detector.weights.mean.shape[0], len(REGIMES)
        self._params = detector.weights.packed(detector.spec)
        self._state = new_state(self._d, self._k)
        self._probs_at = probabilities_offset(self._d, self._k)

    def update(self, features: FloatArray, *, high: float, low: float, volume: float) -> RegimeEstimate:
        """Estimate after the event with feature vector ``features`` (``FeatureEngine.update``'s output)."""
        self._step(features, high, low, volume)
        at = self._probs_at
        return _estimate(self._state[at : at + self._k].tolist())

    def update_regime(self, features: FloatArray, *, high: float, low: float, volume: float) -> Regime:
        """``update(...).regime`` without building the estimate (the decision path reads only the regime)."""
        return REGIMES[self._step(features, high, low, volume)]

    def _step(self, features: FloatArray, high: float, low: float, volume: float) -> int:
        check_shape(features)
        answer: int = step(
            features, high, low, volume, self._use_quotes, self._d, self._k, self._params, self._state, CLIP_Z
        )
        if answer < 0:
            check_event(features, answer, high, low)
        return answer
