"""parse_event: every accepted wire form, and every bad payload refused with its reason code."""

from __future__ import annotations

import json
import math
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from models.streaming.events import EventRejected, MarketEvent, Reason, parse_event

T0 = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
BASE = {"symbol": "BTC-USD", "timestamp": "2024-01-02T12:00:00Z", "id": "e1", "price": 45000.0}


def _with(**changes: object) -> dict[str, object]:
    return {k: v for k, v in {**BASE, **changes}.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("timestamp", "expected_ns"),
    [
        ("2024-01-02T12:00:00Z", T0_NS),
        ("2024-01-02T13:00:00+01:00", T0_NS),
        ("2024-01-02T12:00:00.123456789+00:00", T0_NS + 123_456_789),
        ("2024-01-02 12:00:00.5+00:00", T0_NS + 500_000_000),
        (T0_NS // 1_000_000, T0_NS),
        (T0_NS, T0_NS),
        (str(T0_NS // 1_000_000), T0_NS),
        (T0, T0_NS),
    ],
)
def test_parse_event_given_timestamp_form_returns_epoch_ns(timestamp: object, expected_ns: int) -> None:
    assert parse_event(_with(timestamp=timestamp)).timestamp_ns == expected_ns


def test_parse_event_given_seed_quick_start_payload_returns_event_with_quote() -> None:
    # The market_data dict of ../shared/seed's quick start, field for field.
    seed = {
        "symbol": "BTC-USD",
        "exchange": "coinbase",
        "price": 45000.0,
        "volume": 1.5,
        "bid_price": 44995.0,
        "ask_price": 45005.0,
        "timestamp": "2024-01-01T12:00:00Z",
    }
    event = parse_event(json.dumps(seed))
    assert (event.close, event.volume, event.bid, event.ask) == (45000.0, 1.5, 44995.0, 45005.0)
    assert math.isnan(event.high) and math.isnan(event.bid_size)


def test_parse_event_given_quote_without_price_returns_mid_as_close() -> None:
    event = parse_event(_with(price=_DROP, bid=99.0, ask=101.0, bid_size=3, ask_size="1.5"))
    assert (event.close, event.bid_size, event.ask_size) == (100.0, 3.0, 1.5)


def test_parse_event_given_trade_size_without_volume_returns_quote_currency_volume() -> None:
    assert parse_event(_with(price="200", size=0.5)).volume == 100.0


def test_parse_event_given_no_id_returns_same_content_hash_for_reordered_keys() -> None:
    a = parse_event(b'{"symbol":"X","timestamp":1704196800000,"close":1.5}')
    b = parse_event(b'  {"close": 1.5, "timestamp": 1704196800000, "symbol": "X"}\n')
    c = parse_event(b'{"symbol":"X","timestamp":1704196800000,"close":1.6}')
    assert a.event_id == b.event_id != c.event_id


def test_market_event_given_json_round_trip_returns_equal_event() -> None:
    event = parse_event(_with(high=45100, low=44900, bid=44990, ask=45010, volume=2))
    again = parse_event(event.to_json())
    assert again == event and hash(again) == hash(event)
    assert again.key == (T0_NS, "e1")


def test_event_rejected_given_pickle_round_trip_returns_reason_and_detail() -> None:
    exc = pickle.loads(pickle.dumps(EventRejected(Reason.LATE, "too old")))
    assert (exc.reason, exc.detail) == (Reason.LATE, "too old")


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b"{not json", Reason.MALFORMED_JSON, "JSONDecodeError"),
        (b"[1, 2]", Reason.MALFORMED_JSON, "JSON object"),
        (b'{"symbol": "X"} trailing', Reason.MALFORMED_JSON, "extra data"),
        (b"\xff\xfe", Reason.MALFORMED_JSON, "UnicodeDecodeError"),
        (_with(symbol=_DROP), Reason.MISSING_FIELD, "symbol"),
        (_with(timestamp=_DROP), Reason.MISSING_FIELD, "timestamp"),
        (_with(price=_DROP), Reason.MISSING_FIELD, "close"),
        (_with(price=_DROP, bid=1.0), Reason.MISSING_FIELD, "close"),
        (_with(symbol=7), Reason.BAD_TYPE, "symbol"),
        (_with(timestamp="yesterday"), Reason.BAD_TYPE, "ISO 8601"),
        (_with(timestamp="2024-01-02T12:00:00"), Reason.BAD_TYPE, "UTC offset"),
        (_with(timestamp=1.7e18), Reason.BAD_TYPE, "timestamp"),
        (_with(timestamp=True), Reason.BAD_TYPE, "timestamp"),
        (_with(price="abc"), Reason.BAD_TYPE, "price"),
        (_with(volume=[1]), Reason.BAD_TYPE, "volume"),
        (_with(id={"a": 1}), Reason.BAD_TYPE, "event_id"),
        (b'{"symbol":"X","timestamp":1704196800000,"price":NaN}', Reason.NAN_OR_INF, "price"),
        (_with(high="inf"), Reason.NAN_OR_INF, "high"),
        (_with(price=0.0), Reason.NON_POSITIVE_PRICE, "close"),
        (_with(bid=-1.0, ask=1.0), Reason.NON_POSITIVE_PRICE, "bid"),
        (_with(volume=-1.0), Reason.NEGATIVE_SIZE, "volume"),
        (_with(ask_size=-0.5), Reason.NEGATIVE_SIZE, "ask_size"),
        (_with(bid=101.0, ask=100.0), Reason.CROSSED_QUOTE, "bid"),
    ],
)
def test_parse_event_given_bad_payload_raises_reason_naming_field(payload: object, reason: Reason, detail: str) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(payload)  # type: ignore[arg-type]
    assert caught.value.reason is reason
    assert detail in caught.value.detail


def test_parse_event_given_timestamp_beyond_max_future_raises_future_timestamp() -> None:
    now = T0_NS - 10 * 1_000_000_000
    with pytest.raises(EventRejected) as caught:
        parse_event(_with(), now_ns=now, max_future=timedelta(seconds=5))
    assert caught.value.reason is Reason.FUTURE_TIMESTAMP
    assert parse_event(_with(), now_ns=now, max_future=timedelta(seconds=10)).timestamp_ns == T0_NS


def test_market_event_given_direct_construction_with_bad_value_raises_reason() -> None:
    with pytest.raises(EventRejected) as caught:
        MarketEvent(symbol="X", timestamp_ns=T0_NS, event_id="a", close=1.0, bid_size=-2.0)
    assert caught.value.reason is Reason.NEGATIVE_SIZE
    with pytest.raises(EventRejected, match="timestamp_ns"):
        MarketEvent(symbol="X", timestamp_ns=1.5, event_id="a", close=1.0)  # type: ignore[arg-type]
