"""Observation builder: features + inventory + regime -> one float32 vector, the same in training and live.

Layout (``observation_names()``; 30 entries with the default features)::

    [0, 21)   the 21 features in ``FEATURE_NAMES`` order, standardised by a ``FeatureScaler`` fitted on
              the training period, NaN (warm-up) -> 0, clipped to +-observation_clip
    21        position: signed fraction of the maximum position, in [-1, 1]
    22        unrealized_return: 100 * sign(position) * (close / entry_price - 1), percent; 0 when flat;
              clipped to +-observation_clip
    [23, 30)  regime one-hot in ``REGIMES`` order (trending up, trending down, sideways, high volatility,
              low volatility, breakout, reversal); all zero when no regime is known

The scaler is data, not config: fit it on the training replay and ship it with the model, so serving
standardises live features with the training statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from models.env.replay import N_REGIMES, Float32Array, FloatArray, MarketReplay
from models.features import FEATURE_NAMES
from models.marketdata.simulator import REGIMES

INVENTORY_NAMES: tuple[str, ...] = ("position", "unrealized_return")
REGIME_NAMES: tuple[str, ...] = tuple(f"regime_{regime.value}" for regime in REGIMES)
_FLOAT64 = np.dtype(np.float64)


def observation_names(feature_names: tuple[str, ...] = FEATURE_NAMES) -> tuple[str, ...]:
    """Name of every observation entry, in vector order."""
    return (*feature_names, *INVENTORY_NAMES, *REGIME_NAMES)


OBSERVATION_NAMES = observation_names()
OBSERVATION_DIM = len(OBSERVATION_NAMES)
"""30 with the default features: the ``state_dim`` the agents default to."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureScaler:
    """Per-feature standardisation ``(x - center) / scale`` fitted on training data."""

    center: tuple[float, ...]
    scale: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.center) != len(self.scale):
            raise ValueError(f"scale: length {len(self.scale)} differs from center's {len(self.center)}")
        if not all(np.isfinite(self.center)):
            raise ValueError("center: must be finite")
        if not all(np.isfinite(s) and s > 0.0 for s in self.scale):
            raise ValueError("scale: must be finite and > 0")

    @classmethod
    def fit(cls, features: npt.ArrayLike) -> FeatureScaler:
        """Mean and population std of each column over its defined rows; constant columns get scale 1."""
        values = np.asarray(features, dtype=np.float64)
        finite = np.isfinite(values)
        counts = finite.sum(axis=0)
        if (counts == 0).any():
            raise ValueError(f"features: column {int(np.argmax(counts == 0))} has no defined value to fit")
        filled = np.where(finite, values, 0.0)
        center = filled.sum(axis=0) / counts
        spread = np.sqrt(np.where(finite, (values - center) ** 2, 0.0).sum(axis=0) / counts)
        # A constant column (no quotes: spread_bps == 0) carries no information; scale 1 keeps it at 0.
        scale = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(center)), spread, 1.0)
        return cls(center=tuple(center.tolist()), scale=tuple(scale.tolist()))

    def transform(self, features: npt.ArrayLike, clip: float) -> Float32Array:
        """Standardised float32 features; NaN -> 0, then clipped to ``[-clip, clip]``."""
        values = np.asarray(features, dtype=np.float64)
        scaled = (values - np.asarray(self.center)) / np.asarray(self.scale)
        out: Float32Array = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=clip, neginf=-clip), -clip, clip).astype(
            np.float32
        )
        return out

    def to_json(self) -> str:
        return json.dumps({"center": list(self.center), "scale": list(self.scale)})

    @classmethod
    def from_json(cls, text: str) -> FeatureScaler:
        data = json.loads(text)
        return cls(center=tuple(float(v) for v in data["center"]), scale=tuple(float(v) for v in data["scale"]))


