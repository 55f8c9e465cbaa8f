"""One decision shard: a Ray Serve deployment that owns a DecisionEngine for the symbols routed to it.

Models come from the MLflow registry (``serving.decision.registry``). ``apply_models`` loads a new
champion or challenger off the lock and swaps it into the running engine in place: requests keep
flowing, per-symbol state carries over. A version that fails to load leaves the last good one serving
and is reported, by name, in ``health``.

Each champion decision also feeds the online drift signal (``serving.monitoring.online``: feature PSI and
live PnL against the backtest) and, after a promotion, the rollback guard (``serving.lifecycle.guard``),
with the net PnL the engine's paper broker booked on that event.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from ray import serve

from models.monitoring.performance import PerformanceRule
from models.streaming.events import EventRejected
from serving.decision.audit import AuditTrail, open_audit
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Decision
from serving.decision.registry import ModelUnavailableError, ResolvedVersions, load_bundle, resolve
from serving.lifecycle.aliases import PREVIOUS
from serving.lifecycle.guard import (
    ROLLBACK_RETRY_S,
    GuardConfig,
    GuardTrip,
    RollbackGuard,
    fall_back,
    registry_rollback,
    retried,
)
from serving.lifecycle.promotion import PromotionResult
from serving.monitoring.expectation import expectation_or_note
from serving.monitoring.online import ChampionMonitor, OnlineDriftConfig, load_psi_reference
from serving.safety.veto import VetoRules
from serving.safety.veto_http import Verb, list_answer, resolve_answer
from serving.serve.config import ServeConfig, use_registry

log = logging.getLogger(__name__)


def rejection(error: EventRejected) -> dict[str, str]:
    """The JSON error of a rejected event: its reason code, the field it names, the message."""
    field = error.detail.split(":", 1)[0] if ":" in error.detail else ""
    return {"reason": error.reason.value, "field": field, "message": error.detail}


class DecisionShard:
    """Holds one engine; every method runs on the replica's event loop, one at a time per call."""

    def __init__(self, config: dict[str, Any], shard: int) -> None:
        self.config = ServeConfig(**config)
        self.shard = shard
        use_registry(self.config)
        self.engine: DecisionEngine | None = None
        self.applied: dict[str, ResolvedVersions | None] = {"champion": None, "challenger": None}
        self.unhealthy: dict[str, str] = {}
        cfg = self.config
        self.drift_config = OnlineDriftConfig(
            window=cfg.drift_window,
            min_events=cfg.drift_min_events,
            threshold=cfg.drift_threshold,
            performance=PerformanceRule(min_decisions=cfg.performance_min_decisions, z=cfg.performance_z),
        )
        self.monitor: ChampionMonitor | None = None
        self.guard = RollbackGuard(
            GuardConfig(watch_decisions=cfg.guard_decisions, drawdown_limit_bps=cfg.guard_drawdown_bps)
        )
        self._fallback: tuple[ResolvedVersions, ModelBundle, ChampionMonitor] | None = None
        """The champion a promotion replaced and its monitor, kept in memory while the guard watches the new one."""
        self.blocked: ResolvedVersions | None = None
        """A champion the guard rolled back: not applied again while the registry still names it."""
        self.rollback_note = ""
        self.rollback_thread: threading.Thread | None = None
        self.guard_trip: dict[str, Any] | None = None
        """The last trip (``GuardTrip.to_dict``), in ``health`` so the ingress sends the other shards REDUCING."""
        self._lock = threading.RLock()
        try:
            champion, challenger = resolve("champion", self.config.agent), resolve("challenger", self.config.agent)
        except ModelUnavailableError as error:  # the registry poll (or a reload) applies them once it answers
            self.unhealthy["champion"] = str(error)
            log.error("shard %d: starting without models: %s", self.shard, error)
        else:
            self.apply_models(champion, challenger)

    def _engine_config(self) -> EngineConfig:
        cfg = self.config
        return EngineConfig(
            symbols=frozenset(cfg.symbols),
            clock=cfg.clock,
            max_feature_age=timedelta(seconds=cfg.max_feature_age_s),
            kill_switch_file=None if cfg.kill_switch_file is None else Path(cfg.kill_switch_file),
            vetoes=None if cfg.veto_rules is None else VetoRules(**cfg.veto_rules),
        )

    def _load(self, role: str, versions: ResolvedVersions | None) -> ModelBundle | None:
        if versions is None:
            return None
        try:
            bundle = load_bundle(versions, Path(self.config.model_cache))
        except ModelUnavailableError as error:
            self.unhealthy[role] = str(error)
            log.error("shard %d: %s stays on its last good version: %s", self.shard, role, error)
            return None
        self.unhealthy.pop(role, None)
        return bundle

    def apply_models(self, champion: ResolvedVersions | None, challenger: ResolvedVersions | None) -> dict[str, Any]:
        """Swap in ``champion`` and shadow ``challenger`` where they differ from what runs now.

        Fetching and loading (and the registry reads for the drift monitor and the guard) happen off the
        shard's lock, so decisions keep flowing; only the swap itself takes it.
        """
        if champion is None and self.engine is None:
            self.unhealthy["champion"] = "no registered champion (run the training job or make demo)"
        if self.blocked is not None and champion != self.blocked:
            self.blocked = None  # the registry moved on from the rolled-back champion
        incoming = None
        if champion is not None and champion != self.applied["champion"] and champion != self.blocked:
            bundle = self._load("champion", champion)
            if bundle is not None:
                incoming = (champion, bundle, self._monitor(champion, bundle), self._previous_alias())
        shadow = None
        if challenger != self.applied["challenger"]:
            shadow = self._load("challenger", challenger)
        with self._lock:
            if incoming is not None and incoming[0] != self.blocked:
                self._swap_champion(*incoming)
            changed = challenger != self.applied["challenger"] and (shadow is not None or challenger is None)
            if self.engine is not None and changed:
                self.engine.set_shadow("challenger", shadow)
                self.applied["challenger"] = challenger
            return self.health()

    def _swap_champion(
        self,
        champion: ResolvedVersions,
        bundle: ModelBundle,
        monitor: ChampionMonitor,
        previous_alias: ResolvedVersions | None,
    ) -> None:
        """The new champion in (the caller holds the lock); the guard watches it when a promotion brought it."""
        old, old_bundle, old_monitor = self.applied["champion"], None, self.monitor
        if self.engine is None:
            self.engine = DecisionEngine(bundle, self._engine_config(), audit=self._audit())
        else:
            old_bundle = self.engine.champion
            self.engine.swap(bundle)
        self.applied["champion"], self.monitor, self._fallback = champion, monitor, None
        self.guard.disarm()
        if (
            old is not None
            and old_bundle is not None
            and old_monitor is not None
            and old == previous_alias  # a promotion moved ``previous`` onto the champion it replaced
            and self.guard.arm(old.names(), champion.names())
        ):
            self._fallback = (old, old_bundle, old_monitor)

    def _previous_alias(self) -> ResolvedVersions | None:
        """What the registry's ``previous`` alias names: a promotion sets it to the champion it replaced."""
        try:
            return resolve(PREVIOUS, self.config.agent)
        except (MlflowException, ModelUnavailableError) as error:
            log.warning("shard %d: registry unreadable, the rollback guard is not armed: %s", self.shard, error)
            return None

    def _monitor(self, versions: ResolvedVersions, bundle: ModelBundle) -> ChampionMonitor:
        reference, psi_note = load_psi_reference(bundle.actor_dir)
        expectation, note = expectation_or_note(versions, MlflowClient())
        notes = {"features": psi_note, "performance": note}
        return ChampionMonitor(self.drift_config, versions.names(), reference, expectation, notes)

    def __del__(self) -> None:
        """Ray Serve calls this when the replica shuts down gracefully: the audit journal's last records go into
        the store now (a replica that dies instead leaves them in its journal for the next writer to take in)."""
        engine = getattr(self, "engine", None)
        if engine is not None and engine.audit is not None:
            engine.audit.close()

    def _audit(self) -> AuditTrail | None:
        dsn = self.config.audit_dsn
        # the engine's writer: decisions journaled, one write each (serving.decision.audit_journal)
        return None if dsn is None else open_audit(dsn, journal=True)

    def decide(self, payloads: list[Any]) -> list[dict[str, Any]]:
        """Decisions (as dicts) or ``{"error": ...}`` entries, one per payload, in order."""
        with self._lock:
            engine = self.engine
            if engine is None:
                raise RuntimeError(f"shard {self.shard}: no champion loaded ({self.unhealthy.get('champion', '')})")
            broker, out = engine.broker, []
            scale, equity = 1e4 / engine.config.broker.max_notional, broker.equity()
            for payload in payloads:
                try:
                    decision = engine.process(payload)
                except EventRejected as rejected:
                    out.append({"error": rejection(rejected)})
                    continue
                now = broker.equity()
                self._observe(decision, (now - equity) * scale)
                equity = now
                out.append(decision.to_dict())
            return out

    def _observe(self, decision: Decision, pnl_bps: float) -> None:
        """One champion decision's net PnL (bps of the maximum notional) to the drift monitor and the guard."""
        if self.monitor is not None:
            self.monitor.observe(decision, pnl_bps)
        trip = self.guard.observe(pnl_bps)
        if trip is not None:
            self._trip(trip)

    def _trip(self, trip: GuardTrip) -> None:
        """The guard tripped: the previous champion back in place, REDUCING, audited; the aliases in the background."""
        assert self.engine is not None and self._fallback is not None
        previous, bundle, monitor = self._fallback
        tripped = self.applied["champion"]
        log.error("shard %d: %s", self.shard, trip.cause)
        fall_back(self.engine, bundle, trip)  # local only: no registry call on the decision path
        self.guard_trip = trip.to_dict()
        self.applied["champion"], self.blocked, self._fallback = previous, tripped, None
        self.monitor = monitor
        if tripped is not None:
            self.rollback_note = "moving the registry aliases back"
            self.rollback_thread = threading.Thread(
                target=self._registry_rollback, args=(tripped,), name="guard-rollback", daemon=True
            )
            self.rollback_thread.start()

    def _registry_rollback(self, tripped: ResolvedVersions) -> None:
        """The aliases back (``guard.retried``: tried again while this shard still refuses ``tripped``)."""
        audit = None if self.engine is None else self.engine.audit

        def attempt() -> PromotionResult | str:
            return registry_rollback(tripped, cache=Path(self.config.model_cache), audit=audit)

        answered, note = retried(attempt, ROLLBACK_RETRY_S, wanted=lambda: self.blocked == tripped)
        if not answered:
            note = f"{note}; {tripped.names()} stays refused"
            log.error("shard %d: %s", self.shard, note)
        self.rollback_note = note

    def drift(self) -> dict[str, Any]:
        """This shard's part of ``GET /v1/drift`` (``serving.monitoring.online.merge_drift``)."""
        with self._lock:
            report = None if self.monitor is None else self.monitor.report()
            return {"shard": self.shard, "drift": report, "guard": self.guard_status()}

    def guard_status(self) -> dict[str, Any]:
        blocked = None if self.blocked is None else self.blocked.names()
        return {**self.guard.status(), "refused_champion": blocked, "registry_rollback": self.rollback_note}

    def health(self) -> dict[str, Any]:
        names = {role: (v.names() if v else None) for role, v in self.applied.items()}
        ready = self.engine is not None
        return {"shard": self.shard, "ready": ready, "models": names, "unhealthy": self.unhealthy} | (
            {"guard_trip": self.guard_trip} if self.guard_trip is not None else {}
        )

    def status(self) -> dict[str, Any]:
        if self.engine is None:
            return {"shard": self.shard, "status": "not_ready", "unhealthy": self.unhealthy}
        status = {"shard": self.shard, **self.engine.status(), "unhealthy": self.unhealthy}
        return status | self.drift()

    def shadow_paired(self, name: str) -> dict[str, Any]:
        """This shard's part of ``GET /v1/shadow/{name}/paired`` (``serving.lifecycle.comparison.merge_paired``)."""
        if self.engine is None:
            return {"shard": self.shard, "versions": None, "champion_versions": None}
        return {"shard": self.shard, **self.engine.shadow_paired(name)}

    def kill(self, cause: str, by: str = "api") -> dict[str, Any]:
        if self.engine is not None:
            self.engine.kill(cause, by=by)
        return self.status()

    def vetoes(self) -> dict[str, Any]:
        """This shard's pending and resolved vetoes (``serving.safety.veto_http.list_answer``)."""
        if self.engine is None or self.engine.vetoes is None:
            return {"pending": [], "resolved": []}
        return list_answer(self.engine.vetoes)

    def resolve_veto(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> tuple[int, dict[str, Any]]:
        if self.engine is None or self.engine.vetoes is None:
            return 404, {"detail": f"veto {veto_id}: no such veto"}
        return resolve_answer(self.engine.vetoes, veto_id, verb, by=by, role=role, reason=reason)

    def reduce(self, cause: str, by: str) -> dict[str, Any]:
        """REDUCING on this shard (another shard's rollback guard tripped); only a person's resume leaves it."""
        if self.engine is not None:
            self.engine.reduce(cause, by)
        return self.status()

    def resume(self, cause: str, by: str) -> dict[str, Any]:
        if self.engine is not None:
            self.engine.resume(cause, by)
        return self.status()

    def set_limits(self, values: dict[str, Any], by: str) -> dict[str, Any]:
        """The audited limit change (old and new values); a bad field raises ValueError naming it."""
        if self.engine is None:
            raise RuntimeError(f"shard {self.shard}: no champion loaded")
        return self.engine.set_limits(values, by)


DecisionShardDeployment = serve.deployment(name="DecisionShard")(DecisionShard)
