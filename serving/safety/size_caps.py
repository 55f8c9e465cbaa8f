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


def _capital(portfolio: PortfolioView) -> float:
    if not (math.isfinite(portfolio.capital) and portfolio.capital > 0.0):
        raise ValueError(f"capital: a concentration limit needs a positive capital, got {portfolio.capital}")
    return portfolio.capital


def tightest(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits) -> Cap:
    """The fraction of ``order`` that fits every size limit, and the limit that binds (``NONE``: all of it).

    The limits in a fixed order: quantity, notional; then, unless the order only shrinks its position, the
    volatility-scaled position, position, gross and net exposure, symbol and strategy concentration. A later
    limit binds only when strictly tighter, so on a tie the earlier one is named.
    """
    # Every order runs this: each step folds its limits' room into the running tightest, no list of caps built.
    best = _order_room(order, limits, _WHOLE)
    position = portfolio.positions.get(order.symbol, 0.0)
    if reduces(position, order.delta):
        return best
    best = _position_room(order, position, limits, best)
    best = _exposure_room(order, portfolio, limits, best)
    return _strategy_room(order, portfolio, limits, best)


_WHOLE: Cap = (DenyReason.NONE, 1.0)
_NONE_HELD: Mapping[str, float] = {}
"""A strategy that holds nothing (read only)."""


def _order_room(order: OrderRequest, limits: ActiveLimits, best: Cap) -> Cap:
    """The per-order limits: quantity and notional."""
    if (max_qty := limits.max_order_quantity) is not None and (t := room(0.0, order.quantity, 0.0, max_qty)) < best[1]:
        best = (DenyReason.MAX_ORDER_QUANTITY, t)
    notional = limits.max_order_notional
    if notional is not None and (t := room(0.0, order.quantity * order.price, 0.0, notional)) < best[1]:
        best = (DenyReason.MAX_ORDER_NOTIONAL, t)
    return best


def _position_room(order: OrderRequest, position: float, limits: ActiveLimits, best: Cap) -> Cap:
    """The symbol's volatility-scaled position limit, then its plain one."""
    max_position, target, volatility = limits.max_position, limits.volatility_target, order.volatility
    if target is not None and math.isfinite(volatility) and volatility > target:
        # first: never looser than the plain cap, so on a tie the volatility is named as what binds
        scaled = (1.0 if max_position is None else max_position) * target / volatility
        if (t := room(position, order.delta, 0.0, scaled)) < best[1]:
            best = (DenyReason.VOLATILITY_SIZING, t)
    if max_position is not None and (t := room(position, order.delta, 0.0, max_position)) < best[1]:
        best = (DenyReason.MAX_POSITION, t)
    return best


def _exposure_room(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits, best: Cap) -> Cap:
    """Gross and net exposure over all symbols, and the symbol's concentration."""
    gross, net, share = limits.max_gross_exposure, limits.max_net_exposure, limits.max_symbol_concentration
    if gross is None and net is None and share is None:
        return best
    mid = order.reference_mid
    own, others_gross, others_net = _values(portfolio.quantities, portfolio.prices, order.symbol, mid)
    step = order.quantity * mid
    if gross is not None and (t := room(own, step, others_gross, gross)) < best[1]:
        best = (DenyReason.MAX_GROSS_EXPOSURE, t)
    if net is not None and (t := room(others_net + own, step, 0.0, net)) < best[1]:
        best = (DenyReason.MAX_NET_EXPOSURE, t)
    if share is not None:
        capital = _capital(portfolio)
        if (t := room(own / capital, step / capital, 0.0, share)) < best[1]:
            best = (DenyReason.SYMBOL_CONCENTRATION, t)
    return best


def _strategy_room(order: OrderRequest, portfolio: PortfolioView, limits: ActiveLimits, best: Cap) -> Cap:
    """The gross value a strategy opened, as a share of capital."""
    share = limits.max_strategy_concentration
    if share is None:
        return best
    capital = _capital(portfolio)
    held = portfolio.strategy_quantities.get(order.strategy, _NONE_HELD)
    own, others, _ = _values(held, portfolio.prices, order.symbol, order.reference_mid)
    step = order.quantity * order.reference_mid
    if (t := room(own / capital, step / capital, others / capital, share)) < best[1]:
        best = (DenyReason.STRATEGY_CONCENTRATION, t)
    return best
