"""The paper broker: simulated fills with fees, spread and slippage; positions, cash, PnL per symbol.

One cost model for the whole platform: the fill and PnL arithmetic is the trading env's
(``models.env.execution`` and ``models.env.reward``), in quote currency instead of reward units. An
order decided at an event is a pair of limit legs priced inside that event's spread; it is worked
against the symbol's next event and then cancelled, filled or not (the env's one-bar order life):

- a buy leg fills when its limit reaches the next event's low, a sell leg when it reaches the high;
  an event without a range (a quote or a trade) uses its ask (buys) or bid (sells) when quoted, else
  its price: a resting limit fills only when the market comes through it;
- the fill price is the limit moved against the order by slippage (size and volatility), and pays
  ``fee_bps`` on the notional;
- PnL is marked to each event's close: ``pnl = p0 (c1 - c0) + traded (c1 - mid)`` and the cost of a leg
  is ``qty (price - mid) + fee`` (so spread, slippage and fees are all costs), exactly the env's terms.

Positions are fractions of the maximum position; a symbol's maximum quantity is ``max_notional``
divided by its first price, fixed from then on (the env's unit: one maximum notional at the first close).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from models.env.config import ExecutionConfig
from models.env.execution import NO_FILL, ActionInterpreter, ExecutionModel, Orders

_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokerConfig:
    """Costs (the env's ``ExecutionConfig``) and the size of a full position."""

    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    max_notional: float = 100_000.0
    """Quote-currency value of a full (1.0) position at the symbol's first price."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_notional) and self.max_notional > 0.0):
            raise ValueError(f"max_notional: must be a positive finite number, got {self.max_notional}")


class Tick(NamedTuple):
    """What the broker reads of an event: its prices (NaN when absent)."""

    timestamp_ns: int
    close: float
    high: float
    low: float
    bid: float
    ask: float


class StepResult(NamedTuple):
    """The symbol's working order worked against one event and its position marked to the event's close."""

    position: float
    filled: float
    pnl: float
    """Mark-to-market PnL over the step, quote currency, before costs."""
    cost: float
    """Spread crossed, slippage and fees of the fills in this step, quote currency."""
    net_bps: float
    """``pnl - cost`` in bps of the symbol's maximum notional: the bandit's reward unit."""


@dataclass(slots=True)
class _Book:
    unit_qty: float
    notional: float
    position: float = 0.0
    entry_price: float = 0.0
    last_close: float = math.nan
    realized_cost: float = 0.0
    pnl: float = 0.0
    working: tuple[Orders, float, float, float] | None = None
    """(orders, bid, ask, volatility) at the decision that sent them."""
    fills: int = 0


def quote_of(tick: Tick, fallback_half_spread: float) -> tuple[float, float]:
    """The event's bid and ask when sane, else ``fallback_spread_bps`` around its close (the env's rule)."""
    bid, ask = tick.bid, tick.ask
    if bid == bid and ask == ask and 0.0 < bid <= ask:
        return bid, ask
    return tick.close * (1.0 - fallback_half_spread), tick.close * (1.0 + fallback_half_spread)


def _range(tick: Tick) -> tuple[float, float]:
    low = tick.low if tick.low == tick.low else (tick.ask if tick.ask == tick.ask else tick.close)
    high = tick.high if tick.high == tick.high else (tick.bid if tick.bid == tick.bid else tick.close)
    return low, high


class PaperBroker:
    """Simulated execution for any number of symbols (see the module docstring)."""

    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.execution = ExecutionModel(self.config.execution)
        self.interpreter = ActionInterpreter(self.config.execution.min_trade)
        self._books: dict[str, _Book] = {}
        self._day = -1
        self._day_start_equity = 0.0

    def position(self, symbol: str) -> float:
        book = self._books.get(symbol)
        return 0.0 if book is None else book.position

    def entry_price(self, symbol: str) -> float:
        book = self._books.get(symbol)
        return 0.0 if book is None else book.entry_price

    def holding(self, symbol: str) -> tuple[float, float]:
        """``(position(symbol), entry_price(symbol))`` in one lookup (the decision path reads both per event)."""
        book = self._books.get(symbol)
        return (0.0, 0.0) if book is None else (book.position, book.entry_price)

    def unit_quantity(self, symbol: str) -> float:
        """Asset quantity of a full (1.0) position of ``symbol``; 0 before its first event."""
        book = self._books.get(symbol)
        return 0.0 if book is None else book.unit_qty

    def last_price(self, symbol: str) -> float:
        book = self._books.get(symbol)
        return math.nan if book is None else book.last_close

    def on_event(self, symbol: str, tick: Tick) -> StepResult:
        """Work the symbol's order against ``tick``, then mark the position to its close."""
        # The hot path (every event, every role): the legs unpacked once into locals, the day rolled only when due.
        book = self._books.get(symbol)
        close = tick.close
        if book is None:
            unit = self.config.max_notional / close
            book = self._books[symbol] = _Book(unit_qty=unit, notional=self.config.max_notional)
        if tick.timestamp_ns // _DAY_NS > self._day:
            self._roll_day(tick.timestamp_ns)
        p0, working, last_close = book.position, book.working, book.last_close
        book.working = None
        if last_close != last_close:
            book.last_close = close
            return StepResult(p0, 0.0, 0.0, 0.0, 0.0)
        # Without a working order the position is still marked: a held position's PnL counts (daily loss limit).
        exit_leg = entry_leg = NO_FILL
        mid = close
        if working is not None:
            orders, bid, ask, volatility = working
            low, high = _range(tick)
            exit_leg = self.execution.fill(orders.exit_qty, orders.exit_factor, bid, ask, low, high, volatility)
            entry_leg = self.execution.fill(orders.entry_qty, orders.entry_factor, bid, ask, low, high, volatility)
            mid = 0.5 * (bid + ask)
        exit_qty, _, exit_price, exit_fee = exit_leg
        entry_qty, _, entry_price, entry_fee = entry_leg
        unit = book.unit_qty
        traded = exit_qty + entry_qty
        pnl = (p0 * (close - last_close) + traded * (close - mid)) * unit
        cost = (exit_qty * (exit_price - mid) + exit_fee + entry_qty * (entry_price - mid) + entry_fee) * unit
        p1 = max(-1.0, min(1.0, p0 + traded))
        book.entry_price = _entry_price(p0, p1, book.entry_price, entry_price)
        book.position, book.last_close = p1, close
        book.pnl += pnl
        book.realized_cost += cost
        book.fills += (exit_qty != 0.0) + (entry_qty != 0.0)
        return StepResult(p1, p1 - p0, pnl, cost, (pnl - cost) / book.notional * 1e4)

    def submit(self, symbol: str, orders: Orders, bid: float, ask: float, volatility: float) -> None:
        """Send the legs of ``orders`` priced inside ``[bid, ask]``; they work against the next event only."""
        book = self._books.get(symbol)
        if book is None:
            raise KeyError(f"symbol: {symbol!r} has no book yet; the broker must see an event of it first")
        nothing = orders.exit_qty == 0.0 and orders.entry_qty == 0.0
        book.working = None if nothing else (orders, bid, ask, volatility)

    def cancel_all(self) -> int:
        """Cancel every working order (the kill switch); returns how many symbols had one."""
        cancelled = sum(book.working is not None for book in self._books.values())
        for book in self._books.values():
            book.working = None
        return cancelled

    def equity(self) -> float:
        """Cumulative PnL net of costs over all symbols, quote currency."""
        # A plain loop: the engine asks on every event, and a generator costs more than summing one book.
        # It starts from int 0 as ``sum`` did, so a broker without books still reports 0.
        total: float = 0
        for book in self._books.values():
            total += book.pnl - book.realized_cost
        return total

    def daily_pnl(self, equity: float | None = None) -> float:
        """Equity change since the start of the current UTC day (event time); ``equity``: ``equity()`` if known."""
        return (self.equity() if equity is None else equity) - self._day_start_equity

    def marks(self) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """Position, signed quantity and last price per symbol (``positions()``'s entries the risk view reads)."""
        # one loop, not three comprehensions: the risk view reads this on every event
        positions: dict[str, float] = {}
        quantities: dict[str, float] = {}
        prices: dict[str, float] = {}
        for symbol, book in self._books.items():
            position = positions[symbol] = book.position
            quantities[symbol] = position * book.unit_qty
            prices[symbol] = book.last_close
        return positions, quantities, prices

    def positions(self) -> dict[str, dict[str, float]]:
        return {
            symbol: {
                "position": book.position,
                "quantity": book.position * book.unit_qty,
                "entry_price": book.entry_price,
                "last_price": book.last_close,
                "pnl_net": book.pnl - book.realized_cost,
                "costs": book.realized_cost,
                "fills": float(book.fills),
            }
            for symbol, book in self._books.items()
        }

    def gross_exposure(self) -> float:
        """Sum of absolute positions, in units of a full position."""
        return sum(abs(book.position) for book in self._books.values())

    def _roll_day(self, timestamp_ns: int) -> None:
        day = timestamp_ns // _DAY_NS
        if day > self._day:
            self._day, self._day_start_equity = day, self.equity()

    def state_dict(self) -> dict[str, Any]:
        return {
            "day": self._day,
            "day_start_equity": self._day_start_equity,
            "books": {
                s: {k: getattr(b, k) for k in ("unit_qty", "notional", "position", "entry_price", "last_close")}
                | {"pnl": b.pnl, "realized_cost": b.realized_cost, "fills": b.fills}
                for s, b in self._books.items()
            },
        }


def _entry_price(p0: float, p1: float, entry_price: float, entry_fill: float) -> float:
    """Average entry price after a step (0 when flat); the env's rule."""
    if p1 == 0.0:
        return 0.0
    if p0 * p1 <= 0.0:
        return entry_fill
    if abs(p1) > abs(p0):
        return (abs(p0) * entry_price + (abs(p1) - abs(p0)) * entry_fill) / abs(p1)
    return entry_price
