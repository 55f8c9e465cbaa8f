"""Single-symbol directional arms: momentum, mean reversion and volatility breakout.

Each reads a handful of named features, scales a move by its volatility so one threshold fits calm and
wild markets alike, and keeps a held side (plus, for breakouts, a countdown) as its state. Feature names
are config fields, so a changed feature window (``FeatureConfig``) is wired by naming the new feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from models.strategies.base import (
    FeatureReader,
    JSONScalar,
    Signal,
    StateDict,
    check_name,
    check_positive,
    check_state,
    hysteresis_side,
    inactive,
    state_int,
)

_SIDES = range(-1, 2)


def _check_bands(owner: str, entry_z: float, exit_z: float, full_z: float) -> None:
    check_positive(owner, entry_z=entry_z, full_z=full_z)
    if not 0.0 <= exit_z < entry_z:
        raise ValueError(f"{owner}.exit_z: must lie in [0, entry_z={entry_z}), got {exit_z}")
    if full_z < entry_z:
        raise ValueError(f"{owner}.full_z: must be >= entry_z={entry_z}, got {full_z}")


_SIDE_WORDS = {1: "long", -1: "short", 0: "flat"}
"""The held side as a reason names it."""


def _bands_text(entry_z: float, exit_z: float) -> str:
    """The thresholds as every band signal's reason quotes them, formatted once per config."""
    return f"(enter {entry_z}, exit {exit_z})"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=_Named)


class _HeldSide(Generic[ConfigT]):
    """State shared by the band strategies: their config and the side they hold (-1, 0 or 1)."""

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.side = 0
        self._prepared_for: ConfigT | None = None
        """The config the per-config constants of the hot path were computed from (``_prepare``)."""

    @property
    def name(self) -> str:
        return self.config.name

    def reset(self) -> None:
        self.side = 0

    def state_dict(self) -> StateDict:
        return {"side": self.side}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        check_state(self.name, state, ("side",))
        self.side = state_int(self.name, state, "side", _SIDES)


@dataclass(frozen=True, kw_only=True, slots=True)
class MomentumConfig:
    """Time-series momentum (Moskowitz, Ooi and Pedersen 2012) on a volatility-scaled return."""

    name: str = "momentum"
    return_feature: str = "ret_15"
    """Log return over ``horizon`` events."""
    horizon: int = 15
    """Events the return spans; its volatility is ``vol * sqrt(horizon)`` under a random walk."""
    vol_feature: str = "rvol_60"
    """Per-event volatility that scales the return (the slow one, so a burst does not mute itself)."""
    trend_feature: str = "ma_cross"
    """A new position must agree with the sign of this slower trend measure."""
    entry_z: float = 1.0
    exit_z: float = 0.25
    full_z: float = 2.0
    """The scaled return at which the target reaches a full position; it grows linearly from 0 below."""

    def __post_init__(self) -> None:
        check_name("MomentumConfig", self.name)
        if self.horizon < 1:
            raise ValueError(f"MomentumConfig.horizon: must be >= 1, got {self.horizon}")
        _check_bands("MomentumConfig", self.entry_z, self.exit_z, self.full_z)


