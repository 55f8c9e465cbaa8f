"""The manual veto gate: configured rules hold a decision as PENDING until a person approves or rejects it.

Where it sits: after the risk controls, before the broker, for decisions that would send an order. A
decision that trips a rule (``VetoRules``) is not executed; ``review`` returns its ``PendingVeto``. A person
with the ``resolve_veto`` permission (``serving.safety.auth``: admin or risk) approves or rejects it, with a
reason, over HTTP (``serving.safety.veto_http``) or ``rtopt veto``. Past ``timeout_s`` the configured
default applies (``reject`` unless configured otherwise). A rejected decision's strategy is masked for the
bandit on that symbol for ``mask_cooldown_s`` (``masked_arms``), and its record keeps the propensity the
bandit had of choosing it, for off-policy evaluation.

Every state change comes back as an immutable record whose ``to_dict`` is what the audit trail keeps:
``PendingVeto`` (``event: veto_pending``) and ``VetoResolution`` (``event: veto_resolved``). The same dict
goes to ``on_change`` (the audit writer) before the change takes effect, expiries found in passing
included, so a change whose audit write raises does not happen. Thread-safe: the engine reviews on its
thread while HTTP handlers resolve on theirs; ``on_change`` runs under the gate's lock and must not wait
on a lock held by a caller of the gate.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from models.marketdata.simulator import REGIMES
from serving.decision.records import Decision
from serving.safety.auth import Permission, Role, permits
from serving.safety.veto_errors import (
    VetoAlreadyResolvedError,
    VetoForbiddenError,
    VetoNotFoundError,
)

_NS = 1_000_000_000


class VetoRule(StrEnum):
    """Which configured rule held a decision."""

    MAX_SIZE = "max_size"
    MIN_CONFIDENCE = "min_confidence"
    NEW_MODEL = "first_n_after_promotion"
    EXPLORATORY = "exploratory"
    REGIME = "regime"


class VetoOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


_ON_TIMEOUT = MappingProxyType({"approve": VetoOutcome.APPROVED, "reject": VetoOutcome.REJECTED})


@dataclass(frozen=True, kw_only=True, slots=True)
class VetoRules:
    """What holds a decision for a person, and what happens when nobody answers. Every rule is off by default."""

    max_size: float | None = None
    """Hold an order above this size: ``|position_size - previous_position|``, a fraction of the maximum position."""
    min_confidence: float | None = None
    """Hold a decision whose ``confidence`` is below this."""
    first_n_after_promotion: int = 0
    """Hold the first N decisions reviewed under each new set of model versions (a newly promoted champion)."""
    hold_exploratory: bool = False
    """Hold every exploratory decision (the bandit's epsilon draw chose a non-greedy arm)."""
    hold_regimes: frozenset[str] = frozenset()
    """Hold every decision taken in these regimes (``models.marketdata.simulator.Regime`` values)."""
    timeout_s: float = 300.0
    """A pending veto nobody resolves within this gets ``default_on_timeout``."""
    default_on_timeout: Literal["reject", "approve"] = "reject"
    require_distinct_approver: bool = True
    """Refuse (403) an approval or rejection by the decision's proposer."""
    mask_cooldown_s: float = 900.0
    """A rejected strategy stays masked for the bandit on that symbol this long."""
    kept_resolved: int = 10_000
    """Resolved vetoes kept in memory (``resolved()``, and 409 for a second answer); all go to the audit log."""

    def __post_init__(self) -> None:
        owner = "VetoRules"
        object.__setattr__(self, "hold_regimes", frozenset(self.hold_regimes))
        if self.max_size is not None and not (math.isfinite(self.max_size) and self.max_size >= 0.0):
            raise ValueError(f"{owner}.max_size: must be a finite number >= 0 or None, got {self.max_size}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"{owner}.min_confidence: must lie in [0, 1] or be None, got {self.min_confidence}")
        if self.first_n_after_promotion < 0:
            raise ValueError(f"{owner}.first_n_after_promotion: must be >= 0, got {self.first_n_after_promotion}")
        unknown = self.hold_regimes - {r.value for r in REGIMES}
        if unknown:
            raise ValueError(f"{owner}.hold_regimes: unknown regimes {sorted(unknown)}, known {list(REGIMES)}")
        for name in ("timeout_s", "mask_cooldown_s"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0.0):
                raise ValueError(f"{owner}.{name}: must be a positive finite number, got {getattr(self, name)}")
        if self.default_on_timeout not in ("reject", "approve"):
            raise ValueError(f"{owner}.default_on_timeout: 'reject' or 'approve', got {self.default_on_timeout!r}")
        if self.kept_resolved < 1:
            raise ValueError(f"{owner}.kept_resolved: must be >= 1, got {self.kept_resolved}")


@dataclass(frozen=True, kw_only=True, slots=True)
class VetoRequest:
    """The fields of a decision the rules read, and who proposed it."""

    decision_id: str
    symbol: str
    strategy: str
    previous_position: float
    position_size: float
    """Target position if executed, a signed fraction of the maximum position."""
    confidence: float
    explored: bool
    propensity: float
    regime: str
    model_versions: Mapping[str, str] = field(default_factory=dict)
    proposer: str = "engine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_versions", MappingProxyType(dict(self.model_versions)))

    @property
    def delta(self) -> float:
        return self.position_size - self.previous_position

    @classmethod
    def from_decision(cls, decision: Decision, proposer: str = "engine") -> VetoRequest:
        return cls(
            decision_id=decision.decision_id,
            symbol=decision.symbol,
            strategy=decision.strategy,
            previous_position=decision.previous_position,
            position_size=decision.position_size,
            confidence=decision.confidence,
            explored=decision.explored,
            propensity=decision.propensity,
            regime=decision.regime,
            model_versions=decision.model_versions,
            proposer=proposer,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "symbol": self.symbol,
            "strategy": self.strategy,
            "previous_position": self.previous_position,
            "position_size": self.position_size,
            "delta": self.delta,
            "confidence": self.confidence,
            "explored": self.explored,
            "propensity": self.propensity,
            "regime": self.regime,
            "model_versions": dict(self.model_versions),
            "proposer": self.proposer,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Trigger:
    """One rule that fired, and why, in words."""

    rule: VetoRule
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingVeto:
    """A held decision waiting for a person (or for its deadline)."""

    veto_id: str
    request: VetoRequest
    triggers: tuple[Trigger, ...]
    created_ns: int
    deadline_ns: int
    default_outcome: VetoOutcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "veto_pending",
            "veto_id": self.veto_id,
            "request": self.request.to_dict(),
            "triggers": [{"rule": t.rule.value, "detail": t.detail} for t in self.triggers],
            "created_ns": self.created_ns,
            "deadline_ns": self.deadline_ns,
            "default_outcome": self.default_outcome.value,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class VetoResolution:
    """How a pending veto ended: who decided (``timeout`` when nobody did), what, and why."""

    veto: PendingVeto
    outcome: VetoOutcome
    by: str
    role: Role | None
    """None when the timeout's default applied."""
    reason: str
    resolved_ns: int
    timed_out: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "veto_resolved",
            "veto_id": self.veto.veto_id,
            "outcome": self.outcome.value,
            "by": self.by,
            "role": None if self.role is None else self.role.value,
            "reason": self.reason,
            "resolved_ns": self.resolved_ns,
            "timed_out": self.timed_out,
            "veto": self.veto.to_dict(),
        }


def veto_id_of(decision_id: str) -> str:
    """Deterministic and URL-safe: the same decision gets the same id in a replay and on every shard."""
    return hashlib.sha256(decision_id.encode()).hexdigest()[:16]


def triggers_of(rules: VetoRules, request: VetoRequest, model_decisions: int) -> tuple[Trigger, ...]:
    """The rules ``request`` trips; ``model_decisions`` counts it among its model versions' reviews (from 1)."""
    fired = []
    if rules.max_size is not None and abs(request.delta) > rules.max_size:
        fired.append(Trigger(rule=VetoRule.MAX_SIZE, detail=f"|delta| {abs(request.delta):g} > {rules.max_size:g}"))
    if rules.min_confidence is not None and request.confidence < rules.min_confidence:
        detail = f"confidence {request.confidence:g} < {rules.min_confidence:g}"
        fired.append(Trigger(rule=VetoRule.MIN_CONFIDENCE, detail=detail))
    if model_decisions <= rules.first_n_after_promotion:
        detail = f"decision {model_decisions} of {rules.first_n_after_promotion} after promotion"
        fired.append(Trigger(rule=VetoRule.NEW_MODEL, detail=detail))
    if rules.hold_exploratory and request.explored:
        detail = f"exploratory choice of {request.strategy} (propensity {request.propensity:g})"
        fired.append(Trigger(rule=VetoRule.EXPLORATORY, detail=detail))
    if request.regime in rules.hold_regimes:
        fired.append(Trigger(rule=VetoRule.REGIME, detail=f"regime {request.regime}"))
    return tuple(fired)


class VetoGate:
    """Holds, resolves and expires vetoes (see the module docstring). ``clock`` gives epoch nanoseconds."""

    def __init__(
        self,
        rules: VetoRules | None = None,
        clock: Callable[[], int] = time.time_ns,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.rules = rules or VetoRules()
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._pending: dict[str, PendingVeto] = {}
        self._resolved: OrderedDict[str, VetoResolution] = OrderedDict()
        self._model_decisions: dict[tuple[tuple[str, str], ...], int] = {}
        self._masked_until: dict[str, dict[str, int]] = {}
        """symbol -> strategy -> until when (ns) it stays masked."""

    def review(self, request: VetoRequest) -> PendingVeto | None:
        """None when no rule fires (execute it); else the decision is held: do not execute it yet.

        Call it once per decision that would send an order: each call counts towards its model versions'
        ``first_n_after_promotion``. Raises ``ValueError`` for a decision that is already held or resolved.
        """
        veto_id = veto_id_of(request.decision_id)
        with self._lock:
            if veto_id in self._pending or veto_id in self._resolved:
                raise ValueError(f"decision_id: {request.decision_id!r} was already reviewed")
            versions = tuple(sorted(request.model_versions.items()))
            count = self._model_decisions.get(versions, 0) + 1
            triggers = triggers_of(self.rules, request, count)
            veto = self._hold(veto_id, request, triggers) if triggers else None
            self._model_decisions[versions] = count
            return veto

    def _hold(self, veto_id: str, request: VetoRequest, triggers: tuple[Trigger, ...]) -> PendingVeto:
        now = self._clock()
        veto = PendingVeto(
            veto_id=veto_id,
            request=request,
            triggers=triggers,
            created_ns=now,
            deadline_ns=now + round(self.rules.timeout_s * _NS),
            default_outcome=_ON_TIMEOUT[self.rules.default_on_timeout],
        )
        self._emit(veto)
        self._pending[veto_id] = veto
        return veto

    def approve(self, veto_id: str, *, by: str, role: Role, reason: str) -> VetoResolution:
        return self.resolve(veto_id, VetoOutcome.APPROVED, by=by, role=role, reason=reason)

    def reject(self, veto_id: str, *, by: str, role: Role, reason: str) -> VetoResolution:
        return self.resolve(veto_id, VetoOutcome.REJECTED, by=by, role=role, reason=reason)

    def resolve(self, veto_id: str, outcome: VetoOutcome, *, by: str, role: Role, reason: str) -> VetoResolution:
        """A person's answer; raises ``VetoError`` subclasses, or ``ValueError`` for an empty ``by`` or ``reason``.

        ``VetoNotFoundError``: no such veto; ``VetoAlreadyResolvedError``: answered, or its deadline passed;
        ``VetoForbiddenError``: the role may not resolve vetoes, or the proposer answers its own decision.
        """
        if not by.strip() or not reason.strip():
            raise ValueError("by, reason: both required, non-empty")
        with self._lock:
            now = self._clock()
            self._expire(now)
            veto = self._pending.get(veto_id)
            if veto is None:
                if veto_id in self._resolved:
                    raise VetoAlreadyResolvedError(f"veto {veto_id}: already {self._resolved[veto_id].outcome.value}")
                raise VetoNotFoundError(f"veto {veto_id}: no such veto")
            if not permits(role, Permission.RESOLVE_VETO):
                raise VetoForbiddenError(f"role {role.value} may not resolve vetoes")
            if self.rules.require_distinct_approver and by.strip().casefold() == veto.request.proposer.casefold():
                raise VetoForbiddenError(f"{by}: the proposer of a decision may not resolve its veto")
            resolution = VetoResolution(
                veto=veto, outcome=outcome, by=by, role=role, reason=reason, resolved_ns=now, timed_out=False
            )
            self._close(resolution)
            return resolution

    def expire(self, now_ns: int | None = None) -> list[VetoResolution]:
        """Apply the default to every pending veto whose deadline has passed; what was resolved, oldest first."""
        with self._lock:
            return self._expire(self._clock() if now_ns is None else now_ns)

    def pending(self) -> tuple[PendingVeto, ...]:
        with self._lock:
            return tuple(self._pending.values())

    def resolved(self) -> tuple[VetoResolution, ...]:
        """The last ``kept_resolved`` resolutions, oldest first."""
        with self._lock:
            return tuple(self._resolved.values())

    def pending_for(self, symbol: str) -> PendingVeto | None:
        """The symbol's oldest pending veto, if any (the engine holds the symbol's new orders meanwhile)."""
        with self._lock:
            return next((v for v in self._pending.values() if v.request.symbol == symbol), None)

    def resolution(self, veto_id: str) -> VetoResolution | None:
        with self._lock:
            return self._resolved.get(veto_id)

    def masked_arms(self, symbol: str, now_ns: int | None = None) -> frozenset[str]:
        """Strategies rejected on ``symbol`` within the last ``mask_cooldown_s`` (by a person or a timeout)."""
        with self._lock:
            now = self._clock() if now_ns is None else now_ns
            return frozenset(arm for arm, until in self._masked_until.get(symbol, {}).items() if until > now)

    def _expire(self, now: int) -> list[VetoResolution]:
        due = [v for v in self._pending.values() if v.deadline_ns <= now]
        out = []
        for veto in due:
            reason = f"no answer within {self.rules.timeout_s:g}s: the default ({veto.default_outcome.value}) applies"
            out.append(
                VetoResolution(
                    veto=veto,
                    outcome=veto.default_outcome,
                    by="timeout",
                    role=None,
                    reason=reason,
                    resolved_ns=now,
                    timed_out=True,
                )
            )
            self._close(out[-1])
        return out

    def _emit(self, record: PendingVeto | VetoResolution) -> None:
        if self._on_change is not None:
            self._on_change(record.to_dict())

    def _close(self, resolution: VetoResolution) -> None:
        self._emit(resolution)
        veto_id = resolution.veto.veto_id
        del self._pending[veto_id]
        self._resolved[veto_id] = resolution
        if resolution.outcome is VetoOutcome.REJECTED:
            request = resolution.veto.request
            until = resolution.resolved_ns + round(self.rules.mask_cooldown_s * _NS)
            masks = self._masked_until.setdefault(request.symbol, {})
            masks[request.strategy] = max(until, masks.get(request.strategy, until))
        while len(self._resolved) > self.rules.kept_resolved:
            self._resolved.popitem(last=False)
