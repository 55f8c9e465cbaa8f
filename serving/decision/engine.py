"""The DecisionEngine: one object from market event to executed, audited decision.

    event -> validate -> streaming features (per symbol) -> regime -> bandit picks a strategy
          -> the strategy's signal -> actor sizes it -> risk controls -> Decision -> audit -> broker

Backtests, paper trading, the Ray Serve deployment and the Python API all call ``process`` on this
object, so the same events give the same decisions whichever door they came in by.
This module is that event path; the engine's state and everything else done to it (hot-swap, shadows,
limits, kill switch, status) are ``serving.decision.controls.EngineControls``, its base class.

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
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from models.env.execution import Orders
from models.env.replay import VOLATILITY_FEATURE
from models.features import FEATURE_NAMES, PAIR_FEATURE_NAMES
from models.strategies import SignalBank
from models.streaming.events import EventRejected, MarketEvent, Reason, parse_event
from serving.decision.audit import Encoded
from serving.decision.broker import StepResult, Tick, quote_of
from serving.decision.config import NO_VETO, EngineConfig, RejectedEvent, Verdict, VetoNote
from serving.decision.controls import EngineControls
from serving.decision.gates import portfolio_view, risk_verdict, settled_verdict
from serving.decision.observers import shaped_transition
from serving.decision.policy import Proposal
from serving.decision.records import Action, Decision, HoldReason
from serving.decision.roles import Role, complete_log, log_for_shadows, score_shadow

__all__ = ["DecisionEngine", "EngineConfig"]

Interpret = Callable[[tuple[float, float, float], float], Orders]

_NAN = math.nan
_PAIR_NANS = dict.fromkeys(PAIR_FEATURE_NAMES, _NAN)
"""One symbol has no pair: its pair features are undefined (the pairs arm stays inactive)."""
_VOL_INDEX = FEATURE_NAMES.index(VOLATILITY_FEATURE)
_UNSETTLED = (HoldReason.WARMING_UP, HoldReason.STALE_FEATURES)


class DecisionEngine(EngineControls):
    """See the module docstring. Thread-safe: one lock orders events, swaps and status reads."""

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
        # The hot path (every event). Without shadows, the common case, the champion alone runs through the same
        # stages in the same order without the per-event role lists, zips and tuples the shadow path needs.
        timestamp_ns = event.timestamp_ns
        if timestamp_ns > self._market_ns:
            self._market_ns = timestamp_ns
        tick = Tick(timestamp_ns, event.close, event.high, event.low, event.bid, event.ask)
        champion = self._champion
        if self._shadows:
            decision = self._decide_with_shadows(event, vector, tick, started)
        else:
            symbol = event.symbol
            step = champion.broker.on_event(symbol, tick)
            champion.policy.observe(symbol, step.net_bps)
            inputs = self._inputs(event, vector, step, (champion,))
            decision = self._decide(champion, event, tick, *inputs, started)
        self.decisions_generated += 1
        risk = self.risk
        if len(risk.events) != self._risk_events_audited or len(risk.strategy_events) != self._strategy_events_audited:
            self._audit_risk_events()
        return decision

    def _decide_with_shadows(self, event: MarketEvent, vector: np.ndarray, tick: Tick, started: int) -> Decision:
        """The champion and every shadow on one event; the shadows are scored against the champion."""
        symbol = event.symbol
        shadows = list(self._shadows.values())
        roles = [self._champion, *shadows]
        steps = [role.broker.on_event(symbol, tick) for role in roles]
        for role in shadows:
            complete_log(role, symbol, steps[0].net_bps)
        for role, step in zip(roles, steps, strict=True):
            role.policy.observe(symbol, step.net_bps)
        inputs = self._inputs(event, vector, steps[0], roles)
        decisions = [self._decide(role, event, tick, *inputs, started) for role in roles]
        for role, step, decision in zip(shadows, steps[1:], decisions[1:], strict=True):
            score_shadow(role, steps[0], step, decision, decisions[0])
        log_for_shadows(self._champion, symbol, decisions[0], shadows)
        return decisions[0]

    def _inputs(
        self, event: MarketEvent, vector: np.ndarray, step: StepResult, roles: Sequence[Role]
    ) -> tuple[dict[str, float], np.ndarray, float, dict[str, float], list[float], list[bool], HoldReason]:
        """What every role decides on: (features, vector, volatility, snapshot, targets, active, hold).

        Folds the event into each role's regime tracker and the strategies, and completes the champion's last
        transition (``step``: the champion's outcome on this event).
        """
        symbol = event.symbol
        if self.feature_sink is not None:
            self.feature_sink(symbol, event.timestamp_ns, vector)
        values = vector.tolist()
        snapshot = dict(zip(FEATURE_NAMES, values, strict=True))
        # a plain dict: the strategies' and the context's reads are C lookups, absent keys no exceptions
        features = snapshot | _PAIR_NANS
        # A quote or trade has no range: the close stands in for both ends, as the feature kernel does.
        close, high, low = event.close, event.high, event.low
        high = high if high == high else close
        low = low if low == low else close
        volume = event.volume
        for role in roles:
            role.policy.track_regime(symbol, vector, high=high, low=low, volume=volume)
        targets, active = self._signals(symbol, features, vector)
        if self.vetoes is not None:
            self.vetoes.expire()
            masked = self.vetoes.masked_arms(symbol)
            if masked:
                active = [a and arm not in masked for arm, a in zip(self._champion.policy.arms, active, strict=True)]
        hold = self._hold_reason(event, values, active)
        volatility = values[_VOL_INDEX]
        if volatility != volatility:
            volatility = 0.0
        # The last decision's transition completes with this event's outcome, before the new decision replaces it.
        self._learn_online(symbol, step, vector, volatility, hold)
        return features, vector, volatility, snapshot, targets, active, hold

    def _signals(
        self, symbol: str, features: Mapping[str, float], vector: np.ndarray
    ) -> tuple[list[float], list[bool]]:
        bank = self._strategies.get(symbol)
        if bank is None:
            # every arm's rule in one compiled call over the vector; an arm it cannot run reads ``features``
            bank = self._strategies[symbol] = SignalBank(self._strategy_factory(), FEATURE_NAMES, PAIR_FEATURE_NAMES)
        return bank.step(vector, features)

    def _hold_reason(self, event: MarketEvent, values: list[float], active: list[bool]) -> HoldReason:
        # A finite sum means every value is finite; only otherwise (a NaN, or an overflow) are they checked one by one.
        if not (math.isfinite(sum(values)) or all(map(math.isfinite, values))):
            return HoldReason.WARMING_UP
        now = time.time_ns() if self.config.clock == "wall" else self._market_ns
        if now - event.timestamp_ns > self._max_age_ns:
            return HoldReason.STALE_FEATURES
        if not any(active):
            return HoldReason.NO_ACTIVE_STRATEGY
        return HoldReason.NONE

    def _decide(
        self,
        role: Role,
        event: MarketEvent,
        tick: Tick,
        features: Mapping[str, float],
        vector: np.ndarray,
        volatility: float,
        snapshot: Mapping[str, float],
        targets: list[float],
        active: list[bool],
        hold: HoldReason,
        started: int,
    ) -> Decision:
        # The hot path (every event, every role): written out flat, the proposal's fields read once.
        symbol, broker, policy = event.symbol, role.broker, role.policy
        champion = role is self._champion
        position, entry_price = broker.holding(symbol)
        interpret = broker.interpreter.interpret
        decision_id = f"{symbol}:{event.timestamp_ns}:{event.event_id}:{role.name}"
        bid, ask = quote_of(tick, broker.execution.fallback_half_spread)
        proposal: Proposal | None = None
        if hold is HoldReason.NONE:
            proposal = policy.propose(
                symbol, features, vector, targets, active, position=position, entry_price=entry_price, close=event.close
            )
        wanted, strategy, entry_f, exit_f = _wanted(proposal, position, interpret)
        verdict = self._risk_check(role, event, strategy, wanted, (bid, ask), volatility, decision_id)
        orders = _orders_for(verdict.target, wanted, position, entry_f, exit_f, interpret)
        note = NO_VETO
        if champion and self.vetoes is not None:
            orders, verdict, note = self._through_gate(
                event, decision_id, proposal, orders, verdict, (bid, ask), volatility
            )
        exit_qty, entry_qty = orders.exit_qty, orders.entry_qty
        traded = exit_qty + entry_qty
        if note.hold is not None:
            hold = note.hold
        elif hold is HoldReason.NONE and traded == 0.0:
            hold = HoldReason.RISK if verdict.reason else HoldReason.NO_CHANGE
        execution = broker.execution
        if proposal is None:
            confidence = expected_return = 0.0
            strategy_name, regime, explored, propensity = "", policy.last_regime(symbol).value, False, 1.0
            explanation = None
        else:
            if traded == 0.0:
                policy.forget_pending(symbol)
            choice = proposal.choice
            confidence, expected_return = proposal.confidence, proposal.expected_return
            strategy_name, regime, explored, propensity = (
                choice.name,
                proposal.regime.value,
                choice.explored,
                choice.propensity,
            )
            explanation = self._explain(role, proposal)
        decision = Decision(
            decision_id=decision_id,
            symbol=symbol,
            timestamp_ns=event.timestamp_ns,
            action=Action.BUY if traded > 0.0 else Action.SELL if traded < 0.0 else Action.HOLD,
            position_size=position + traded,
            previous_position=position,
            entry_price=execution.limit_price(entry_qty, entry_f, bid, ask) if entry_qty else _NAN,
            exit_price=execution.limit_price(exit_qty, exit_f, bid, ask) if exit_qty else _NAN,
            confidence=confidence,
            expected_return=expected_return,
            risk_score=verdict.risk_score,
            strategy=strategy_name,
            regime=regime,
            hold_reason=hold,
            risk_reason=verdict.reason,
            vetoed=note.vetoed,
            veto_reason=note.reason,
            explored=explored,
            propensity=propensity,
            role=role.name,
            model_versions=policy.bundle.versions,
            features=snapshot,
            explanation=explanation,
            latency_us=(time.perf_counter_ns() - started) / 1e3,
        )
        if champion and self.audit is not None:
            text = decision.canonical_json()
            self._audit("decision", decision.to_dict() if text is None else Encoded(text))
        broker.submit(symbol, orders, bid, ask, volatility)
        if proposal is not None and champion:
            # the action as floats: the array is built only when online learning takes the transition
            self._last_obs[symbol] = (proposal.observation, (verdict.target, entry_f, exit_f))
            if explored and traded != 0.0 and self.exploration is not None:
                self.exploration.reserve(strategy_name)
        role.decisions += 1
        return decision

    def _risk_check(
        self,
        role: Role,
        event: MarketEvent,
        strategy: str | None,
        wanted: Orders,
        quote: tuple[float, float],
        volatility: float,
        decision_id: str,
    ) -> Verdict:
        """``gates.risk_verdict`` on the role's book, against the engine's clock.

        Without an order (no strategy, or no change: most events) the controls only move the state on the
        loss limits, so they get the book's money alone (``gates.settled_verdict``), not a view of the book.
        """
        now = time.time_ns() if self.config.clock == "wall" else self._market_ns
        broker = role.broker
        equity = broker.equity()
        if equity > role.peak_equity:  # max(peak, equity), spelled out: every event, every role
            role.peak_equity = equity
        peak = role.peak_equity
        if strategy is None or wanted.exit_qty + wanted.entry_qty == 0.0:
            position = broker.position(event.symbol)
            return settled_verdict(role.risk, position, broker.daily_pnl(equity), equity, peak, now)
        portfolio = portfolio_view(broker, self.config.capital, peak, equity)
        return risk_verdict(role.risk, broker, portfolio, event, strategy, wanted, quote, volatility, decision_id, now)

    def _through_gate(
        self,
        event: MarketEvent,
        decision_id: str,
        proposal: Proposal | None,
        orders: Orders,
        verdict: Verdict,
        quote: tuple[float, float],
        volatility: float,
    ) -> tuple[Orders, Verdict, VetoNote]:
        """The champion's veto stage; an approved decision is risk-checked again at this event's prices."""
        assert self._veto_stage is not None
        role = self._champion

        def recheck(strategy: str, wanted: Orders) -> Verdict:
            return self._risk_check(role, event, strategy, wanted, quote, volatility, decision_id)

        versions = dict(role.policy.bundle.versions)
        return self._veto_stage.apply(role.broker, event, decision_id, proposal, orders, verdict, versions, recheck)

    def _explain(self, role: Role, proposal: Proposal | None) -> dict[str, Any] | None:
        if proposal is None or self._explainer is None or role is not self._champion:
            return None
        explanation: dict[str, Any] | None = self._explainer.explain(
            proposal.observation, proposal.context, proposal.choice.arm, bandit=role.policy.bandit
        )
        if explanation and explanation.get("top_features"):
            top = {f["feature"]: abs(f["attribution"]) for f in explanation["top_features"]}
            self._importance.append({"timestamp_ns": self._market_ns, "importance": top})
        return explanation

    def _learn_online(
        self, symbol: str, step: StepResult, vector: np.ndarray, volatility: float, hold: HoldReason
    ) -> None:
        """Hand the champion's last (obs, action) and its shaped reward to online learning."""
        last = self._last_obs.pop(symbol, None)
        if self.transitions is None or last is None or hold in _UNSETTLED:
            return
        champion = self._champion
        reward, next_obs = shaped_transition(
            champion.policy, champion.broker, self.config.reward, symbol, step, vector, volatility
        )
        self.transitions.observe(last[0], np.array(last[1], np.float32), reward, next_obs, False)


def _wanted(
    proposal: Proposal | None, position: float, interpret: Interpret
) -> tuple[Orders, str | None, float, float]:
    """(the proposal's orders, its strategy, entry factor, exit factor); without a proposal, keep the position."""
    if proposal is None:
        return interpret((position, 0.0, 0.0), position), None, 0.0, 0.0
    entry_f, exit_f = proposal.entry_factor, proposal.exit_factor
    return interpret((proposal.target, entry_f, exit_f), position), proposal.choice.name, entry_f, exit_f


def _orders_for(
    target: float, wanted: Orders, position: float, entry_f: float, exit_f: float, interpret: Interpret
) -> Orders:
    """``interpret((target, entry_f, exit_f), position)``: the legs that move ``position`` to the verdict's target.

    ``interpret`` is pure, so the two common outcomes skip it: the controls let ``wanted`` through unchanged
    (the same target gives the same legs), or they kept the position (no legs, the factors as clipped in
    ``wanted``; a broker's position always lies in [-1, 1], the clip leaves it as it is).
    """
    if target == wanted.target:
        return wanted
    if target == position and -1.0 <= position <= 1.0:
        return Orders(position, 0.0, wanted.exit_factor, 0.0, wanted.entry_factor)
    return interpret((target, entry_f, exit_f), position)