class Momentum(_HeldSide[MomentumConfig]):
    """Follows a return that is large against its volatility, confirmed by the trend; held with hysteresis."""

    def __init__(self, config: MomentumConfig | None = None) -> None:
        super().__init__(config or MomentumConfig())
        self._prepare(self.config)

    def _prepare(self, c: MomentumConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        self._read = FeatureReader(c.name, c.return_feature, c.vol_feature, c.trend_feature)
        self._root_horizon = math.sqrt(c.horizon)
        self._bands = _bands_text(c.entry_z, c.exit_z)
        self._prepared_for = c

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        (ret, vol, trend), warm = self._read(features)
        if warm is not None:
            return warm
        if vol <= 0.0:
            return inactive(c.name, f"{c.vol_feature} is 0: no volatility to scale the return by")
        z = ret / (vol * self._root_horizon)
        side = hysteresis_side(self.side, z, c.entry_z, c.exit_z)
        unconfirmed = side not in (0, self.side) and side * trend <= 0.0
        if unconfirmed:
            side = 0
        self.side = side
        target = side * min(1.0, abs(z) / c.full_z)
        why = f"; {c.trend_feature}={trend:+.4g} does not confirm" if unconfirmed else ""
        reason = f"{_SIDE_WORDS[side]}: {c.return_feature} is {z:+.3f} sigma {self._bands}{why}"
        return Signal(strategy=c.name, target_position=target, active=True, reason=reason)


@dataclass(frozen=True, kw_only=True, slots=True)
class MeanReversionConfig:
    """Fades a price stretched from its rolling mean (a z-score band, Bollinger-style)."""

    name: str = "mean_reversion"
    zscore_feature: str = "zscore_30"
    entry_z: float = 2.0
    exit_z: float = 0.5
    full_z: float = 3.0
    """The |z-score| at which the target reaches a full position."""

    def __post_init__(self) -> None:
        check_name("MeanReversionConfig", self.name)
        _check_bands("MeanReversionConfig", self.entry_z, self.exit_z, self.full_z)


class MeanReversion(_HeldSide[MeanReversionConfig]):
    """Short above ``+entry_z``, long below ``-entry_z``, flat again once ``|z|`` falls to ``exit_z``."""

    def __init__(self, config: MeanReversionConfig | None = None) -> None:
        super().__init__(config or MeanReversionConfig())
        self._prepare(self.config)

    def _prepare(self, c: MeanReversionConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        self._read = FeatureReader(c.name, c.zscore_feature)
        self._bands = _bands_text(c.entry_z, c.exit_z)
        self._prepared_for = c

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        (z,), warm = self._read(features)
        if warm is not None:
            return warm
        # The strength of a contrarian signal is minus the z-score: stretched up means short.
        self.side = hysteresis_side(self.side, -z, c.entry_z, c.exit_z)
        target = self.side * min(1.0, abs(z) / c.full_z)
        reason = f"{_SIDE_WORDS[self.side]}: {c.zscore_feature}={z:+.3f} {self._bands}"
        return Signal(strategy=c.name, target_position=target, active=True, reason=reason)


@dataclass(frozen=True, kw_only=True, slots=True)
class VolatilityBreakoutConfig:
    """A large move on expanding volatility and volume, held for a fixed number of events."""

    name: str = "volatility_breakout"
    return_feature: str = "ret_15"
    horizon: int = 15
    fast_vol_feature: str = "rvol_15"
    slow_vol_feature: str = "rvol_60"
    volume_feature: str = "volume_ratio"
    breakout_z: float = 2.0
    """|return| / (slow vol * sqrt(horizon)) a breakout must reach."""
    vol_expansion: float = 1.5
    """fast vol / slow vol a breakout must reach: volatility is rising, not just high."""
    min_volume_ratio: float = 1.2
    """Volume must confirm the move."""
    hold_events: int = 10
    """Events a breakout is held, the breakout event included; a new breakout restarts the count."""
    position: float = 1.0
    """|target| while holding."""

    def __post_init__(self) -> None:
        owner = "VolatilityBreakoutConfig"
        check_name(owner, self.name)
        check_positive(owner, breakout_z=self.breakout_z, vol_expansion=self.vol_expansion, position=self.position)
        for field in ("horizon", "hold_events"):
            if getattr(self, field) < 1:
                raise ValueError(f"{owner}.{field}: must be >= 1, got {getattr(self, field)}")
        if not 0.0 <= self.min_volume_ratio < math.inf:
            raise ValueError(f"{owner}.min_volume_ratio: must be a finite number >= 0, got {self.min_volume_ratio}")
        if self.position > 1.0:
            raise ValueError(f"{owner}.position: must be <= 1, got {self.position}")


class VolatilityBreakout:
    """Enters in the direction of a breakout (volatility expansion breaking a range) and times out."""

    def __init__(self, config: VolatilityBreakoutConfig | None = None) -> None:
        self.config = config or VolatilityBreakoutConfig()
        self.side = 0
        self.remaining = 0
        self._prepare(self.config)

    def _prepare(self, c: VolatilityBreakoutConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        names = (c.return_feature, c.fast_vol_feature, c.slow_vol_feature, c.volume_feature)
        self._read = FeatureReader(c.name, *names)
        self._root_horizon = math.sqrt(c.horizon)
        self._prepared_for = c

    @property
    def name(self) -> str:
        return self.config.name

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        (ret, fast, slow, volume), warm = self._read(features)
        if warm is not None:
            return warm
        if slow <= 0.0:
            return inactive(c.name, f"{c.slow_vol_feature} is 0: no volatility to measure a breakout against")
        z = ret / (slow * self._root_horizon)
        expansion = fast / slow
        if abs(z) >= c.breakout_z and expansion >= c.vol_expansion and volume >= c.min_volume_ratio:
            self.side, self.remaining = (1 if z > 0 else -1), c.hold_events - 1
            what = f"breakout {_SIDE_WORDS[self.side]}"
        elif self.remaining > 0:
            self.remaining -= 1
            what = f"holding {_SIDE_WORDS[self.side]}, {self.remaining} more events"
        else:
            self.side = 0
            what = "flat, no breakout"
        reason = f"{what}: move {z:+.3f} sigma, vol expansion {expansion:.3f}, volume ratio {volume:.3f}"
        return Signal(strategy=c.name, target_position=self.side * c.position, active=True, reason=reason)

    def reset(self) -> None:
        self.side, self.remaining = 0, 0

    def state_dict(self) -> StateDict:
        return {"side": self.side, "remaining": self.remaining}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        check_state(self.name, state, ("side", "remaining"))
        self.side = state_int(self.name, state, "side", _SIDES)
        self.remaining = state_int(self.name, state, "remaining", range(self.config.hold_events))
