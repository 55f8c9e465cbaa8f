"""The DecisionEngine: one object from market event to executed, audited decision.

    event -> validate -> streaming features (per symbol) -> regime -> bandit picks a strategy
          -> the strategy's signal -> actor sizes it -> risk controls -> Decision -> audit -> broker

Backtests, paper trading, the Ray Serve deployment and the Python API all call ``process`` on this
object, so the same events give the same decisions whichever door they came in by.

Per event, in order (causal: nothing reads a later event):

1. the event is validated (``parse_event``); a bad one raises ``EventRejected`` with a reason, is
   counted and kept (``rejects``, and the audit log when there is one);
2. the paper broker works the symbol's last order against this event and marks the position; the
   realised net PnL (bps) is the reward of the decision that sent it, for the bandit that chose it;
3. the symbol's streaming feature state folds the event in (``KeyedProcessor``: dedup, ordering);
4. each policy (champion, shadows) updates its regime tracker; the strategies' signals are computed
   once and shared by all policies;
5. each policy proposes a target; risk controls cut or deny it; the champion's order goes to the
   broker, each shadow's to its own simulated broker (recorded, scored, never executed).

A decision holds (``HoldReason``) while features warm up, when the event is older than
``max_feature_age`` against the engine's clock, or when no strategy can act.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from models.env.execution import Orders
from models.env.replay import VOLATILITY_FEATURE
from models.evaluation.backtest import FeatureRow as FeatureMap
from models.features import FEATURE_NAMES, PAIR_FEATURE_NAMES
from models.marketdata.simulator import REGIMES
from models.strategies import Strategy, build_strategies
from models.streaming.events import EventRejected, MarketEvent, Reason, parse_event
from models.streaming.processor import KeyedProcessor
from serving.decision.audit import AuditTrail, AuditWriteError
from serving.decision.broker import PaperBroker, StepResult, Tick, quote_of
from serving.decision.bundle import ModelBundle
from serving.decision.config import (
    NO_VETO,
    EngineConfig,
    RejectedEvent,
    TransitionSink,
    Verdict,
    VetoNote,
)
from serving.decision.gates import VetoStage, portfolio_view, risk_verdict
from serving.decision.policy import BundlePolicy, Proposal
from serving.decision.records import Action, Decision, HoldReason
from serving.safety.exploration import RiskBudgetGuard
from serving.safety.kill_switch import KillSwitchStore
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import TradingState
from serving.safety.veto import VetoGate

_NAN = math.nan
_FEATURE_INDEX = {name: i for i, name in enumerate((*FEATURE_NAMES, *PAIR_FEATURE_NAMES))}
_PAIR_NANS = [_NAN] * len(PAIR_FEATURE_NAMES)
_VOL_INDEX = FEATURE_NAMES.index(VOLATILITY_FEATURE)
REGIME_CODES = {regime: code for code, regime in enumerate(REGIMES)}
_LOGGED_COLUMNS = ("chosen_arm", "propensity", "reward_bps", "target_propensities", "reward_model_bps")
"""The order of a ``_Role.logged`` row (``serving.lifecycle.comparison.LOGGED_COLUMNS``)."""


@dataclass(slots=True)
class _Role:
    name: str
    policy: BundlePolicy
    broker: PaperBroker
    risk: PreTradeRisk
    decisions: int = 0
    peak_equity: float = 0.0
    agreements: int = 0
    paired_bps: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=100_000))
    recent: deque[Decision] = field(default_factory=lambda: deque(maxlen=10_000))
    logged: deque[tuple[int, float, float, tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=lambda: deque(maxlen=100_000)
    )
    """A shadow's off-policy log against the champion, one row per champion decision that trained the champion's
    bandit: (its arm, that arm's propensity, the reward in bps, this shadow's probability of every arm at the same
    event, the champion bandit's ridge estimate of every arm's reward then)."""
    ope_pending: dict[str, tuple[int, float, tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    """symbol -> the row above without its reward, until the symbol's next event brings it."""


