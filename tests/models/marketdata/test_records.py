"""Typed records refuse naive times and impossible prices, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.marketdata.records import Bar, BookLevel, OrderBookSnapshot, QuoteTick, TradeTick

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def test_bar_given_naive_timestamp_raises_naming_timestamp() -> None:
    with pytest.raises(ValueError, match="timestamp: must be timezone-aware UTC"):
        Bar(symbol="X", timestamp=datetime(2024, 1, 2), open=1, high=1, low=1, close=1)  # noqa: DTZ001


def test_bar_given_non_utc_offset_raises() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        Bar(symbol="X", timestamp=T0.astimezone(timezone(timedelta(hours=1))), open=1, high=1, low=1, close=1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"open": 0.0}, "open: must be a finite positive"),
        ({"high": 0.5}, "high: 0.5 is below low"),
        ({"close": 3.0}, "close: 3.0 is outside"),
        ({"volume": -1.0}, "volume"),
        ({"bid": 1.0}, "bid/ask: give both"),
        ({"bid": 1.2, "ask": 1.1}, "crossed"),
    ],
)
def test_bar_given_bad_field_raises_naming_it(fields: dict[str, float], message: str) -> None:
    base = {"open": 1.0, "high": 2.0, "low": 1.0, "close": 1.5}
    with pytest.raises(ValueError, match=message):
        Bar(symbol="X", timestamp=T0, **{**base, **fields})


def test_bar_given_bid_ask_returns_spread() -> None:
    bar = Bar(symbol="X", timestamp=T0, open=1, high=2, low=1, close=1.5, bid=1.4, ask=1.6)
    assert bar.spread == pytest.approx(0.2)


def test_quote_tick_given_sides_returns_mid_and_is_immutable() -> None:
    quote = QuoteTick(symbol="X", timestamp=T0, bid=1.0, ask=1.2, bid_size=3.0)
    assert quote.mid == pytest.approx(1.1)
    with pytest.raises(AttributeError):
        quote.bid = 2.0  # type: ignore[misc]


def test_trade_tick_given_empty_id_raises_naming_trade_id() -> None:
    with pytest.raises(ValueError, match="trade_id"):
        TradeTick(symbol="X", timestamp=T0, price=1.0, size=1.0, trade_id="")


def test_order_book_given_levels_returns_imbalance_and_checks_order() -> None:
    book = OrderBookSnapshot(
        symbol="X",
        timestamp=T0,
        bids=(BookLevel(price=10.0, size=3.0), BookLevel(price=9.9, size=1.0)),
        asks=(BookLevel(price=10.1, size=1.0),),
    )
    assert book.imbalance == pytest.approx(0.5)
    with pytest.raises(ValueError, match="bids: levels must be in descending"):
        OrderBookSnapshot(symbol="X", timestamp=T0, bids=book.bids[::-1], asks=book.asks)
