"""Immutable market-event records. Every timestamp is timezone-aware UTC.

Records are what the streaming path, replay and the audit trail pass around; the batch path
works on DataFrames with the same column names (see ``schema.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Aggressor(StrEnum):
    """Side that crossed the spread for a trade."""

    BUY = "buy"
    SELL = "sell"
    UNKNOWN = "unknown"


def _require_utc(name: str, ts: datetime) -> None:
    if ts.tzinfo is None or ts.utcoffset() != timedelta(0):
        raise ValueError(f"{name}: must be timezone-aware UTC, got {ts!r}")


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a finite positive number, got {value!r}")


def _require_non_negative(name: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Bar:
    """An OHLCV bar, optionally with the bid and ask at its close."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    bid: float | None = None
    ask: float | None = None

    def __post_init__(self) -> None:
        _require_utc("timestamp", self.timestamp)
        for name in ("open", "high", "low", "close"):
            _require_positive(name, getattr(self, name))
        _require_non_negative("volume", self.volume)
        if self.high < self.low:
            raise ValueError(f"high: {self.high} is below low {self.low}")
        if not self.low <= self.close <= self.high:
            raise ValueError(f"close: {self.close} is outside [low, high] = [{self.low}, {self.high}]")
        if (self.bid is None) != (self.ask is None):
            raise ValueError("bid/ask: give both sides or neither")
        if self.bid is not None and self.ask is not None:
            _check_quote(self.bid, self.ask)

    @property
    def spread(self) -> float | None:
        """Ask minus bid at the bar's close, when both are known."""
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid


def _check_quote(bid: float, ask: float) -> None:
    _require_positive("bid", bid)
    _require_positive("ask", ask)
    if bid > ask:
        raise ValueError(f"bid: {bid} is above ask {ask} (crossed quote)")


@dataclass(frozen=True, kw_only=True, slots=True)
class QuoteTick:
    """Top of book: best bid and ask, with sizes when the venue publishes them."""

    symbol: str
    timestamp: datetime
    bid: float
    ask: float
    bid_size: float | None = None
    ask_size: float | None = None

    def __post_init__(self) -> None:
        _require_utc("timestamp", self.timestamp)
        _check_quote(self.bid, self.ask)
        _require_non_negative("bid_size", self.bid_size)
        _require_non_negative("ask_size", self.ask_size)

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True, kw_only=True, slots=True)
class TradeTick:
    """One print on the tape."""

    symbol: str
    timestamp: datetime
    price: float
    size: float
    trade_id: str
    aggressor: Aggressor = Aggressor.UNKNOWN

    def __post_init__(self) -> None:
        _require_utc("timestamp", self.timestamp)
        _require_positive("price", self.price)
        _require_positive("size", self.size)
        if not self.trade_id:
            raise ValueError("trade_id: must not be empty")


@dataclass(frozen=True, kw_only=True, slots=True)
class BookLevel:
    """One price level of an order book."""

    price: float
    size: float

    def __post_init__(self) -> None:
        _require_positive("price", self.price)
        _require_non_negative("size", self.size)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderBookSnapshot:
    """Depth snapshot; bids best-first (descending), asks best-first (ascending)."""

    symbol: str
    timestamp: datetime
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    def __post_init__(self) -> None:
        _require_utc("timestamp", self.timestamp)
        if not self.bids or not self.asks:
            raise ValueError("bids/asks: a snapshot needs at least one level per side")
        if any(a.price < b.price for a, b in zip(self.bids, self.bids[1:], strict=False)):
            raise ValueError("bids: levels must be in descending price order")
        if any(a.price > b.price for a, b in zip(self.asks, self.asks[1:], strict=False)):
            raise ValueError("asks: levels must be in ascending price order")
        _check_quote(self.bids[0].price, self.asks[0].price)

    @property
    def imbalance(self) -> float:
        """Top-of-book size imbalance in [-1, 1]: (bid_size - ask_size) / (bid_size + ask_size)."""
        bid, ask = self.bids[0].size, self.asks[0].size
        total = bid + ask
        return 0.0 if total == 0 else (bid - ask) / total


MarketEvent = Bar | QuoteTick | TradeTick | OrderBookSnapshot