class ObservationBuilder:
    """Builds observations; the static part (features, regime) of a replay is computed once per env."""

    def __init__(self, scaler: FeatureScaler, *, clip: float, feature_names: tuple[str, ...] = FEATURE_NAMES) -> None:
        if len(scaler.center) != len(feature_names):
            raise ValueError(f"scaler: fitted on {len(scaler.center)} features, the replay has {len(feature_names)}")
        self.scaler = scaler
        self.clip = clip
        self.names = observation_names(feature_names)
        self.position_index = len(feature_names)
        self.unrealized_index = self.position_index + 1
        self.regime_start = self.position_index + len(INVENTORY_NAMES)
        self._center = np.asarray(scaler.center, dtype=np.float64)
        self._scale = np.asarray(scaler.scale, dtype=np.float64)
        self._n_features = len(feature_names)
        # compile (or load numba's on-disk cache) now rather than on the first live decision
        self.build(np.zeros(self._n_features), position=0.0, entry_price=0.0, close=0.0, regime=-1)

    @property
    def dim(self) -> int:
        return len(self.names)

    def bounds(self) -> tuple[Float32Array, Float32Array]:
        """Low and high of every entry, for the observation space."""
        high = np.full(self.dim, self.clip, dtype=np.float32)
        high[self.position_index] = 1.0
        high[self.regime_start :] = 1.0
        low = -high
        low[self.regime_start :] = 0.0
        return low, high

    def static_block(self, replay: MarketReplay) -> Float32Array:
        """``(n, dim)`` observations of every row at zero inventory; the env fills the inventory entries."""
        block = np.zeros((len(replay), self.dim), dtype=np.float32)
        block[:, : self.position_index] = self.scaler.transform(replay.features, self.clip)
        block[:, self.regime_start :] = replay.regime
        return block

    def unrealized_return(self, position: float, entry_price: float, close: float) -> float:
        """Entry 22: percent return of the open inventory at ``close``, clipped; 0 when flat (``_unrealized``
        is the compiled twin the decision path runs)."""
        if position == 0.0 or entry_price <= 0.0:
            return 0.0
        value = 100.0 * (close / entry_price - 1.0)
        value = value if position > 0.0 else -value
        return max(-self.clip, min(self.clip, value))

    def build(
        self,
        features: FloatArray,
        *,
        position: float,
        entry_price: float,
        close: float,
        regime: npt.ArrayLike | None = None,
    ) -> Float32Array:
        """One observation for the live path: a raw feature vector (e.g. ``FeatureEngine`` output) + state.

        ``regime`` is an integer code into ``REGIMES``, a length-7 one-hot/probability vector, or None.
        """
        check_position(position)
        unrealized = self.unrealized_return(position, entry_price, close)
        if (
            type(features) is np.ndarray
            and features.dtype is _FLOAT64
            and features.shape == (self._n_features,)
            and (regime is None or type(regime) is int)
        ):
            # The decision path's call: one compiled kernel instead of about ten numpy calls.
            code = -1 if regime is None else _regime_code(regime)
            live: Float32Array = _live_observation(
                features,
                self._center,
                self._scale,
                float(self.clip),
                float(position),
                float(unrealized),
                code,
                self.dim,
            )
            return live
        obs = np.zeros(self.dim, dtype=np.float32)
        # ``scaler.transform``'s operations in its order on one row, without its temporaries: bit-identical.
        scaled = np.subtract(features, self._center, dtype=np.float64)
        scaled /= self._scale
        np.copyto(scaled, 0.0, where=np.isnan(scaled))
        np.clip(scaled, -self.clip, self.clip, out=scaled)
        obs[: self.position_index] = scaled
        obs[self.position_index] = position
        obs[self.unrealized_index] = unrealized
        if regime is not None:
            obs[self.regime_start :] = _regime_vector(regime)
        return obs

    def kernel_args(self) -> tuple[FloatArray, FloatArray, float]:
        """(center, scale, clip): ``live_observation``'s arguments fixed by the builder, for a caller that
        checks the rest as ``build`` does (a float64 vector of ``feature_dim`` values, ``check_position``, a
        regime code from ``REGIMES`` or -1): the decision path's, which calls it fused with the actor."""
        return self._center, self._scale, float(self.clip)

    @property
    def feature_dim(self) -> int:
        return self._n_features


