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

    ``recent_arm_pnl`` is each arm's EWMA PnL in bps (``ArmPnlTracker.values``), in arm order.
    """
    pnl = np.asarray(recent_arm_pnl, dtype=np.float64)
    dim = context_dim(pnl.shape[0]) if pnl.ndim == 1 else -1
    if dim < 0:
        raise ValueError(f"recent_arm_pnl: expected one value per arm, got shape {pnl.shape}")
    x = np.empty(dim) if out is None else out
    if x.shape != (dim,):
        raise ValueError(f"out: expected shape ({dim},), got {x.shape}")
    arm_pnl = pnl.tolist()
    if not all(map(math.isfinite, arm_pnl)):
        raise ValueError(f"recent_arm_pnl: must be finite, got {arm_pnl}")
    # Filled as plain floats and written in one assignment: a dozen numpy calls on 18 numbers cost more
    # than the arithmetic. Each value is the same IEEE operation as the vectorised form (divide, clip).
    slots = [0.0] * N_REGIMES
    slots[_REGIME_INDEX[Regime(regime)]] = 1.0
    slots += _market_slots(features, config)
    scale, clip = config.pnl_scale_bps, config.clip
    slots += [max(-clip, min(clip, v / scale)) for v in arm_pnl]
    x[:] = slots
    return x


def _market_slots(features: Mapping[str, float], config: ContextConfig) -> list[float]:
    names = (config.vol_feature, *config.tod_features, config.spread_feature, config.amihud_feature)
    missing = [n for n in names if n not in features]
    if missing:
        raise KeyError(f"features: {missing} are missing, the context needs {names}")
    vol, tod_sin, tod_cos, spread, amihud = (float(features[n]) for n in names)
    undefined = [n for n, v in zip(names, (vol, tod_sin, tod_cos, spread, amihud), strict=True) if not math.isfinite(v)]
    if undefined:
        raise ValueError(f"features: {undefined} are not finite (still warming up?)")
    raw = (vol * 1e4 / config.vol_scale_bps, tod_sin, tod_cos, spread / config.spread_scale_bps, math.log1p(amihud))
    return [max(-config.clip, min(config.clip, v)) for v in raw]


class ArmPnlTracker:
    """Per-arm EWMA of realised PnL (bps): the "recent arm PnL" part of the context.

    An arm that has not traded yet sits at 0, the same as one that broke even: no evidence either way.
    """

    def __init__(self, arms: Sequence[str], decay: float = DEFAULT_CONTEXT.pnl_decay) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay: must lie in [0, 1), got {decay}")
        self.arms = tuple(arms)
        self.decay = decay
        self._index = {arm: i for i, arm in enumerate(self.arms)}
        self._ewma = np.zeros(len(self.arms))

    @property
    def values(self) -> FloatArray:
        """A copy of the per-arm EWMA PnL, in arm order."""
        return self._ewma.copy()

    def update(self, arm: int | str, pnl_bps: float) -> None:
        """Fold one realised PnL of ``arm`` into its EWMA."""
        if not math.isfinite(pnl_bps):
            raise ValueError(f"pnl_bps: must be finite, got {pnl_bps}")
        a = self._index[arm] if isinstance(arm, str) else arm
        if not 0 <= a < len(self.arms):
            raise IndexError(f"arm: index {a} out of range for {len(self.arms)} arms")
        self._ewma[a] = self.decay * self._ewma[a] + (1.0 - self.decay) * pnl_bps

    def reset(self) -> None:
        self._ewma.fill(0.0)

    def state_dict(self) -> dict[str, list[float] | list[str]]:
        return {"arms": list(self.arms), "ewma": self._ewma.tolist()}

    def load_state_dict(self, state: Mapping[str, list[float] | list[str]]) -> None:
        if list(state["arms"]) != list(self.arms):
            raise ValueError(f"state: written for arms {state['arms']}, not {list(self.arms)}")
        ewma = np.asarray(state["ewma"], dtype=np.float64)
        if ewma.shape != self._ewma.shape or not np.isfinite(ewma).all():
            raise ValueError(f"state: ewma must be {len(self.arms)} finite numbers, got {state['ewma']}")
        self._ewma[:] = ewma
