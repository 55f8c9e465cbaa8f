"""The DecisionEngine's state and its controls: construction, model hot-swap, shadows, limits, kill, reporting.

``serving.decision.engine.DecisionEngine`` adds the event path on top of this state; everything here is an
operator's or the lifecycle's action (each one audited) or a read of the state under the engine's lock.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from models.strategies import SignalBank, Strategy, build_strategies
from models.streaming.processor import KeyedProcessor
from serving.decision.audit import AuditTrail, AuditWriteError, Payload
from serving.decision.broker import PaperBroker
from serving.decision.bundle import ModelBundle
from serving.decision.config import EngineConfig, RejectedEvent, TransitionSink
from serving.decision.gates import VetoStage
from serving.decision.observers import build_explainer
from serving.decision.policy import BundlePolicy
from serving.decision.roles import Role, shadow_metrics, shadow_paired
from serving.safety.exploration import RiskBudgetGuard
from serving.safety.kill_switch import KillSwitchStore
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import TradingState
from serving.safety.veto import VetoGate


class EngineControls:
    """The engine's state (see ``DecisionEngine``) and every action on it besides deciding. Thread-safe."""

    def __init__(
        self,
        champion: ModelBundle,
        config: EngineConfig | None = None,
        *,
        audit: AuditTrail | None = None,
        feature_sink: Callable[[str, int, np.ndarray], None] | None = None,
        transitions: TransitionSink | None = None,
        strategy_factory: Callable[[], Sequence[Strategy]] = build_strategies,
    ) -> None:
        self.config = config or EngineConfig()
        self.audit, self.feature_sink, self.transitions = audit, feature_sink, transitions
        self._strategy_factory = strategy_factory
        self._max_age_ns = self.config.max_feature_age // timedelta(microseconds=1) * 1000
        self.processor = KeyedProcessor(self.config.stream)
        store = None if self.config.kill_switch_file is None else KillSwitchStore(self.config.kill_switch_file)
        self.risk = PreTradeRisk(self.config.risk, store=store, on_halt=lambda _: self._cancel_champion())
        self._champion = Role("champion", BundlePolicy(champion, self.config.policy), self._broker(), self.risk)
        self._explainer = build_explainer(self.config.explanation, self._champion.policy)
        arms = self._champion.policy.arms
        budget = self.config.exploration_budget
        self.exploration = None if budget is None else RiskBudgetGuard(arms, budget)
        rules = self.config.vetoes
        self.vetoes = None if rules is None else VetoGate(rules, on_change=lambda r: self._audit_admin("veto", r))
        self._veto_stage = None if self.vetoes is None else VetoStage(self.vetoes)
        self._strategy_stats = {arm: [0, 0.0, 0] for arm in arms}
        self._importance: deque[dict[str, Any]] = deque(maxlen=200)
        self._attach(self._champion.policy)
        self._risk_events_audited = self._strategy_events_audited = 0
        self._shadows: dict[str, Role] = {}
        self._strategies: dict[str, SignalBank] = {}
        self._lock = threading.RLock()
        self._market_ns = 0
        self._last_obs: dict[str, tuple[np.ndarray, tuple[float, float, float]]] = {}
        """symbol -> the champion's last (observation, action), until the next event completes its transition."""
        self.rejects: deque[RejectedEvent] = deque(maxlen=self.config.kept_rejects)
        self.reject_counts: dict[str, int] = {}
        self.decisions_generated = 0
        self._check_arms(champion)

    def _attach(self, policy: BundlePolicy) -> None:
        """The champion's bandit explores within the budget; its outcomes feed the budget and the stats."""
        if self.exploration is not None:
            policy.bandit.guard = self.exploration
        policy.on_outcome = self._on_outcome

    def _on_outcome(self, arm: str, net_bps: float, explored: bool) -> None:
        stats = self._strategy_stats[arm]
        stats[0], stats[1], stats[2] = stats[0] + 1, stats[1] + net_bps, stats[2] + int(net_bps > 0.0)
        if self.exploration is not None:
            update = self.exploration.record(arm, net_bps, explored=explored)
            if explored:
                self._audit_admin("exploration_budget", update.to_dict())

    def _broker(self) -> PaperBroker:
        return PaperBroker(self.config.broker)

    def _check_arms(self, bundle: ModelBundle) -> None:
        arms = tuple(s.name for s in self._strategy_factory())
        if arms != bundle.bandit.arms:
            raise ValueError(f"bundle: its bandit's arms {bundle.bandit.arms} differ from the strategies {arms}")

    def _cancel_champion(self) -> None:
        self._champion.broker.cancel_all()

    def _audit(self, kind: str, payload: Payload) -> None:
        assert self.audit is not None
        try:
            self.audit.append(kind, payload)
        except AuditWriteError:
            # No unaudited decision: stop trading before anything else happens.
            self.risk.kill("audit write failed", by="risk-monitor")
            self._champion.broker.cancel_all()
            raise

    def _audit_risk_events(self) -> None:
        """Every trading-state change (automatic or by a person) and strategy disable/re-enable, once each."""
        events, strategies = self.risk.events, self.risk.strategy_events
        for change in events[self._risk_events_audited :]:
            self._audit_admin(
                "risk_state", {**change._asdict(), "previous": change.previous.value, "state": change.state.value}
            )
        for toggled in strategies[self._strategy_events_audited :]:
            self._audit_admin("strategy_state", toggled._asdict())
        self._risk_events_audited, self._strategy_events_audited = len(events), len(strategies)

    def _audit_admin(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Model, shadow, limit and state changes go to the audit trail too (when there is one)."""
        if self.audit is not None:
            self._audit(kind, payload)

    # -- models ---------------------------------------------------------------------------------------

    def swap(self, bundle: ModelBundle) -> None:
        """Hot-swap the champion: the next event decides with ``bundle``; per-symbol state carries over.

        Feature state, strategy state, positions and the broker are untouched; the arm-PnL trackers carry
        over; the regime trackers and the online-learned bandit carry over when their model version is
        unchanged (a new detector or bandit starts from its registered state).
        """
        self._check_arms(bundle)
        policy = BundlePolicy(bundle, self.config.policy)
        explainer = build_explainer(self.config.explanation, policy)
        with self._lock:
            previous = dict(self._champion.policy.bundle.versions)
            policy.adopt(self._champion.policy)
            self._attach(policy)
            self._champion.policy, self._explainer = policy, explainer
            if dict(bundle.versions) != previous:
                for shadow in self._shadows.values():
                    shadow.forget_champion()
            self._audit_admin(
                "model_swap", {"role": "champion", "previous": previous, "versions": dict(bundle.versions)}
            )

    def set_shadow(self, name: str, bundle: ModelBundle | None) -> None:
        """Start (or replace, or with None stop) shadowing ``bundle`` under ``name``; it starts flat."""
        with self._lock:
            if bundle is None:
                if self._shadows.pop(name, None) is not None:
                    self._audit_admin("shadow", {"name": name, "versions": None})
                return
            self._check_arms(bundle)
            policy = BundlePolicy(bundle, self.config.policy)
            policy.adopt(self._champion.policy)
            self._shadows[name] = Role(name, policy, self._broker(), PreTradeRisk(self.risk.limits))
            self._audit_admin("shadow", {"name": name, "versions": dict(bundle.versions)})

    def set_limits(self, values: Mapping[str, Any], by: str) -> dict[str, Any]:
        """Change risk limits while running (the next order sees them); audited. Unknown fields raise."""
        with self._lock:
            limits = RiskLimits.from_dict({**self.risk.limits.to_dict(), **values})
            change = self.risk.set_limits(limits, by)
            for shadow in self._shadows.values():
                shadow.risk.set_limits(limits, by)
            record = change.to_dict()
            self._audit_admin("limit_change", record)
            return record

    def reduce(self, cause: str, by: str) -> None:
        """REDUCING (HALTED stays HALTED): only position-reducing orders until a person resumes; audited."""
        with self._lock:
            self.risk.reduce(cause, by)
            self._audit_risk_events()

    def resume(self, cause: str, by: str) -> None:
        """A person's decision to trade again (ACTIVE); audited."""
        with self._lock:
            self.risk.resume(cause, by)
            self._audit_risk_events()

    @property
    def champion(self) -> ModelBundle:
        return self._champion.policy.bundle

    @property
    def shadows(self) -> dict[str, ModelBundle]:
        return {name: role.policy.bundle for name, role in self._shadows.items()}

    @property
    def broker(self) -> PaperBroker:
        """The champion's paper broker: the positions and equity of what the engine executed."""
        return self._champion.broker

    def kill(self, cause: str, by: str = "operator") -> None:
        """The kill switch: HALTED (persisted when the engine has a kill-switch file), working orders cancelled."""
        with self._lock:
            self.risk.kill(cause, by=by)
            self._champion.broker.cancel_all()
            self._audit_risk_events()

    # -- reporting ------------------------------------------------------------------------------------

    def shadow_metrics(self) -> dict[str, dict[str, Any]]:
        return shadow_metrics(self._shadows)

    def shadow_paired(self, name: str) -> dict[str, Any]:
        """Shadow ``name``'s paired PnL and off-policy log (``serving.lifecycle.comparison`` reads the columns)."""
        with self._lock:
            return shadow_paired(self._champion, self._shadows.get(name))

    def status(self) -> dict[str, Any]:
        """The seed's fields (status, active_models, decisions_generated, daily_pnl) and the rest."""
        with self._lock:
            broker = self._champion.broker
            return {
                "status": "halted" if self.risk.state is TradingState.HALTED else "running",
                "active_models": dict(self._champion.policy.bundle.versions),
                "decisions_generated": self.decisions_generated,
                "daily_pnl": broker.daily_pnl(),
                "total_pnl": broker.equity(),
                "positions": broker.positions(),
                "shadow": self.shadow_metrics(),
                "rejected": dict(self.reject_counts),
                **self.risk.status(),
                "bandit": self._champion.policy.stats(),
                "strategies": {
                    arm: {"decisions": n, "pnl_bps": pnl, "wins": wins, "success_rate": wins / n if n else math.nan}
                    for arm, (n, pnl, wins) in self._strategy_stats.items()
                },
                "feature_importance": list(self._importance)[-50:],
                "exploration": None if self.exploration is None else self.exploration.status(),
                "vetoes_pending": 0 if self.vetoes is None else len(self.vetoes.pending()),
            }