def check_position(position: float) -> None:
    """``build``'s check of the position (a NaN fails it too)."""
    if not -1.0 <= position <= 1.0:
        raise ValueError(f"position: must lie in [-1, 1], got {position}")


@njit(cache=True)
def _unrealized(position: float, entry_price: float, close: float, clip: float) -> float:
    """``ObservationBuilder.unrealized_return``: the same IEEE operations, and ``max(-clip, min(clip, v))`` as
    Python evaluates it (``min`` keeps its first argument unless the second is smaller: a NaN becomes clip)."""
    if position == 0.0 or entry_price <= 0.0:
        return 0.0
    value = 100.0 * (close / entry_price - 1.0)
    if not position > 0.0:
        value = -value
    capped = value if value < clip else clip
    return capped if capped > -clip else -clip


@njit(cache=True)
def live_observation(
    obs: Float32Array,
    features: FloatArray,
    center: FloatArray,
    scale: FloatArray,
    clip: float,
    position: float,
    entry_price: float,
    close: float,
    regime: int,
) -> None:
    """``build``'s vector from the raw inventory state, written into ``obs`` (every entry): ``_fill`` with
    ``_unrealized``. The caller allocates ``obs`` (an array numba allocates costs more to hand back)."""
    _fill(obs, features, center, scale, clip, position, _unrealized(position, entry_price, close, clip), regime)


@njit(cache=True)
def _live_observation(
    features: FloatArray,
    center: FloatArray,
    scale: FloatArray,
    clip: float,
    position: float,
    unrealized: float,
    regime: int,
    dim: int,
) -> Float32Array:
    """``build``'s vector in one call: ``scaler.transform``'s steps per entry, in its order, so bit-identical.

    ``(x - center) / scale`` in float64, NaN -> 0, clipped (the branches are ``np.clip`` on a non-NaN value,
    signed zeros included), rounded to float32; then position, unrealized return and the one-hot at
    ``regime`` (none for -1). The caller checks ``len(features)`` (numba does not bounds-check).
    """
    obs = np.empty(dim, dtype=np.float32)
    _fill(obs, features, center, scale, clip, position, unrealized, regime)
    return obs


@njit(cache=True)
def _fill(
    obs: Float32Array,
    features: FloatArray,
    center: FloatArray,
    scale: FloatArray,
    clip: float,
    position: float,
    unrealized: float,
    regime: int,
) -> None:
    """``_live_observation``'s entries, every one of them, into ``obs``."""
    n = center.shape[0]
    for i in range(n):
        v = (features[i] - center[i]) / scale[i]
        if v != v:
            v = 0.0
        elif v < -clip:
            v = -clip
        elif v > clip:
            v = clip
        obs[i] = v
    obs[n] = position
    obs[n + 1] = unrealized
    for i in range(n + 2, obs.shape[0]):
        obs[i] = 0.0
    if regime >= 0:
        obs[n + 2 + regime] = 1.0


def _regime_code(code: int) -> int:
    if not -1 <= code < N_REGIMES:
        raise ValueError(f"regime: code must lie in [-1, {N_REGIMES - 1}], got {code}")
    return code


def _regime_vector(regime: npt.ArrayLike) -> Float32Array:
    values = np.asarray(regime)
    if values.ndim == 0:
        code = _regime_code(int(values))
        vector = np.zeros(N_REGIMES, dtype=np.float32)
        if code >= 0:
            vector[code] = 1.0
        return vector
    if values.shape != (N_REGIMES,):
        raise ValueError(f"regime: expected a code or a vector of {N_REGIMES}, got shape {values.shape}")
    return values.astype(np.float32)
