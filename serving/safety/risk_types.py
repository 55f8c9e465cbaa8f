"""The records of the pre-trade risk monitor: what is asked (an order), what is known (the portfolio), what is answered.

Units, one per quantity, as on the decision path (``serving.decision.broker``):

- ``delta`` and positions: fractions of a symbol's full position (1.0 = ``max_notional`` at its first price);
- ``quantity``: asset units, ``delta`` times the symbol's unit quantity;
- prices, notionals, PnL, equity, capital: quote currency;
- times: integer nanoseconds since the epoch (event time for the order, the engine's clock for ``now_ns``).

Every record is immutable, so a decision and the state changes it caused can be replayed and audited.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from math import isfinite
from types import MappingProxyType
from typing import Any, NamedTuple

_NAN, _INF = math.nan, math.inf
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_set = object.__setattr__
"""Sets a field of a frozen record (what the generated ``__init__`` of a frozen dataclass does)."""


class TradingState(StrEnum):
    """nautilus_trader's trading states."""

    ACTIVE = "ACTIVE"
    """Every order goes through the controls."""
    REDUCING = "REDUCING"
    """Only orders that bring a position towards zero pass (a flip is cut to flat)."""
    HALTED = "HALTED"
    """No order passes; cancels are never checked, so they always go out."""


