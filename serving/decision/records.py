"""Immutable records of the decision path: the Decision, and why a decision holds.

A Decision is built once per event and never changed: the audit trail, the Serve response, the
backtest and the Python API all read the same object. ``to_dict`` is its JSON form; NaN features
(warm-up) become ``null`` there, since JSON has no NaN.

It is a frozen ``msgspec.Struct`` rather than a frozen dataclass: one is built per event on the hot
path, and a Struct's constructor sets its 24 fields in C (~2 us) where a frozen dataclass calls
``object.__setattr__`` once per field (~8 us); msgspec also encodes it for the audit without a dict.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import msgspec


def _as_dict(value: object) -> dict[Any, Any]:
    """msgspec's hook for what it cannot encode itself: a read-only mapping (``MappingProxyType``) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"canonical JSON: cannot encode a {type(value).__name__}")


_CANONICAL = msgspec.json.Encoder(order="sorted", enc_hook=_as_dict)
"""Sorted keys (struct fields and dict keys), compact: the audit trail's canonical JSON in one C call.

It writes NaN and infinities as null, which is what ``to_dict`` makes of them (``_finite``), and the
enums as their values."""
_EVENT_TIME_AT = b',"exit_price":'
"""Where ``event_time`` (a property, not a field) goes in the sorted encoding: right before ``exit_price``.

A field always present, so found in every encoding; a string value before it (``action``,
``decision_id``) escapes its quotes, so the first match is the field itself."""


