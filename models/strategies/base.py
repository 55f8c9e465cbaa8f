"""The contract every strategy arm keeps: an immutable ``Signal`` out of a feature mapping and a small state.

A strategy is a small pure class: ``on_features`` reads named features (``models.features.FEATURE_NAMES``,
``PAIR_FEATURE_NAMES`` or, for cross-venue arbitrage, venue quotes), updates its own state (a held side,
a countdown, an inventory) and returns a ``Signal``. The meta-controller (``models.bandit``) picks which
strategy's signal the order sizer sees, so every strategy answers every tick: a strategy that cannot act
(warm-up NaNs, a missing venue, no book) says so with ``active=False`` and a reason instead of a position.

State is JSON-serialisable (``state_dict`` / ``load_state_dict``) so a strategy carries over across a
model hot-swap and shows up readable in the audit trail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

JSONScalar = float | int | bool | str | None
StateDict = dict[str, JSONScalar]


@dataclass(frozen=True, kw_only=True, slots=True)
class Quotes:
    """Two-sided limit quotes as offsets from the mid price, in basis points (bid below, ask above).

    Offsets rather than prices keep the strategy price-free (the feature vector carries no level);
    ``prices(mid)`` turns them into limit prices. A side is ``None`` when withdrawn (inventory at its limit).
    """

    bid_offset_bps: float | None
    ask_offset_bps: float | None

    def __post_init__(self) -> None:
        bid, ask = self.bid_offset_bps, self.ask_offset_bps
        for field, value in (("bid_offset_bps", bid), ("ask_offset_bps", ask)):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{field}: must be finite, got {value}")
        if bid is not None and ask is not None and bid >= ask:
            raise ValueError(f"bid_offset_bps: {bid} must lie below ask_offset_bps {ask}")

    def prices(self, mid: float) -> tuple[float | None, float | None]:
        """Limit prices ``mid * (1 + offset / 1e4)`` for both sides (``None`` for a withdrawn side)."""
        if not (math.isfinite(mid) and mid > 0.0):
            raise ValueError(f"mid: must be a positive finite price, got {mid}")
        bid = None if self.bid_offset_bps is None else mid * (1.0 + self.bid_offset_bps / 1e4)
        ask = None if self.ask_offset_bps is None else mid * (1.0 + self.ask_offset_bps / 1e4)
        return bid, ask


@dataclass(frozen=True, kw_only=True, slots=True)
class Signal:
    """What one strategy wants after one tick; immutable so it can be logged, replayed and audited.

    ``target_position`` is a fraction of the maximum position in [-1, 1] (shorts negative). For two-leg
    strategies (pairs, cross-venue arbitrage) it is the position in the spread: +1 is long the first leg
    and short the second. An inactive signal always targets 0 and its ``reason`` says why it is inactive.
    """

    strategy: str
    target_position: float
    active: bool
    reason: str
    quotes: Quotes | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_position) and -1.0 <= self.target_position <= 1.0):
            raise ValueError(f"target_position: must lie in [-1, 1], got {self.target_position}")
        if not self.active and (self.target_position != 0.0 or self.quotes is not None):
            raise ValueError("target_position: an inactive signal targets 0 and carries no quotes")
        if not self.reason:
            raise ValueError("reason: every signal says why it is what it is")


@runtime_checkable
class Strategy(Protocol):
    """A strategy arm: features (+ its own state) in, a ``Signal`` out."""

    @property
    def name(self) -> str:
        """The arm's name, unique among the strategies a meta-controller chooses from."""
        ...

    def on_features(self, features: Mapping[str, float]) -> Signal:
        """Advance the state by one tick and return the signal for it."""
        ...

    def reset(self) -> None:
        """Return to the state of a freshly built strategy."""
        ...

    def state_dict(self) -> StateDict:
        """The state as a JSON-serialisable dict."""
        ...

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        """Restore a state written by ``state_dict`` (same keys, validated)."""
        ...


def inactive(strategy: str, reason: str) -> Signal:
    """The signal of a strategy that cannot act this tick."""
    return Signal(strategy=strategy, target_position=0.0, active=False, reason=reason)


def read(features: Mapping[str, float], strategy: str, *names: str) -> tuple[tuple[float, ...], str | None]:
    """The named features, and a warm-up reason when any is NaN (``None`` when all are defined).

    A missing name is a broken contract between the feature engine and the strategy, not a market
    condition, so it raises instead of returning an inactive signal.
    """
    try:
        values = tuple([float(features[n]) for n in names])
    except KeyError:
        missing = [n for n in names if n not in features]
        raise KeyError(f"{strategy}: features {missing} are missing from the feature mapping") from None
    if all(v == v for v in values):
        return values, None
    undefined = [n for n, v in zip(names, values, strict=True) if math.isnan(v)]
    return values, f"warming up: {', '.join(undefined)} undefined"


def hysteresis_side(side: int, strength: float, entry: float, exit_: float) -> int:
    """The held side after one tick of a two-threshold (Schmitt trigger) rule on a signed strength.

    Flat enters long at ``strength >= entry`` and short at ``strength <= -entry``; a long is held while
    ``strength > exit_`` and flips short at ``strength <= -entry`` (mirrored for a short). The gap between
    ``entry`` and ``exit_`` keeps a signal that hovers at one threshold from trading every tick.
    """
    if side > 0:
        return -1 if strength <= -entry else (0 if strength <= exit_ else 1)
    if side < 0:
        return 1 if strength >= entry else (0 if strength >= -exit_ else -1)
    return 1 if strength >= entry else (-1 if strength <= -entry else 0)


def clip_unit(x: float) -> float:
    """``x`` clipped to [-1, 1]."""
    return max(-1.0, min(1.0, x))


def check_state(strategy: str, state: Mapping[str, JSONScalar], expected: tuple[str, ...]) -> None:
    """Raise unless ``state`` has exactly the ``expected`` keys, naming the strays and the missing."""
    keys = set(state)
    if keys != set(expected):
        missing, unknown = sorted(set(expected) - keys), sorted(keys - set(expected))
        raise ValueError(f"{strategy}: state keys differ, missing {missing}, unknown {unknown}")


def state_int(strategy: str, state: Mapping[str, JSONScalar], key: str, allowed: range) -> int:
    """An integer state entry, validated against ``allowed``."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{strategy}: state {key} must be an integer in {allowed}, got {value!r}")
    return value


def state_float(strategy: str, state: Mapping[str, JSONScalar], key: str) -> float:
    """A finite float state entry."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{strategy}: state {key} must be a finite number, got {value!r}")
    return float(value)


def check_positive(owner: str, **values: float) -> None:
    """Raise naming the first field that is not a positive finite number."""
    for field, value in values.items():
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{owner}.{field}: must be a positive finite number, got {value}")


def check_name(owner: str, name: str) -> None:
    """Raise unless ``name`` is a non-empty identifier-like arm name."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"{owner}.name: must be a non-empty name of letters, digits and '_', got {name!r}")