class DenyReason(StrEnum):
    """Why an order was denied or cut; ``NONE`` when it passed unchanged."""

    NONE = ""
    HALTED = "halted"
    REDUCING_ONLY = "reducing_only"
    EMPTY_ORDER = "empty_order"
    STRATEGY_DISABLED = "strategy_disabled"
    DUPLICATE_ORDER = "duplicate_order"
    STALE_MARKET_DATA = "stale_market_data"
    PRICE_COLLAR = "price_collar"
    PRICE_DRIFT = "price_drift"
    MAX_ORDER_QUANTITY = "max_order_quantity"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    VOLATILITY_SIZING = "volatility_sizing"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_NET_EXPOSURE = "max_net_exposure"
    SYMBOL_CONCENTRATION = "symbol_concentration"
    STRATEGY_CONCENTRATION = "strategy_concentration"
    REPEATED_EXECUTION = "repeated_execution"
    ORDER_RATE = "order_rate"


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRequest:
    """One new order as the engine would send it (cancels never come here: they always pass)."""

    symbol: str
    strategy: str
    """The strategy (bandit arm) the order comes from: concentration and the repeated-execution throttle."""
    delta: float
    """Signed change of the symbol's position, fractions of a full position (> 0 buys)."""
    quantity: float
    """The same change in asset units (same sign as ``delta``)."""
    limit_price: float
    """The order's limit price; NaN for a market order (the collar then has nothing to check)."""
    reference_mid: float
    """The mid the order was priced against; prices the symbol's exposure."""
    timestamp_ns: int
    """Event time of the decision that sent the order."""
    market_data_ns: int
    """Time of the newest market data behind ``reference_mid`` (the stale-data control)."""
    idempotency_key: str
    """Unique per intended order: a retry with the same key is a duplicate."""
    volatility: float = 0.0
    """Per-event volatility (the engine's feature) for volatility-scaled sizing; 0 or NaN: unknown, no scaling."""

    def __post_init__(self) -> None:
        # Plain comparisons (``0 < x < inf``: positive and finite, False for NaN): one order is built per decision.
        if not self.symbol or not self.strategy or not self.idempotency_key:
            raise ValueError("symbol, strategy, idempotency_key: must be non-empty strings")
        delta, quantity = self.delta, self.quantity
        if not (isfinite(delta) and isfinite(quantity)):
            raise ValueError(f"delta, quantity: must be finite, got {delta}, {quantity}")
        if (delta > 0.0) != (quantity > 0.0) or (delta < 0.0) != (quantity < 0.0):
            raise ValueError(f"delta, quantity: must have the same sign, got {delta}, {quantity}")
        if not 0.0 < self.reference_mid < _INF:
            raise ValueError(f"reference_mid: must be a positive finite price, got {self.reference_mid}")
        limit = self.limit_price
        if not (limit != limit or 0.0 < limit < _INF):
            raise ValueError(f"limit_price: must be a positive finite price or NaN, got {limit}")

    @property
    def side(self) -> str:
        return "BUY" if self.delta > 0.0 else "SELL" if self.delta < 0.0 else "NONE"

    @property
    def price(self) -> float:
        """The price the order's notional is valued at: its limit, or the reference mid for a market order."""
        limit = self.limit_price
        return self.reference_mid if limit != limit else limit


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, init=False)
class PortfolioView:
    """What the controls know of the book when an order is checked (a snapshot, read only)."""

    positions: Mapping[str, float] = field(default_factory=dict)
    """Position per symbol, fractions of a full position."""
    quantities: Mapping[str, float] = field(default_factory=dict)
    """Position per symbol, signed asset units (the exposures)."""
    prices: Mapping[str, float] = field(default_factory=dict)
    """Mark price per symbol; every symbol held (by the book or a strategy) needs one."""
    strategy_quantities: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Signed asset units per strategy, per symbol: the part of each position a strategy opened."""
    capital: float = math.nan
    """Account capital (quote currency): what concentration is a fraction of; needed only by those limits."""
    daily_pnl: float = 0.0
    """PnL since the start of the UTC day, all symbols."""
    equity: float = 0.0
    peak_equity: float = 0.0
    """The highest ``equity`` seen: the drawdown is ``peak_equity - equity``."""

    def __init__(
        self,
        *,
        positions: Mapping[str, float] = _EMPTY,
        quantities: Mapping[str, float] = _EMPTY,
        prices: Mapping[str, float] = _EMPTY,
        strategy_quantities: Mapping[str, Mapping[str, float]] = _EMPTY,
        capital: float = math.nan,
        daily_pnl: float = 0.0,
        equity: float = 0.0,
        peak_equity: float = 0.0,
    ) -> None:
        """Copy the mappings (read-only from here on) and check the book is priced and its money finite.

        Written out rather than generated: the engine builds one view per event, and the generated frozen
        ``__init__`` plus a ``__post_init__`` that set every mapping twice cost ~7 us of the decision path.
        """
        positions, quantities, held_prices = dict(positions), dict(quantities), dict(prices)
        by_strategy = {name: _frozen(held) for name, held in strategy_quantities.items()}
        strategies_priced = not by_strategy or all(_priced(held, held_prices) for held in by_strategy.values())
        if not (_priced(quantities, held_prices) and strategies_priced):
            raise ValueError(
                "prices: a positive finite price is needed for every symbol held, "
                f"missing {_unpriced(quantities, by_strategy, held_prices)}"
            )
        if not (isfinite(daily_pnl) and isfinite(equity) and isfinite(peak_equity)):
            raise ValueError("daily_pnl, equity, peak_equity: must be finite")
        _set(self, "positions", MappingProxyType(positions))
        _set(self, "quantities", MappingProxyType(quantities))
        _set(self, "prices", MappingProxyType(held_prices))
        _set(self, "strategy_quantities", MappingProxyType(by_strategy))
        _set(self, "capital", capital)
        _set(self, "daily_pnl", daily_pnl)
        _set(self, "equity", equity)
        _set(self, "peak_equity", peak_equity)

    @property
    def drawdown(self) -> float:
        drawdown = self.peak_equity - self.equity
        return drawdown if drawdown > 0.0 else 0.0

    @property
    def daily_loss(self) -> float:
        pnl = self.daily_pnl
        return -pnl if pnl < 0.0 else 0.0


def _priced(held: Mapping[str, float], prices: Mapping[str, float]) -> bool:
    """Every symbol of ``held`` has a positive finite price (a plain loop: the book holds one or a few)."""
    for symbol in held:  # noqa: SIM110 - all() over a generator costs more than the loop here
        if not 0.0 < prices.get(symbol, _NAN) < _INF:
            return False
    return True


def _unpriced(
    quantities: Mapping[str, float], by_strategy: Mapping[str, Mapping[str, float]], prices: Mapping[str, float]
) -> list[str]:
    """The held symbols without a positive finite price, sorted (the error message's list)."""
    held = set(quantities).union(*(set(q) for q in by_strategy.values()))
    return sorted(s for s in held if not 0.0 < prices.get(s, _NAN) < _INF)


class RiskDecision(NamedTuple):
    """The controls' answer to one order."""

    allowed: bool
    delta: float
    """The change let through, fractions of a full position (0 when denied)."""
    quantity: float
    """The same in asset units."""
    reason: DenyReason
    """The denial's code; for an allowed order, the control that cut it (``NONE``: passed unchanged)."""
    state: TradingState
    """The trading state the order was checked in."""
    risk_score: float
    """Use of the tightest position or loss limit after the order, in [0, 1] (1 when halted)."""


class StateChange(NamedTuple):
    """One change of trading state, with its cause: the audit trail of the state machine."""

    timestamp_ns: int
    previous: TradingState
    state: TradingState
    cause: str
    by: str
    """Who: a person's name, ``cli``, ``api``, or ``risk-monitor`` for an automatic change."""


class StrategyChange(NamedTuple):
    """A strategy disabled by the repeated-execution throttle, or re-enabled by a person."""

    timestamp_ns: int
    strategy: str
    enabled: bool
    cause: str
    by: str
