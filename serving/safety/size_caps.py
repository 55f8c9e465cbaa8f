"""The size controls as pure functions: how much of an order fits under each size limit.

Every size limit bounds a measure of the book after the order that has the form ``c + |a + b t|`` in the
fraction ``t`` of the order that goes out (``c`` the part the order does not touch, ``a`` the touched part
now, ``b`` the order's effect). The measure is convex in ``t``, so the fractions that fit form an interval
``[0, t_max]``, and several limits together allow ``min(t_max)``. A limit never forces a trade and never
blocks an order that does not make its measure worse: an order is held to ``max(limit, measure now)``, so
lowering a limit below the book stops the book growing but lets it shrink.

An order that only shrinks its symbol's position (no flip) reduces risk in that symbol and passes the
position, exposure and concentration limits untouched; the net exposure and a strategy's share could
still grow through it, but blocking a reduction to protect them would keep the larger risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from serving.safety.risk_limits import ActiveLimits
from serving.safety.risk_types import DenyReason, OrderRequest, PortfolioView

Cap = tuple[DenyReason, float]


def room(a: float, b: float, c: float, limit: float) -> float:
    """The largest ``t`` in [0, 1] with ``c + |a + b t| <= max(limit, c + |a|)``."""
    bound, now = limit - c, abs(a)
    if now > bound:  # max() spelled out: this runs ~5 times per order
        bound = now
    if abs(a + b) <= bound:
        return 1.0
    fraction = ((bound if b > 0.0 else -bound) - a) / b
    return fraction if fraction > 0.0 else 0.0


def reduces(position: float, delta: float) -> bool:
    """True when ``position + delta`` is on the same side as ``position`` (or flat) and smaller."""
    after = position + delta
    return after == 0.0 or (position * after > 0.0 and abs(after) < abs(position))


def order_caps(order: OrderRequest, limits: ActiveLimits) -> list[Cap]:
    """The per-order limits: quantity and notional."""
    caps: list[Cap] = []
    if (max_qty := limits.max_order_quantity) is not None:
        caps.append((DenyReason.MAX_ORDER_QUANTITY, room(0.0, order.quantity, 0.0, max_qty)))
    if (max_notional := limits.max_order_notional) is not None:
        caps.append((DenyReason.MAX_ORDER_NOTIONAL, room(0.0, order.quantity * order.price, 0.0, max_notional)))
    return caps


def position_caps(order: OrderRequest, position: float, limits: ActiveLimits) -> list[Cap]:
    """The symbol's position limit and the volatility-scaled one."""
    caps: list[Cap] = []
    max_position = limits.max_position
    target = limits.volatility_target
    volatility = order.volatility
    if target is not None and math.isfinite(volatility) and volatility > target:
        # first: never looser than the plain cap, so on a tie the volatility is named as what binds
        scaled = (1.0 if max_position is None else max_position) * target / volatility
        caps.append((DenyReason.VOLATILITY_SIZING, room(position, order.delta, 0.0, scaled)))
    if max_position is not None:
        caps.append((DenyReason.MAX_POSITION, room(position, order.delta, 0.0, max_position)))
    return caps


def _values(
    quantities: Mapping[str, float], prices: Mapping[str, float], symbol: str, mid: float
) -> tuple[float, float, float]:
    """The signed position value of the order's symbol (at the order's reference mid), and the sums of the
    absolute and of the signed values of the other symbols (added in the book's order)."""
    own, gross, net = 0.0, 0.0, 0.0
    for s, q in quantities.items():
        if s == symbol:
            own = q * mid
        else:
            value = q * prices[s]
            gross += abs(value)
            net += value
    return own, gross, net


def exposure_caps(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits) -> list[Cap]:
    """Gross and net exposure over all symbols, and the symbol's concentration."""
    gross, net, share = limits.max_gross_exposure, limits.max_net_exposure, limits.max_symbol_concentration
    if gross is None and net is None and share is None:
        return []
    symbol, mid = order.symbol, order.reference_mid
    own, others_gross, others_net = _values(portfolio.quantities, portfolio.prices, symbol, mid)
    step = order.quantity * mid
    caps: list[Cap] = []
    if gross is not None:
        caps.append((DenyReason.MAX_GROSS_EXPOSURE, room(own, step, others_gross, gross)))
    if net is not None:
        caps.append((DenyReason.MAX_NET_EXPOSURE, room(others_net + own, step, 0.0, net)))
    if share is not None:
        capital = _capital(portfolio)
        caps.append((DenyReason.SYMBOL_CONCENTRATION, room(own / capital, step / capital, 0.0, share)))
    return caps


def strategy_caps(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits) -> list[Cap]:
    """The gross value a strategy opened, as a share of capital."""
    share = limits.max_strategy_concentration
    if share is None:
        return []
    capital = _capital(portfolio)
    held = portfolio.strategy_quantities.get(order.strategy, {})
    own, others, _ = _values(held, portfolio.prices, order.symbol, order.reference_mid)
    step = order.quantity * order.reference_mid
    return [(DenyReason.STRATEGY_CONCENTRATION, room(own / capital, step / capital, others / capital, share))]


def _capital(portfolio: PortfolioView) -> float:
    if not (math.isfinite(portfolio.capital) and portfolio.capital > 0.0):
        raise ValueError(f"capital: a concentration limit needs a positive capital, got {portfolio.capital}")
    return portfolio.capital


def tightest(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits) -> Cap:
    """The fraction of ``order`` that fits every size limit, and the limit that binds (``NONE``: all of it)."""
    position = portfolio.positions.get(order.symbol, 0.0)
    caps = order_caps(order, limits)
    if not reduces(position, order.delta):
        caps += position_caps(order, position, limits)
        caps += exposure_caps(order, portfolio, limits)
        caps += strategy_caps(order, portfolio, limits)
    best: Cap = (DenyReason.NONE, 1.0)
    for reason, fraction in caps:
        if fraction < best[1]:
            best = (reason, fraction)
    return best
