"""The rollback guard: a newly promoted champion that loses too much in its first decisions is rolled back.

After a promotion swaps a new champion in, the guard watches its first ``watch_decisions`` decisions: the
cumulative net PnL since the swap (bps of the maximum notional, summed per decision) and its running peak,
which starts at 0 (the equity at the swap). When ``peak - cumulative`` reaches ``drawdown_limit_bps`` the
guard trips (issue 7), and the shard that owns it:

1. swaps the previous champion back into its running engine (``fall_back``: in place, per-symbol state kept);
2. puts trading in REDUCING with the cause, so only orders that reduce a position pass until a person
   confirms with the existing resume path (``POST /v1/admin/resume``, ``rtopt resume``);
3. writes a ``rollback_guard`` audit record (the trip's numbers and versions); the engine's own
   ``model_swap`` and ``risk_state`` records follow;
4. moves the registry aliases back with ``serving.lifecycle.promotion.rollback`` (``registry_rollback``), off
   the decision path, so the registry poll does not swap the rolled-back champion in again. Until the aliases
   are back (MLflow may be unreachable) the shard refuses to re-apply the tripped versions; a failed move is
   tried again after ``ROLLBACK_RETRY_S`` (``retried``), as long as the registry still needs it.

Steps 1-3 are local and immediate: they need neither MLflow nor the network. Past ``watch_decisions`` without
a trip the guard disarms and the champion is on its own (the risk monitor's limits still apply).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from serving.decision.audit import AuditTrail
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine
from serving.decision.registry import ResolvedVersions, resolve
from serving.lifecycle.aliases import CHAMPION
from serving.lifecycle.promotion import PromotionResult, rollback

log = logging.getLogger(__name__)
GUARD = "rollback-guard"
"""Who the guard's actions are recorded as (``by``)."""
ROLLBACK_RETRY_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
"""Waits before each new try of a failed alias move (about two minutes in all): MLflow restarts, a network blip."""
AUDIT_KIND = "rollback_guard"


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardConfig:
    watch_decisions: int = 500
    """Decisions of a new champion watched after its promotion; 0 turns the guard off."""
    drawdown_limit_bps: float = 300.0
    """Drawdown from the peak since the swap, bps of the maximum notional summed over decisions, that trips it."""

    def __post_init__(self) -> None:
        if self.watch_decisions < 0:
            raise ValueError(f"watch_decisions: must be >= 0, got {self.watch_decisions}")
        if not (math.isfinite(self.drawdown_limit_bps) and self.drawdown_limit_bps > 0.0):
            raise ValueError(f"drawdown_limit_bps: must be a positive finite number, got {self.drawdown_limit_bps}")


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardTrip:
    """Why and from what to what the guard rolled back; immutable, audited."""

    decisions: int
    """Decisions of the new champion when it tripped."""
    drawdown_bps: float
    limit_bps: float
    tripped: Mapping[str, str]
    """Names of the champion rolled back."""
    restored: Mapping[str, str]
    """Names of the champion brought back."""
    timestamp_ns: int

    @property
    def cause(self) -> str:
        return (
            f"rollback guard: new champion {dict(self.tripped)} drew down {self.drawdown_bps:.1f} bps "
            f"(limit {self.limit_bps:.1f}) in its first {self.decisions} decisions; {dict(self.restored)} restored"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tripped"], out["restored"], out["cause"] = dict(self.tripped), dict(self.restored), self.cause
        return out


class RollbackGuard:
    """Watches one new champion at a time (module docstring); not thread-safe: the shard serialises calls."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._watching: tuple[Mapping[str, str], Mapping[str, str]] | None = None
        self.decisions, self.cumulative_bps, self.peak_bps = 0, 0.0, 0.0
        self.last_trip: GuardTrip | None = None
        self.passed: int = 0
        """Champions watched to the end without a trip."""

    @property
    def armed(self) -> bool:
        return self._watching is not None

    def arm(self, previous: Mapping[str, str], new: Mapping[str, str]) -> bool:
        """Start watching ``new`` (promoted over ``previous``); False when the guard is off."""
        if self.config.watch_decisions == 0:
            return False
        self._watching = (dict(previous), dict(new))
        self.decisions, self.cumulative_bps, self.peak_bps = 0, 0.0, 0.0
        return True

    def disarm(self) -> None:
        self._watching = None

    @property
    def drawdown_bps(self) -> float:
        return self.peak_bps - self.cumulative_bps

    def observe(self, pnl_bps: float) -> GuardTrip | None:
        """Fold in one decision's net PnL; the trip when this decision passed the limit, else None."""
        if self._watching is None:
            return None
        self.decisions += 1
        self.cumulative_bps += pnl_bps
        self.peak_bps = max(self.peak_bps, self.cumulative_bps)
        if self.drawdown_bps >= self.config.drawdown_limit_bps:
            previous, new = self._watching
            self._watching = None
            self.last_trip = GuardTrip(
                decisions=self.decisions,
                drawdown_bps=self.drawdown_bps,
                limit_bps=self.config.drawdown_limit_bps,
                tripped=new,
                restored=previous,
                timestamp_ns=time.time_ns(),
            )
            return self.last_trip
        if self.decisions >= self.config.watch_decisions:
            self._watching, self.passed = None, self.passed + 1
        return None

    def status(self) -> dict[str, Any]:
        watching = self._watching
        return {
            "armed": watching is not None,
            "watching": None if watching is None else dict(watching[1]),
            "decisions": self.decisions,
            "watch_decisions": self.config.watch_decisions,
            "drawdown_bps": self.drawdown_bps,
            "drawdown_limit_bps": self.config.drawdown_limit_bps,
            "passed": self.passed,
            "last_trip": None if self.last_trip is None else self.last_trip.to_dict(),
        }


def fall_back(engine: DecisionEngine, previous: ModelBundle, trip: GuardTrip) -> None:
    """Steps 1-3 of the module docstring: swap back in place, REDUCING with the cause, the audit record."""
    engine.swap(previous)
    engine.risk.reduce(trip.cause, by=GUARD)
    if engine.audit is not None:
        engine.audit.append(AUDIT_KIND, trip.to_dict())


def registry_rollback(
    tripped: ResolvedVersions, *, cache: Path, audit: AuditTrail | None, client: MlflowClient | None = None
) -> PromotionResult | str:
    """Step 4: the aliases back to ``previous`` (``promotion.rollback``, no Serve reload: the shard swapped).

    Only while the registry's champion is still the tripped one: a person may have moved it since. Returns
    the rollback's result, or why nothing was done.
    """
    client = client or MlflowClient()
    current = resolve(CHAMPION, tripped.agent, client)
    if current != tripped:
        names = None if current is None else current.names()
        return f"registry champion is {names}, not the tripped {tripped.names()}: aliases left alone"
    trip_reason = "rollback guard: drawdown limit passed in the new champion's first decisions"
    return rollback(
        agent=tripped.agent, client=client, audit=audit, cache=cache, reload=None, reason=trip_reason, by=GUARD
    )


def retried(
    attempt: Callable[[], PromotionResult | str],
    delays_s: Sequence[float],
    *,
    wanted: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """``attempt`` (a ``registry_rollback``) until it answers: (whether it did, what happened as one line).

    After a failure (any exception: MLflow unreachable, a database error) it waits the next of ``delays_s`` and
    tries again, while ``wanted()`` still says so (the shard still refuses the tripped champion). Every failure
    is logged; the answer names how many there were and the last one.
    """
    failures: list[str] = []
    for delay in (*delays_s, None):
        try:
            result = attempt()
        except Exception as error:  # any failure of the alias move: try again later, never on the decision path
            failures.append(f"{type(error).__name__}: {error}")
            log.warning("rollback guard: alias move failed (try %d): %s", len(failures), failures[-1])
            if delay is None or not wanted():
                break
            sleep(delay)
            continue
        note = result if isinstance(result, str) else f"registry rollback {result.status} {result.cause}"
        return True, note if not failures else f"{note} (after {len(failures)} failed tries, last: {failures[-1]})"
    return False, f"alias move failed: {len(failures)} tries, last: {failures[-1]}"


def reducing_orders(healths: Sequence[Mapping[str, Any]], spread: set[str]) -> list[tuple[int, str]]:
    """Which other shards must go REDUCING for guard trips not yet spread: ``(shard index, cause)`` pairs.

    ``healths`` are the shards' ``health()`` answers in shard order; a trip is keyed by its cause and time,
    added to ``spread`` here, so each trip reaches every other shard once (the ingress's registry poll).
    """
    orders: list[tuple[int, str]] = []
    for index, health in enumerate(healths):
        trip = health.get("guard_trip")
        if not trip:
            continue
        key = f"{trip['timestamp_ns']}:{trip['cause']}"
        if key in spread:
            continue
        spread.add(key)
        orders.extend((other, str(trip["cause"])) for other in range(len(healths)) if other != index)
    return orders
