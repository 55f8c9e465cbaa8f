"""Between a proposal and the broker: the pre-trade risk controls, then the veto gate.

Both stages take and return plain values (``Orders``, ``Verdict``, ``VetoNote``) so the engine's decision
step reads top to bottom: propose -> ``risk_verdict`` -> ``VetoStage.apply`` -> decision -> broker.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite

from models.env.execution import Orders
from models.streaming.events import MarketEvent
from serving.decision.broker import PaperBroker
from serving.decision.config import NO_VETO, Verdict, VetoNote
from serving.decision.policy import Proposal
from serving.decision.records import HoldReason
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import DenyReason, OrderRequest, PortfolioView, TradingState
from serving.safety.veto import VetoGate, VetoOutcome, VetoRequest

Recheck = Callable[[str, Orders], Verdict]
"""Risk-check ``Orders`` for a strategy again (an approved held decision, at the current prices)."""


def portfolio_view(broker: PaperBroker, capital: float, peak_equity: float, equity: float) -> PortfolioView:
    """The book as the controls see it (``peak_equity``: the running maximum the caller keeps; ``equity``: now)."""
    positions, quantities, prices = broker.marks()
    return PortfolioView(
        positions=positions,
        quantities=quantities,
        prices=prices,
        capital=capital,
        daily_pnl=broker.daily_pnl(equity),
        equity=equity,
        peak_equity=peak_equity,
    )


def risk_verdict(
    risk: PreTradeRisk,
    broker: PaperBroker,
    portfolio: PortfolioView,
    event: MarketEvent,
    strategy: str | None,
    wanted: Orders,
    quote: tuple[float, float],
    volatility: float,
    decision_id: str,
    now_ns: int,
) -> Verdict:
    """The target the pre-trade controls let through, why it was cut or denied, and the risk score.

    Without an order (no strategy, or no change) the controls still see the book: loss limits move the state.
    """
    position = broker.position(event.symbol)
    delta = wanted.exit_qty + wanted.entry_qty
    if strategy is None or delta == 0.0:
        return settled_verdict(risk, position, portfolio.daily_pnl, portfolio.equity, portfolio.peak_equity, now_ns)
    bid, ask = quote
    entering = wanted.entry_qty != 0.0
    leg = wanted.entry_qty if entering else wanted.exit_qty
    factor = wanted.entry_factor if entering else wanted.exit_factor
    order = OrderRequest(
        symbol=event.symbol,
        strategy=strategy,
        delta=delta,
        quantity=delta * broker.unit_quantity(event.symbol),
        limit_price=broker.execution.limit_price(leg, factor, bid, ask),
        reference_mid=0.5 * (bid + ask),
        timestamp_ns=event.timestamp_ns,
        market_data_ns=event.timestamp_ns,
        idempotency_key=decision_id,
        volatility=volatility,
    )
    decision = risk.check(order, portfolio, now_ns)
    reason = "" if decision.reason is DenyReason.NONE else decision.reason.value
    return Verdict(position + decision.delta, reason, decision.risk_score)


def settled_verdict(
    risk: PreTradeRisk, position: float, daily_pnl: float, equity: float, peak_equity: float, now_ns: int
) -> Verdict:
    """No order (no strategy, or no change): the position stays, and the loss limits see the book's money.

    The engine's call on most events: the amounts ``PortfolioView`` would give (``daily_loss``, ``drawdown``),
    without building one; its check that the money is finite is kept.
    """
    if not (isfinite(daily_pnl) and isfinite(equity) and isfinite(peak_equity)):
        raise ValueError("daily_pnl, equity, peak_equity: must be finite")
    drawdown = peak_equity - equity
    state = risk.settle(-daily_pnl if daily_pnl < 0.0 else 0.0, drawdown if drawdown > 0.0 else 0.0, now_ns)
    return Verdict(position, "halted" if state is TradingState.HALTED else "", position_score(position, risk.limits))


def position_score(position: float, limits: RiskLimits) -> float:
    cap = limits.max_position
    return min(1.0, abs(position) / cap) if cap else min(1.0, abs(position))


class VetoStage:
    """The champion's veto gate: hold what a rule catches; execute it, re-checked, once a person approves."""

    def __init__(self, gate: VetoGate) -> None:
        self.gate = gate
        self.held: dict[str, tuple[str, float, float, float, str]] = {}
        """symbol -> (veto_id, target, entry_factor, exit_factor, strategy) of the decision held for a person."""

    def apply(
        self,
        broker: PaperBroker,
        event: MarketEvent,
        decision_id: str,
        proposal: Proposal | None,
        orders: Orders,
        verdict: Verdict,
        versions: dict[str, str],
        recheck: Recheck,
    ) -> tuple[Orders, Verdict, VetoNote]:
        symbol = event.symbol
        position = broker.position(symbol)
        nothing = broker.interpreter.interpret((position, 0.0, 0.0), position)
        if symbol in self.held:
            return self._resolve(broker, symbol, position, nothing, verdict, recheck)
        if proposal is None or orders.exit_qty + orders.entry_qty == 0.0:
            return orders, verdict, NO_VETO
        target = position + orders.exit_qty + orders.entry_qty
        veto = self.gate.review(
            VetoRequest(
                decision_id=decision_id,
                symbol=symbol,
                strategy=proposal.choice.name,
                previous_position=position,
                position_size=target,
                confidence=proposal.confidence,
                explored=proposal.choice.explored,
                propensity=proposal.choice.propensity,
                regime=proposal.regime.value,
                model_versions=versions,
            )
        )
        if veto is None:
            return orders, verdict, NO_VETO
        self.held[symbol] = (veto.veto_id, target, proposal.entry_factor, proposal.exit_factor, proposal.choice.name)
        rules = ",".join(t.rule.value for t in veto.triggers)
        return nothing, verdict, VetoNote(HoldReason.PENDING_VETO, False, f"pending {veto.veto_id}: {rules}")

    def _resolve(
        self, broker: PaperBroker, symbol: str, position: float, nothing: Orders, verdict: Verdict, recheck: Recheck
    ) -> tuple[Orders, Verdict, VetoNote]:
        veto_id, target, entry_f, exit_f, strategy = self.held[symbol]
        resolution = self.gate.resolution(veto_id)
        if resolution is None:
            return nothing, verdict, VetoNote(HoldReason.PENDING_VETO, False, f"pending {veto_id}")
        del self.held[symbol]
        who = f"{resolution.outcome.value} {veto_id} by {resolution.by}: {resolution.reason}"
        if resolution.outcome is not VetoOutcome.APPROVED:
            return nothing, verdict, VetoNote(HoldReason.VETOED, True, who)
        verdict = recheck(strategy, broker.interpreter.interpret((target, entry_f, exit_f), position))
        orders = broker.interpreter.interpret((verdict.target, entry_f, exit_f), position)
        return orders, verdict, VetoNote(None, False, who)