class Action(StrEnum):
    """What the decision does to the position: BUY raises it, SELL lowers it, HOLD leaves it."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class HoldReason(StrEnum):
    """Why a decision holds although a model might have wanted to trade."""

    NONE = ""
    WARMING_UP = "warming_up"
    """The symbol's features are not all defined yet (rolling windows still filling)."""
    STALE_FEATURES = "stale_features"
    """The event is older than ``max_feature_age`` against the engine's clock."""
    NO_ACTIVE_STRATEGY = "no_active_strategy"
    NO_CHANGE = "no_change"
    """The target is within ``min_trade`` of the current position."""
    RISK = "risk"
    """A risk control denied or cut the order; ``Decision.risk_reason`` says which."""
    PENDING_VETO = "pending_veto"
    """A veto rule holds the decision until a person approves or rejects it (or the timeout applies)."""
    VETOED = "vetoed"


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """One decision for one event (the seed's fields first)."""

    decision_id: str
    """Deterministic: the symbol, the event's key and the policy role, so replays give the same ids."""
    symbol: str
    timestamp_ns: int
    """Event time of the event decided on (UTC epoch nanoseconds)."""
    action: Action
    position_size: float
    """Target position after the order, as a signed fraction of the maximum position, in [-1, 1]."""
    previous_position: float
    entry_price: float
    """Limit price of the leg that opens or adds (NaN when there is none)."""
    exit_price: float
    """Limit price of the leg that reduces (NaN when there is none)."""
    confidence: float
    """In (0, 1]: ``1 / (1 + w)`` with ``w`` the bandit's confidence width for the chosen arm."""
    expected_return: float
    """The bandit's estimate of the chosen strategy's next-step PnL, as a fraction of the maximum notional."""
    risk_score: float
    """In [0, 1]: how much of the tightest risk limit the position after this decision would use."""
    strategy: str
    regime: str
    vetoed: bool = False
    veto_reason: str = ""
    hold_reason: HoldReason = HoldReason.NONE
    risk_reason: str = ""
    explored: bool = False
    propensity: float = 1.0
    """Probability the bandit had of choosing ``strategy`` (for off-policy evaluation)."""
    role: str = "champion"
    """"champion" (executed) or "shadow" (recorded and scored on simulated fills, never executed)."""
    model_versions: Mapping[str, str] = msgspec.field(default_factory=dict)
    features: Mapping[str, float] = msgspec.field(default_factory=dict)
    explanation: Mapping[str, Any] | None = None
    latency_us: float = 0.0

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ns / 1e9, tz=UTC)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN and infinities become None."""
        return {
            "decision_id": self.decision_id,
            "symbol": self.symbol,
            "timestamp_ns": self.timestamp_ns,
            "event_time": _utc_isoformat(self.timestamp_ns),
            "action": self.action.value,
            "position_size": self.position_size,
            "previous_position": self.previous_position,
            "entry_price": _finite(self.entry_price),
            "exit_price": _finite(self.exit_price),
            "confidence": self.confidence,
            "expected_return": self.expected_return,
            "risk_score": self.risk_score,
            "strategy": self.strategy,
            "regime": self.regime,
            "vetoed": self.vetoed,
            "veto_reason": self.veto_reason,
            "hold_reason": self.hold_reason.value,
            "risk_reason": self.risk_reason,
            "explored": self.explored,
            "propensity": self.propensity,
            "role": self.role,
            "model_versions": dict(self.model_versions),
            "features": _finite_values(self.features),
            "explanation": None if self.explanation is None else dict(self.explanation),
            "latency_us": self.latency_us,
        }

    def canonical_json(self) -> str | None:
        """``to_dict`` as canonical JSON, or None where the audit trail's general encoder must judge it.

        msgspec writes NaN as null where the general encoder refuses it (``allow_nan=False``), so only a
        decision whose numbers are all finite takes this path (the prices and features may be NaN: null in
        ``to_dict`` too); an explanation's nested values always take the general one.
        """
        if self.explanation is not None or not _all_finite(
            (
                self.position_size,
                self.previous_position,
                self.confidence,
                self.expected_return,
                self.risk_score,
                self.propensity,
                self.latency_us,
            )
        ):
            return None
        # The audit's hot path: the struct encoded as it is (no dict built), with ``event_time`` spliced in at
        # its sorted place. The encoder nulls the non-finite prices and features itself.
        raw = _CANONICAL.encode(self)
        at = raw.index(_EVENT_TIME_AT)
        return f'{raw[:at].decode()},"event_time":"{_utc_isoformat(self.timestamp_ns)}"{raw[at:].decode()}'

    def comparable(self) -> dict[str, Any]:
        """``to_dict`` without the latency: what must be identical across the backtest, HTTP and the Python API."""
        out = self.to_dict()
        del out["latency_us"]
        if out["explanation"] is not None:
            # wall-time dependent (``serving.safety.explain.TIMING_KEYS``)
            out["explanation"] = {k: v for k, v in out["explanation"].items() if k not in ("elapsed_ms", "budget")}
        return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _all_finite(values: Collection[float]) -> bool:
    """Whether no value is NaN or infinite: one C sum (a NaN or infinity makes it non-finite) instead of a call each.

    A finite sum proves every value finite; only a sum that overflowed is checked value by value.
    """
    return math.isfinite(sum(values)) or all(math.isfinite(v) for v in values)


def _finite_values(features: Mapping[str, float]) -> dict[str, float | None]:
    """``features`` with NaN and infinities as None; a plain copy when all are finite (past warm-up, the usual case)."""
    if _all_finite(features.values()):
        return dict(features)
    return {k: _finite(v) for k, v in features.items()}


def _utc_isoformat(timestamp_ns: int) -> str:
    """``Decision.event_time.isoformat()``, built from a cached date for a whole second (bars, most ticks).

    Every decision asks once for a new timestamp (its audit record), so a cache of whole strings always
    misses there; the date changes once a day. For a whole second ``s`` in [0, 4e9), ``s * 10**9`` is
    ``(s * 5**9) * 2**9`` with ``s * 5**9 < 2**53``: an exact float, which ``event_time`` divides back to
    exactly ``s``, so ``isoformat()`` has no fraction and equals this text. Any other timestamp takes
    ``isoformat()`` itself.
    """
    seconds, fraction = divmod(timestamp_ns, 1_000_000_000)
    if fraction or not 0 <= seconds < 4_000_000_000:
        return _exact_isoformat(timestamp_ns)
    day, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    return f"{_utc_date(day)}T{hour:02d}:{minute:02d}:{second:02d}+00:00"


@lru_cache(maxsize=64)
def _utc_date(day: int) -> str:
    """The ISO date of ``day`` days after 1970-01-01 (UTC)."""
    return datetime.fromtimestamp(day * 86_400, tz=UTC).date().isoformat()


@lru_cache(maxsize=1024)
def _exact_isoformat(timestamp_ns: int) -> str:
    """``Decision.event_time.isoformat()`` the slow way; cached, as every reader of a decision asks again."""
    return datetime.fromtimestamp(timestamp_ns / 1e9, tz=UTC).isoformat()
