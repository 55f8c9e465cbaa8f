"""Canonical column names per kind of market data, and the aliases users' files bring."""

from __future__ import annotations

import re
from enum import StrEnum


class DataKind(StrEnum):
    """What a file holds; decides the columns, the validation rules and the store folder."""

    BARS = "bars"
    QUOTES = "quotes"
    TRADES = "trades"
    BOOK = "book"


TIME = "timestamp"

REQUIRED: dict[DataKind, tuple[str, ...]] = {
    DataKind.BARS: (TIME, "open", "high", "low", "close"),
    DataKind.QUOTES: (TIME, "bid", "ask"),
    DataKind.TRADES: (TIME, "price", "size"),
    DataKind.BOOK: (TIME, "bid_price_0", "bid_size_0", "ask_price_0", "ask_size_0"),
}

# Optional numeric columns: validated when present, never invented when absent.
OPTIONAL_NUMERIC: dict[DataKind, tuple[str, ...]] = {
    DataKind.BARS: ("volume", "bid", "ask"),
    DataKind.QUOTES: ("bid_size", "ask_size", "volume"),
    DataKind.TRADES: (),
    DataKind.BOOK: (),
}

PRICE_COLUMNS: dict[DataKind, tuple[str, ...]] = {
    DataKind.BARS: ("open", "high", "low", "close", "bid", "ask"),
    DataKind.QUOTES: ("bid", "ask"),
    DataKind.TRADES: ("price",),
    DataKind.BOOK: (),
}

TIME_ALIASES = frozenset(
    {"timestamp", "time", "date", "datetime", "ts", "ts_event", "date_time", "index", "", "unnamed: 0"}
)

ALIASES: dict[str, str] = {
    "o": "open",
    "h": "high",
    "l": "low",
    "c": "close",
    "v": "volume",
    "vol": "volume",
    "tick_volume": "volume",
    "tickvol": "volume",
    "bid_price": "bid",
    "best_bid": "bid",
    "bidprice": "bid",
    "ask_price": "ask",
    "best_ask": "ask",
    "askprice": "ask",
    "offer": "ask",
    "bid_qty": "bid_size",
    "bidsize": "bid_size",
    "bid_amount": "bid_size",
    "ask_qty": "ask_size",
    "asksize": "ask_size",
    "ask_amount": "ask_size",
    "quantity": "size",
    "qty": "size",
    "amount": "size",
    "id": "trade_id",
    "tradeid": "trade_id",
}

# Headerless files: the column order each kind's common layouts use, by field count.
HEADERLESS: dict[DataKind, dict[int, tuple[str, ...]]] = {
    DataKind.BARS: {
        5: (TIME, "open", "high", "low", "close"),
        6: (TIME, "open", "high", "low", "close", "volume"),
    },
    DataKind.QUOTES: {
        3: (TIME, "bid", "ask"),
        4: (TIME, "bid", "ask", "volume"),
        5: (TIME, "bid", "ask", "bid_size", "ask_size"),
    },
    DataKind.TRADES: {
        3: (TIME, "price", "size"),
        4: (TIME, "price", "size", "trade_id"),
    },
    DataKind.BOOK: {},
}

_BOOK_LEVEL = re.compile(r"^(bids|asks)\[(\d+)\]\.(price|amount|size)$")


def canonical_name(raw: str, kind: DataKind) -> str:
    """Map one source column name to its canonical name (case and spacing insensitive)."""
    name = raw.strip().lower().replace(" ", "_")
    if kind is DataKind.BOOK:
        match = _BOOK_LEVEL.match(name)
        if match:
            side, level, field = match.groups()
            field = "price" if field == "price" else "size"
            return f"{side[:-1]}_{field}_{level}"
    if kind is DataKind.TRADES and name == "volume":
        return "size"
    return ALIASES.get(name, name)


def book_depth(columns: list[str]) -> int:
    """Number of complete bid+ask levels present in canonical book columns."""
    depth = 0
    while all(f"{s}_{f}_{depth}" in columns for s in ("bid", "ask") for f in ("price", "size")):
        depth += 1
    return depth
