"""The meta-controller's context vector: what the market looks like and how each arm has been doing.

Layout for ``n`` arms (``context_dim(n) = 12 + n``; ``context_layout(arms)`` names every slot):

    slot          value                                                   why
    0 .. 6        regime one-hot, in ``models.marketdata.simulator.REGIMES`` order
                  (trending_up, trending_down, sideways, high_volatility,
                  low_volatility, breakout, reversal)                    which arm fits which regime
    7             volatility: ``rvol_15 * 1e4 / vol_scale_bps``         breakouts want it, market making fears it
    8, 9          ``tod_sin``, ``tod_cos``                               liquidity follows the clock
    10            spread: ``spread_bps / spread_scale_bps``              cost of trading, market making's margin
    11            illiquidity: ``log1p(amihud_30)``                      price impact (Amihud 2002), compressed
    12 .. 12+n-1  recent PnL of each arm: per-arm EWMA / pnl_scale_bps   momentum in the arms' own performance

Every slot but the one-hot is clipped to ``[-clip, clip]`` so one wild tick cannot dominate the ridge
estimates. The one-hot sums to 1, so it doubles as the intercept and no separate bias slot is needed.
Undefined inputs (warm-up NaNs) raise: the meta-controller does not choose from a made-up context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.marketdata.simulator import REGIMES, Regime

FloatArray = npt.NDArray[np.float64]

N_REGIMES = len(REGIMES)
MARKET_SLOTS = ("volatility", "tod_sin", "tod_cos", "spread", "illiquidity")
PNL_OFFSET = N_REGIMES + len(MARKET_SLOTS)
_REGIME_INDEX = {regime: i for i, regime in enumerate(REGIMES)}
_REGIME_SLOT: dict[object, int] = {key: i for i, regime in enumerate(REGIMES) for key in (regime, regime.value)}
"""Regime or its string value -> one-hot slot: one dict lookup instead of ``Regime(regime)`` per call."""
_ONE_HOT = tuple(tuple(1.0 if j == i else 0.0 for j in range(N_REGIMES)) for i in range(N_REGIMES))


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextConfig:
    """Which features fill the context and how they are scaled to order 1."""

    vol_feature: str = "rvol_15"
    spread_feature: str = "spread_bps"
    amihud_feature: str = "amihud_30"
    tod_features: tuple[str, str] = ("tod_sin", "tod_cos")
    vol_scale_bps: float = 10.0
    """Per-event volatility of this many bps maps to 1."""
    spread_scale_bps: float = 10.0
    pnl_scale_bps: float = 10.0
    """An arm's EWMA PnL of this many bps maps to 1."""
    clip: float = 5.0
    pnl_decay: float = 0.9
    """EWMA weight of the past in ``ArmPnlTracker``: ``ewma <- decay ewma + (1 - decay) pnl``."""

    def __post_init__(self) -> None:
        scales = ("vol_scale_bps", "spread_scale_bps", "pnl_scale_bps", "clip")
        for field in scales:
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"ContextConfig.{field}: must be a positive finite number, got {value}")
        if not 0.0 <= self.pnl_decay < 1.0:
            raise ValueError(f"ContextConfig.pnl_decay: must lie in [0, 1), got {self.pnl_decay}")


DEFAULT_CONTEXT = ContextConfig()


@dataclass(frozen=True, slots=True)
class CompiledContext:
    """``build_context``'s feature reads resolved to positions in a feature vector, for the compiled builder.

    The compiled builder (``models.bandit._kernels.build_context``, run by the decision path's kernel in the
    same call as the selection) does the same IEEE operations as ``build_context`` on the mapping whose
    values the vector holds in order.
    """

    index: npt.NDArray[np.int64]
    """Positions of the volatility, tod_sin, tod_cos, spread and Amihud features."""
    scales: FloatArray
    """vol_scale_bps, spread_scale_bps, pnl_scale_bps, clip."""
    max_index: int
    regimes: int = N_REGIMES

    @classmethod
    def resolve(cls, config: ContextConfig, feature_names: Sequence[str]) -> CompiledContext | None:
        """The positions of ``config``'s features in ``feature_names``; None when one is not among them."""
        names = (config.vol_feature, *config.tod_features, config.spread_feature, config.amihud_feature)
        if not set(names) <= set(feature_names):
            return None
        index = np.asarray([list(feature_names).index(name) for name in names], dtype=np.int64)
        scales = np.asarray([config.vol_scale_bps, config.spread_scale_bps, config.pnl_scale_bps, config.clip])
        index.flags.writeable = False
        scales.flags.writeable = False
        return cls(index, scales, int(index.max()))


