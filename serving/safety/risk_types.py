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
from types import MappingProxyType
from typing import NamedTuple


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
        if not self.symbol or not self.strategy or not self.idempotency_key:
            raise ValueError("symbol, strategy, idempotency_key: must be non-empty strings")
        if not (math.isfinite(self.delta) and math.isfinite(self.quantity)):
            raise ValueError(f"delta, quantity: must be finite, got {self.delta}, {self.quantity}")
        if (self.delta > 0.0) != (self.quantity > 0.0) or (self.delta < 0.0) != (self.quantity < 0.0):
            raise ValueError(f"delta, quantity: must have the same sign, got {self.delta}, {self.quantity}")
        if not (math.isfinite(self.reference_mid) and self.reference_mid > 0.0):
            raise ValueError(f"reference_mid: must be a positive finite price, got {self.reference_mid}")
        if not (math.isnan(self.limit_price) or (math.isfinite(self.limit_price) and self.limit_price > 0.0)):
            raise ValueError(f"limit_price: must be a positive finite price or NaN, got {self.limit_price}")

    @property
    def side(self) -> str:
        return "BUY" if self.delta > 0.0 else "SELL" if self.delta < 0.0 else "NONE"

    @property
    def price(self) -> float:
        """The price the order's notional is valued at: its limit, or the reference mid for a market order."""
        return self.reference_mid if math.isnan(self.limit_price) else self.limit_price


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, kw_only=True, slots=True)
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", _frozen(self.positions))
        object.__setattr__(self, "quantities", _frozen(self.quantities))
        object.__setattr__(self, "prices", _frozen(self.prices))
        by_strategy = {name: _frozen(held) for name, held in self.strategy_quantities.items()}
        object.__setattr__(self, "strategy_quantities", MappingProxyType(by_strategy))
        held = set(self.quantities).union(*(set(q) for q in self.strategy_quantities.values()))
        unpriced = sorted(s for s in held if not (math.isfinite(self.prices.get(s, math.nan)) and self.prices[s] > 0))
        if unpriced:
            raise ValueError(f"prices: a positive finite price is needed for every symbol held, missing {unpriced}")
        if not all(math.isfinite(v) for v in (self.daily_pnl, self.equity, self.peak_equity)):
            raise ValueError("daily_pnl, equity, peak_equity: must be finite")

    @property
    def drawdown(self) -> float:
        return max(0.0, self.peak_equity - self.equity)

    @property
    def daily_loss(self) -> float:
        return max(0.0, -self.daily_pnl)


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
