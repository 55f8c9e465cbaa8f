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
from operator import itemgetter
from typing import Protocol, runtime_checkable

JSONScalar = float | int | bool | str | None
_set = object.__setattr__
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
        # per quote on the hot path: two plain checks rather than a loop over (name, value) pairs
        if bid is not None and not math.isfinite(bid):
            raise ValueError(f"bid_offset_bps: must be finite, got {bid}")
        if ask is not None and not math.isfinite(ask):
            raise ValueError(f"ask_offset_bps: must be finite, got {ask}")
        if bid is not None and ask is not None and bid >= ask:
            raise ValueError(f"bid_offset_bps: {bid} must lie below ask_offset_bps {ask}")

    def prices(self, mid: float) -> tuple[float | None, float | None]:
        """Limit prices ``mid * (1 + offset / 1e4)`` for both sides (``None`` for a withdrawn side)."""
        if not (math.isfinite(mid) and mid > 0.0):
            raise ValueError(f"mid: must be a positive finite price, got {mid}")
        bid = None if self.bid_offset_bps is None else mid * (1.0 + self.bid_offset_bps / 1e4)
        ask = None if self.ask_offset_bps is None else mid * (1.0 + self.ask_offset_bps / 1e4)
        return bid, ask


@dataclass(frozen=True, kw_only=True, slots=True, init=False)
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

    def __init__(
        self, *, strategy: str, target_position: float, active: bool, reason: str, quotes: Quotes | None = None
    ) -> None:
        """Check, then set the fields.

        Written out rather than generated: every strategy builds one per tick on the decision path, and the
        generated frozen ``__init__`` plus a ``__post_init__`` cost about half as much again.
        """
        # the range check alone rejects NaN and +-inf (every comparison with NaN is false)
        if not -1.0 <= target_position <= 1.0:
            raise ValueError(f"target_position: must lie in [-1, 1], got {target_position}")
        if not active and (target_position != 0.0 or quotes is not None):
            raise ValueError("target_position: an inactive signal targets 0 and carries no quotes")
        if not reason:
            raise ValueError("reason: every signal says why it is what it is")
        _set(self, "strategy", strategy)
        _set(self, "target_position", target_position)
        _set(self, "active", active)
        _set(self, "reason", reason)
        _set(self, "quotes", quotes)


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


_CACHED_REASONS = 64
"""Inactive signals kept per strategy and reason: enough for every warm-up pattern, bounded whatever the data."""


def cached_inactive(cache: dict[str, Signal], strategy: str, reason: str) -> Signal:
    """``inactive(strategy, reason)``, built once per reason and reused (a ``Signal`` is immutable).

    A strategy that cannot act usually says the same thing tick after tick (warming up, no book), so
    the hot path skips rebuilding the signal; ``cache`` is the strategy's own, capped at ``_CACHED_REASONS``.
    """
    signal = cache.get(reason)
    if signal is None:
        signal = inactive(strategy, reason)
        if len(cache) < _CACHED_REASONS:
            cache[reason] = signal
    return signal


def read(features: Mapping[str, float], strategy: str, *names: str) -> tuple[tuple[float, ...], str | None]:
    """The named features, and a warm-up reason when any is NaN (``None`` when all are defined).

    A missing name is a broken contract between the feature engine and the strategy, not a market
    condition, so it raises instead of returning an inactive signal.
    """
    try:
        values = tuple([float(features[n]) for n in names])
    except KeyError:
        raise _missing(features, strategy, names) from None
    return values, _warm_reason(names, values)


def _missing(features: Mapping[str, float], strategy: str, names: tuple[str, ...]) -> KeyError:
    missing = [n for n in names if n not in features]
    return KeyError(f"{strategy}: features {missing} are missing from the feature mapping")


def _warm_reason(names: tuple[str, ...], values: tuple[float, ...]) -> str | None:
    if all(v == v for v in values):
        return None
    undefined = [n for n, v in zip(names, values, strict=True) if math.isnan(v)]
    return f"warming up: {', '.join(undefined)} undefined"


class FeatureReader:
    """``read`` of one strategy's fixed feature names, prepared once: the per-tick hot path.

    One ``itemgetter`` call fetches every name, one ``sum`` tells whether any value may be NaN (a NaN,
    or +inf with -inf, makes it NaN; only then are the values looked at one by one), and the inactive
    warm-up signal is built once per set of undefined names and reused after (a ``Signal`` is immutable;
    at most 2 ** len(names) of them).
    """

    __slots__ = ("_get", "_single", "_warm", "names", "strategy")

    def __init__(self, strategy: str, *names: str) -> None:
        if not names:
            raise ValueError(f"{strategy}: a feature reader needs at least one name")
        self.strategy = strategy
        self.names = names
        self._get = itemgetter(*names)
        self._single = len(names) == 1
        self._warm: dict[tuple[bool, ...], Signal | None] = {}

    def __call__(self, features: Mapping[str, float]) -> tuple[tuple[float, ...], Signal | None]:
        """The named features, and the inactive warm-up signal when any is NaN (``None`` when all are defined)."""
        try:
            got = self._get(features)
        except KeyError:
            raise _missing(features, self.strategy, self.names) from None
        values = (float(got),) if self._single else tuple(map(float, got))
        total = sum(values)
        if total == total:
            return values, None
        # the reason depends only on which names are NaN: one signal (or None, for +inf with -inf) per pattern
        pattern = tuple(map(math.isnan, values))
        warm = self._warm
        if pattern not in warm:
            reason = _warm_reason(self.names, values)
            warm[pattern] = None if reason is None else inactive(self.strategy, reason)
        return values, warm[pattern]


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