def context_dim(n_arms: int) -> int:
    """Length of the context vector for ``n_arms`` arms."""
    if n_arms < 1:
        raise ValueError(f"n_arms: must be >= 1, got {n_arms}")
    return PNL_OFFSET + n_arms


def context_layout(arms: Sequence[str]) -> tuple[str, ...]:
    """The name of every slot, in order (for explanations and logged contexts)."""
    return (
        *(f"regime={regime.value}" for regime in REGIMES),
        *MARKET_SLOTS,
        *(f"pnl={arm}" for arm in arms),
    )


def build_context(
    features: Mapping[str, float],
    regime: Regime | str,
    recent_arm_pnl: Sequence[float] | FloatArray,
    config: ContextConfig = DEFAULT_CONTEXT,
    out: FloatArray | None = None,
) -> FloatArray:
    """The context vector (layout in the module docstring); written into ``out`` when one is given.

    ``recent_arm_pnl`` is each arm's EWMA PnL in bps (``ArmPnlTracker.values`` or ``.as_list()``), in arm
    order. This runs on every decision: the values are gathered as plain floats and written with one
    assignment, because a dozen numpy calls on 18 numbers cost more than the arithmetic. Each value is the
    same IEEE operation as the vectorised form (divide, clip), so the vector is bit-identical to it.
    """
    arm_pnl = _arm_pnl(recent_arm_pnl)
    dim = context_dim(len(arm_pnl))
    x = np.empty(dim) if out is None else out
    if x.shape != (dim,):
        raise ValueError(f"out: expected shape ({dim},), got {x.shape}")
    # sum() is finite only when every term is; the per-value check runs only to name the culprit (or to
    # accept finite values whose sum overflowed).
    if not math.isfinite(sum(arm_pnl)) and not all(map(math.isfinite, arm_pnl)):
        raise ValueError(f"recent_arm_pnl: must be finite, got {arm_pnl}")
    slot = _REGIME_SLOT.get(regime)
    if slot is None:
        slot = _REGIME_INDEX[Regime(regime)]  # Regime() raises the ValueError naming an unknown regime
    scale, clip = config.pnl_scale_bps, config.clip
    low = -clip
    raw = [*_market_slots(features, config), *[v / scale for v in arm_pnl]]
    # Strictly inside the bounds ``max(-clip, min(clip, v))`` is ``v`` itself: the common case skips the two
    # builtin calls, every other value takes the original expression.
    x[:] = [*_ONE_HOT[slot], *[v if low < v < clip else max(low, min(clip, v)) for v in raw]]
    return x


def _arm_pnl(recent_arm_pnl: Sequence[float] | FloatArray) -> list[float]:
    """The per-arm PnL as a list of floats; a list (the decision path's) is read without a numpy round trip."""
    if type(recent_arm_pnl) is list:
        return list(map(float, recent_arm_pnl))
    pnl = np.asarray(recent_arm_pnl, dtype=np.float64)
    if pnl.ndim != 1:
        raise ValueError(f"recent_arm_pnl: expected one value per arm, got shape {pnl.shape}")
    values: list[float] = pnl.tolist()
    return values


def _market_slots(features: Mapping[str, float], config: ContextConfig) -> tuple[float, ...]:
    """Slots 7 .. 11 before the clip; the error paths (a missing or undefined feature) are in ``_market_error``."""
    tod_sin_name, tod_cos_name = config.tod_features
    try:
        vol = float(features[config.vol_feature])
        tod_sin = float(features[tod_sin_name])
        tod_cos = float(features[tod_cos_name])
        spread = float(features[config.spread_feature])
        amihud = float(features[config.amihud_feature])
    except KeyError:
        raise _market_error(features, config) from None
    if not math.isfinite(vol + tod_sin + tod_cos + spread + amihud):
        # NaN or inf among them, or finite values whose sum overflowed (then there is nothing to report)
        error = _market_error(features, config)
        if isinstance(error, ValueError):
            raise error
    return (vol * 1e4 / config.vol_scale_bps, tod_sin, tod_cos, spread / config.spread_scale_bps, math.log1p(amihud))