class DecisionEngine:
    """See the module docstring. Thread-safe: one lock orders events, swaps and status reads."""

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
        self.processor = KeyedProcessor(self.config.stream)
        store = None if self.config.kill_switch_file is None else KillSwitchStore(self.config.kill_switch_file)
        self.risk = PreTradeRisk(self.config.risk, store=store, on_halt=lambda _: self._cancel_champion())
        self._champion = _Role("champion", BundlePolicy(champion, self.config.policy), self._broker(), self.risk)
        self._explainer = self._build_explainer(self._champion.policy)
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
        self._shadows: dict[str, _Role] = {}
        self._strategies: dict[str, Sequence[Strategy]] = {}
        self._lock = threading.RLock()
        self._market_ns = 0
        self._last_obs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.rejects: deque[RejectedEvent] = deque(maxlen=self.config.kept_rejects)
        self.reject_counts: dict[str, int] = {}
        self.decisions_generated = 0
        self._check_arms(champion)

    def _build_explainer(self, policy: BundlePolicy) -> Any:
        """SHAP for the actor and exact attributions for the bandit, when configured (imports shap lazily)."""
        config, actor_dir = self.config.explanation, policy.bundle.actor_dir
        if config is None or not config.enabled:
            return None
        if actor_dir is None:
            raise ValueError("explanation: the champion bundle has no actor_dir to explain the actor from")
        from models.bandit import context_layout
        from serving.safety.explain import BACKGROUND_FILE, DecisionExplainer, load_background

        background_file = actor_dir / BACKGROUND_FILE
        background = load_background(background_file) if background_file.is_file() else None
        names, context_names = policy.observations.names, context_layout(policy.arms)
        return DecisionExplainer(actor_dir, policy.bandit, names, context_names, background, config)

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

    # -- the hot path ---------------------------------------------------------------------------------

    def process(self, payload: MarketEvent | Mapping[str, Any] | bytes | str) -> Decision:
        """One event -> the champion's decision (shadows decide too, recorded). Raises ``EventRejected``."""
        started = time.perf_counter_ns()
        with self._lock:
            event, vector = self._accept(payload)
            return self._decide_event(event, vector, started)

    def process_batch(self, payloads: Sequence[Any]) -> list[Decision | EventRejected]:
        """Every event in order; a rejected one gives its ``EventRejected`` in its place, the rest go on."""
        out: list[Decision | EventRejected] = []
        for payload in payloads:
            try:
                out.append(self.process(payload))
            except EventRejected as rejected:
                out.append(rejected)
        return out

    def _accept(self, payload: MarketEvent | Mapping[str, Any] | bytes | str) -> tuple[MarketEvent, np.ndarray]:
        try:
            event = payload if isinstance(payload, MarketEvent) else parse_event(payload, now_ns=time.time_ns())
            if self.config.symbols and event.symbol not in self.config.symbols:
                raise EventRejected(Reason.UNKNOWN_SYMBOL, f"symbol: {event.symbol!r} is not served here")
            rows = self.processor.process_one(event)
            if not rows:
                raise EventRejected(Reason.DUPLICATE, f"event_id: {event.event_id!r} at {event.timestamp_ns} seen")
        except EventRejected as rejected:
            self._reject(payload, rejected)
            raise
        return event, rows[0].vector

    def _reject(self, payload: object, rejected: EventRejected) -> None:
        text = payload.to_json().decode() if isinstance(payload, MarketEvent) else str(payload)[:2_000]
        record = RejectedEvent(time.time_ns(), rejected.reason.value, rejected.detail, text)
        self.rejects.append(record)
        self.reject_counts[record.reason] = self.reject_counts.get(record.reason, 0) + 1
        if self.audit is not None:
            self._audit("reject", record._asdict())

    def _decide_event(self, event: MarketEvent, vector: np.ndarray, started: int) -> Decision:
        symbol = event.symbol
        self._market_ns = max(self._market_ns, event.timestamp_ns)
        tick = Tick(event.timestamp_ns, event.close, event.high, event.low, event.bid, event.ask)
        roles = [self._champion, *self._shadows.values()]
        steps = [role.broker.on_event(symbol, tick) for role in roles]
        for role in roles[1:]:
            _complete_log(role, symbol, steps[0].net_bps)
        for role, step in zip(roles, steps, strict=True):
            role.policy.observe(symbol, step.net_bps)
        if self.feature_sink is not None:
            self.feature_sink(symbol, event.timestamp_ns, vector)
        features = FeatureMap(_FEATURE_INDEX, [*vector.tolist(), *_PAIR_NANS])
        # A quote or trade has no range: the close stands in for both ends, as the feature kernel does.
        high = event.high if event.high == event.high else event.close
        low = event.low if event.low == event.low else event.close
        for role in roles:
            role.policy.track_regime(symbol, vector, high=high, low=low, volume=event.volume)
        targets, active = self._signals(symbol, features)
        if self.vetoes is not None:
            self.vetoes.expire()
            masked = self.vetoes.masked_arms(symbol)
            if masked:
                active = [a and arm not in masked for arm, a in zip(self._champion.policy.arms, active, strict=True)]
        hold = self._hold_reason(event, vector, active)
        # The last decision's transition completes with this event's outcome, before the new decision replaces it.
        self._learn_online(symbol, steps[0], vector, hold)
        snapshot = features_dict(vector)
        decisions = [
            self._decide(role, event, tick, features, vector, snapshot, targets, active, hold, started)
            for role in roles
        ]
        for role, decision in zip(roles[1:], decisions[1:], strict=True):
            self._score_shadow(role, steps[0], step_of(steps, roles, role), decision, decisions[0])
        self._log_for_shadows(symbol, decisions[0], roles[1:])
        self.decisions_generated += 1
        if (
            len(self.risk.events) != self._risk_events_audited
            or len(self.risk.strategy_events) != self._strategy_events_audited
        ):
            self._audit_risk_events()
        return decisions[0]

    def _signals(self, symbol: str, features: FeatureMap) -> tuple[list[float], list[bool]]:
        strategies = self._strategies.get(symbol)
        if strategies is None:
            strategies = self._strategies[symbol] = tuple(self._strategy_factory())
        signals = [s.on_features(features) for s in strategies]
        return [s.target_position for s in signals], [s.active for s in signals]

    def _hold_reason(self, event: MarketEvent, vector: np.ndarray, active: list[bool]) -> HoldReason:
        if not np.isfinite(vector).all():
            return HoldReason.WARMING_UP
        now = time.time_ns() if self.config.clock == "wall" else self._market_ns
        if now - event.timestamp_ns > self.config.max_feature_age // timedelta(microseconds=1) * 1000:
            return HoldReason.STALE_FEATURES
        if not any(active):
            return HoldReason.NO_ACTIVE_STRATEGY
        return HoldReason.NONE

    def _decide(
        self,
        role: _Role,
        event: MarketEvent,
        tick: Tick,
        features: FeatureMap,
        vector: np.ndarray,
        snapshot: Mapping[str, float],
        targets: list[float],
        active: list[bool],
        hold: HoldReason,
        started: int,
    ) -> Decision:
        symbol, broker, policy = event.symbol, role.broker, role.policy
        position, entry_price = broker.position(symbol), broker.entry_price(symbol)
        proposal: Proposal | None = None
        if hold is HoldReason.NONE:
            proposal = policy.propose(
                symbol, features, vector, targets, active, position=position, entry_price=entry_price, close=event.close
            )
        decision_id = f"{symbol}:{event.timestamp_ns}:{event.event_id}:{role.name}"
        bid, ask = quote_of(tick, broker.execution.fallback_half_spread)
        entry_f = proposal.entry_factor if proposal else 0.0
        exit_f = proposal.exit_factor if proposal else 0.0
        wanted = broker.interpreter.interpret((proposal.target if proposal else position, entry_f, exit_f), position)
        strategy = proposal.choice.name if proposal else None
        verdict = self._risk_check(role, event, strategy, wanted, (bid, ask), vector, decision_id)
        orders = broker.interpreter.interpret((verdict.target, entry_f, exit_f), position)
        note = NO_VETO
        if role is self._champion and self.vetoes is not None:
            orders, verdict, note = self._through_gate(
                event, decision_id, proposal, orders, verdict, (bid, ask), vector
            )
        traded = orders.exit_qty + orders.entry_qty
        if note.hold is not None:
            hold = note.hold
        elif hold is HoldReason.NONE and traded == 0.0:
            hold = HoldReason.RISK if verdict.reason else HoldReason.NO_CHANGE
        if traded == 0.0 and proposal is not None:
            policy.forget_pending(symbol)
        decision = Decision(
            decision_id=decision_id,
            symbol=symbol,
            timestamp_ns=event.timestamp_ns,
            action=Action.BUY if traded > 0.0 else Action.SELL if traded < 0.0 else Action.HOLD,
            position_size=position + traded,
            previous_position=position,
            entry_price=broker.execution.limit_price(orders.entry_qty, entry_f, bid, ask) if orders.entry_qty else _NAN,
            exit_price=broker.execution.limit_price(orders.exit_qty, exit_f, bid, ask) if orders.exit_qty else _NAN,
            confidence=proposal.confidence if proposal else 0.0,
            expected_return=proposal.expected_return if proposal else 0.0,
            risk_score=verdict.risk_score,
            strategy=proposal.choice.name if proposal else "",
            regime=(proposal.regime if proposal else policy.last_regime(symbol)).value,
            hold_reason=hold,
            risk_reason=verdict.reason,
            vetoed=note.vetoed,
            veto_reason=note.reason,
            explored=proposal.choice.explored if proposal else False,
            propensity=proposal.choice.propensity if proposal else 1.0,
            role=role.name,
            model_versions=policy.bundle.versions,
            features=snapshot,
            explanation=self._explain(role, proposal),
            latency_us=(time.perf_counter_ns() - started) / 1e3,
        )
        if role is self._champion and self.audit is not None:
            self._audit("decision", decision.to_dict())
        broker.submit(symbol, orders, bid, ask, _volatility(vector))
        if proposal is not None and role is self._champion:
            self._last_obs[symbol] = (proposal.observation, np.array([verdict.target, entry_f, exit_f], np.float32))
            if self.exploration is not None and proposal.choice.explored and traded != 0.0:
                self.exploration.reserve(proposal.choice.name)
        role.decisions += 1
        return decision

    def _risk_check(
        self,
        role: _Role,
        event: MarketEvent,
        strategy: str | None,
        wanted: Orders,
        quote: tuple[float, float],
        vector: np.ndarray,
        decision_id: str,
    ) -> Verdict:
        """``gates.risk_verdict`` on the role's book, against the engine's clock."""
        now = time.time_ns() if self.config.clock == "wall" else self._market_ns
        role.peak_equity = max(role.peak_equity, role.broker.equity())
        portfolio = portfolio_view(role.broker, self.config.capital, role.peak_equity)
        args = (event, strategy, wanted, quote, _volatility(vector), decision_id, now)
        return risk_verdict(role.risk, role.broker, portfolio, *args)

    def _through_gate(
        self,
        event: MarketEvent,
        decision_id: str,
        proposal: Proposal | None,
        orders: Orders,
        verdict: Verdict,
        quote: tuple[float, float],
        vector: np.ndarray,
    ) -> tuple[Orders, Verdict, VetoNote]:
        """The champion's veto stage; an approved decision is risk-checked again at this event's prices."""
        assert self._veto_stage is not None
        role = self._champion

        def recheck(strategy: str, wanted: Orders) -> Verdict:
            return self._risk_check(role, event, strategy, wanted, quote, vector, decision_id)

        versions = dict(role.policy.bundle.versions)
        return self._veto_stage.apply(role.broker, event, decision_id, proposal, orders, verdict, versions, recheck)

    def _cancel_champion(self) -> None:
        self._champion.broker.cancel_all()

    def _explain(self, role: _Role, proposal: Proposal | None) -> dict[str, Any] | None:
        if proposal is None or self._explainer is None or role is not self._champion:
            return None
        explanation: dict[str, Any] | None = self._explainer.explain(
            proposal.observation, proposal.context, proposal.choice.arm, bandit=role.policy.bandit
        )
        if explanation and explanation.get("top_features"):
            top = {f["feature"]: abs(f["attribution"]) for f in explanation["top_features"]}
            self._importance.append({"timestamp_ns": self._market_ns, "importance": top})
        return explanation

    def _audit(self, kind: str, payload: Mapping[str, Any]) -> None:
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

    def _learn_online(self, symbol: str, step: StepResult, vector: np.ndarray, hold: HoldReason) -> None:
        """Hand the champion's last (obs, action) and its shaped reward to online learning."""
        last = self._last_obs.pop(symbol, None)
        if self.transitions is None or last is None or hold in (HoldReason.WARMING_UP, HoldReason.STALE_FEATURES):
            return
        obs, action = last
        broker, cfg, held = self._champion.broker, self.config.reward, abs(step.position)
        volatility = _volatility(vector)
        reward = step.net_bps - cfg.inventory_penalty * held * held - cfg.volatility_penalty * held * volatility
        reward -= cfg.time_decay * held
        next_obs = self._champion.policy.observations.build(
            vector,
            position=step.position,
            entry_price=broker.entry_price(symbol),
            close=broker.last_price(symbol),
            regime=REGIME_CODES[self._champion.policy.last_regime(symbol)],
        )
        self.transitions.observe(obs, action, reward, next_obs, False)

    def _score_shadow(
        self, role: _Role, champion_step: StepResult, step: StepResult, decision: Decision, champion: Decision
    ) -> None:
        role.agreements += int(decision.action is champion.action)
        role.paired_bps.append((champion_step.net_bps, step.net_bps))
        role.recent.append(decision)

    def _log_for_shadows(self, symbol: str, champion: Decision, shadows: list[_Role]) -> None:
        """What off-policy evaluation needs from this event, when its outcome will train the champion's bandit.

        Every policy proposed at this event when the champion did (the hold is shared), so each shadow's
        ``last_choice`` is of this event. The reward model is the champion bandit's ridge estimate, fitted on
        the logged outcomes before this decision only.
        """
        pending = self._champion.policy.pending_choice(symbol)
        if pending is None or not shadows:
            return
        arm, context = pending
        estimates = tuple((self._champion.policy.bandit.theta @ context).tolist())
        for role in shadows:
            choice = role.policy.last_choice.get(symbol)
            if choice is not None:
                role.ope_pending[symbol] = (arm, champion.propensity, choice.propensities, estimates)

    # -- models ---------------------------------------------------------------------------------------

    def swap(self, bundle: ModelBundle) -> None:
        """Hot-swap the champion: the next event decides with ``bundle``; per-symbol state carries over.

        Feature state, strategy state, positions and the broker are untouched; the arm-PnL trackers carry
        over; the regime trackers and the online-learned bandit carry over when their model version is
        unchanged (a new detector or bandit starts from its registered state).
        """
        self._check_arms(bundle)
        policy = BundlePolicy(bundle, self.config.policy)
        explainer = self._build_explainer(policy)
        with self._lock:
            previous = dict(self._champion.policy.bundle.versions)
            policy.adopt(self._champion.policy)
            self._attach(policy)
            self._champion.policy, self._explainer = policy, explainer
            if dict(bundle.versions) != previous:
                for shadow in self._shadows.values():
                    # the pairs and logs compared the shadow with the champion that just left
                    shadow.paired_bps.clear()
                    shadow.logged.clear()
                    shadow.ope_pending.clear()
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
            self._shadows[name] = _Role(name, policy, self._broker(), PreTradeRisk(self.risk.limits))
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
        out = {}
        for name, role in self._shadows.items():
            champion_equity = sum(c for c, _ in role.paired_bps)
            shadow_equity = sum(s for _, s in role.paired_bps)
            out[name] = {
                "versions": dict(role.policy.bundle.versions),
                "decisions": role.decisions,
                "agreement_rate": role.agreements / role.decisions if role.decisions else math.nan,
                "delta_pnl_bps": shadow_equity - champion_equity,
                "shadow_pnl": role.broker.equity(),
                "shadow_positions": {s: p["position"] for s, p in role.broker.positions().items()},
            }
        return out

    def shadow_paired(self, name: str) -> dict[str, Any]:
        """Shadow ``name``'s paired PnL and off-policy log (``serving.lifecycle.comparison`` reads the columns)."""
        with self._lock:
            champion = dict(self._champion.policy.bundle.versions)
            role = self._shadows.get(name)
            if role is None:
                return {"versions": None, "champion_versions": champion, "champion_bps": [], "challenger_bps": []}
            rows = list(role.logged)
            return {
                "versions": dict(role.policy.bundle.versions),
                "champion_versions": champion,
                "champion_bps": [c for c, _ in role.paired_bps],
                "challenger_bps": [s for _, s in role.paired_bps],
                "logged": {
                    "arms": list(self._champion.policy.arms),
                    **{column: [row[i] for row in rows] for i, column in enumerate(_LOGGED_COLUMNS)},
                },
            }

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


def _complete_log(role: _Role, symbol: str, reward_bps: float) -> None:
    """The champion's outcome on ``symbol`` completes the shadow's pending off-policy row."""
    pending = role.ope_pending.pop(symbol, None)
    if pending is not None:
        arm, propensity, target, estimates = pending
        role.logged.append((arm, propensity, reward_bps, target, estimates))


def step_of(steps: list[StepResult], roles: list[_Role], role: _Role) -> StepResult:
    return steps[roles.index(role)]


def features_dict(vector: np.ndarray) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, vector.tolist(), strict=True))


def _volatility(vector: np.ndarray) -> float:
    value = float(vector[_VOL_INDEX])
    return value if value == value else 0.0