def _market_error(features: Mapping[str, float], config: ContextConfig) -> Exception:
    """The error naming the missing (KeyError) or undefined (ValueError) features; a LookupError if none is."""
    names = (config.vol_feature, *config.tod_features, config.spread_feature, config.amihud_feature)
    missing = [n for n in names if n not in features]
    if missing:
        return KeyError(f"features: {missing} are missing, the context needs {names}")
    undefined = [n for n in names if not math.isfinite(float(features[n]))]
    if undefined:
        return ValueError(f"features: {undefined} are not finite (still warming up?)")
    return LookupError("features: every context feature is present and finite")


class ArmPnlTracker:
    """Per-arm EWMA of realised PnL (bps): the "recent arm PnL" part of the context.

    An arm that has not traded yet sits at 0, the same as one that broke even: no evidence either way.
    The EWMAs are kept as a list of floats: each update is Python float arithmetic, the same IEEE double
    arithmetic as numpy's without the per-element boxing; ``array`` mirrors them for the compiled builder.
    """

    def __init__(self, arms: Sequence[str], decay: float = DEFAULT_CONTEXT.pnl_decay) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay: must lie in [0, 1), got {decay}")
        self.arms = tuple(arms)
        self.decay = decay
        self._index = {arm: i for i, arm in enumerate(self.arms)}
        self._ewma = [0.0] * len(self.arms)
        self._array = np.zeros(len(self.arms))
        self._view = self._array.view()
        self._view.flags.writeable = False

    def __getstate__(self) -> dict[str, object]:
        # the read-only view is rebuilt on the copy's own array: a copied view would no longer follow it
        return {key: value for key, value in self.__dict__.items() if key != "_view"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._view = self._array.view()
        self._view.flags.writeable = False

    @property
    def array(self) -> FloatArray:
        """The per-arm EWMA PnL as a read-only array that follows every update (no copy: the decision path's)."""
        return self._view

    @property
    def values(self) -> FloatArray:
        """A copy of the per-arm EWMA PnL, in arm order."""
        return np.array(self._ewma, dtype=np.float64)

    def as_list(self) -> list[float]:
        """The per-arm EWMA PnL as a fresh list (``build_context`` reads a list without a numpy round trip)."""
        return self._ewma.copy()

    def update(self, arm: int | str, pnl_bps: float) -> None:
        """Fold one realised PnL of ``arm`` into its EWMA."""
        if not math.isfinite(pnl_bps):
            raise ValueError(f"pnl_bps: must be finite, got {pnl_bps}")
        a = self._index[arm] if isinstance(arm, str) else arm
        if not 0 <= a < len(self.arms):
            raise IndexError(f"arm: index {a} out of range for {len(self.arms)} arms")
        value = self._ewma[a] = self.decay * self._ewma[a] + (1.0 - self.decay) * float(pnl_bps)
        self._array[a] = value

    def reset(self) -> None:
        self._ewma = [0.0] * len(self.arms)
        self._array.fill(0.0)

    def state_dict(self) -> dict[str, list[float] | list[str]]:
        return {"arms": list(self.arms), "ewma": self._ewma.copy()}

    def load_state_dict(self, state: Mapping[str, list[float] | list[str]]) -> None:
        if list(state["arms"]) != list(self.arms):
            raise ValueError(f"state: written for arms {state['arms']}, not {list(self.arms)}")
        ewma = np.asarray(state["ewma"], dtype=np.float64)
        if ewma.shape != (len(self.arms),) or not np.isfinite(ewma).all():
            raise ValueError(f"state: ewma must be {len(self.arms)} finite numbers, got {state['ewma']}")
        self._ewma = ewma.tolist()
        self._array[:] = ewma
