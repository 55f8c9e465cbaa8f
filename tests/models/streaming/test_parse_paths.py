"""parse_event's inline reads of the common payload agree with the general readers on every input.

``_general_parse`` is parse_event as it was before the inline reads: every field through its general
reader (``_symbol``, ``_timestamp``, ``_event_id``) and the record through the dataclass constructor.
For each payload both must give the same record, field for field and type for type, or the same
rejection (reason and detail): the inline path may only choose who does the work.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from models.streaming.events import (
    _DEFAULT_MAX_FUTURE_NS,
    _MICROSECOND,
    _NAN,
    DEFAULT_MAX_FUTURE,
    EventRejected,
    MarketEvent,
    Reason,
    _as_object,
    _event,
    _event_id,
    _numbers,
    _symbol,
    _timestamp,
    parse_event,
)

T_NS = 1_704_196_800_000_000_000
FIELDS = ("symbol", "timestamp_ns", "event_id", "close", "high", "low", "volume", "bid", "ask", "bid_size", "ask_size")
BAR = {"symbol": "BTC-PERP", "timestamp_ns": T_NS, "event_id": "BTC-PERP-0000000001", "close": 42000.5}
_DROP = object()


def _general_parse(
    payload: bytes | str | Mapping[str, Any],
    *,
    now_ns: int | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> MarketEvent:
    obj = _as_object(payload)
    symbol = _symbol(obj)
    ts = _timestamp(obj)
    horizon_ns = _DEFAULT_MAX_FUTURE_NS if max_future is DEFAULT_MAX_FUTURE else max_future // _MICROSECOND * 1000
    if now_ns is not None and ts - now_ns > horizon_ns:
        ahead = (ts - now_ns) / 1e9
        raise EventRejected(Reason.FUTURE_TIMESTAMP, f"timestamp: {ahead:.3f} s ahead of the clock (max {max_future})")
    get = _numbers(obj).get
    bid, ask, close, volume = get("bid", _NAN), get("ask", _NAN), get("close"), get("volume")
    if close is None:
        if bid != bid or ask != ask:
            raise EventRejected(Reason.MISSING_FIELD, "close (or price, or both bid and ask)")
        close = (bid + ask) * 0.5
    return MarketEvent(
        symbol=symbol,
        timestamp_ns=ts,
        event_id=_event_id(obj),
        close=close,
        high=get("high", _NAN),
        low=get("low", _NAN),
        volume=close * get("size", _NAN) if volume is None else volume,
        bid=bid,
        ask=ask,
        bid_size=get("bid_size", _NAN),
        ask_size=get("ask_size", _NAN),
    )


def _bar(**changes: object) -> dict[str, object]:
    return {k: v for k, v in {**BAR, **changes}.items() if v is not _DROP}


def _outcome(parse: Any, payload: object, **options: Any) -> tuple[object, ...]:
    """The record's fields as (type, repr) pairs (bit for bit, NaN included), or the rejection's reason and detail."""
    try:
        event = parse(payload, **options)
    except EventRejected as rejected:
        return ("rejected", rejected.reason, rejected.detail)
    assert type(event) is MarketEvent
    return tuple((type(v), repr(v)) for v in (getattr(event, name) for name in FIELDS))


class _Text(str):
    __slots__ = ()


PAYLOADS: dict[str, object] = {
    "bar": _bar(high=42010.0, low=41990.0, volume=12.5),
    "quote": _bar(close=_DROP, bid=99.0, ask=101.0, bid_size=3.0, ask_size=1.5),
    "trade": _bar(close=_DROP, price=200.0, size=0.5),
    "aliases with canonical present": _bar(price=1.0, bid=9.0, bid_price=8.0, ask=10.0, ask_price=11.0),
    "null canonical yields to alias": _bar(close=None, price=7.0),
    "int prices": _bar(close=42000, high=42010, volume=0),
    "string prices": _bar(close="42000.5", high="1e3", volume="0"),
    "numpy float": _bar(close=np.float64(42000.5), volume=np.float32(1.5)),
    "unknown fields": _bar(exchange="x", open=1.0, extra=[1, 2]),
    "nulls": _bar(high=None, low=None, volume=None, bid=None, ask=None),
    "zero sizes": _bar(volume=0.0, bid_size=0.0, ask_size=-0.0),
    "huge timestamp_ns": _bar(timestamp_ns=10**30),
    "one ns timestamp": _bar(timestamp_ns=1),
    "iso timestamp": _bar(timestamp_ns=_DROP, timestamp="2024-01-02T12:00:00.123456789Z"),
    "epoch ms timestamp": _bar(timestamp_ns=_DROP, timestamp=1_704_196_800_000),
    "digit string timestamp": _bar(timestamp_ns=_DROP, timestamp="1704196800"),
    "datetime timestamp": _bar(timestamp_ns=_DROP, timestamp=datetime(2024, 1, 2, tzinfo=UTC)),
    "null timestamp_ns, timestamp given": _bar(timestamp_ns=None, timestamp=1_704_196_800),
    "int event_id": _bar(event_id=17),
    "id alias": _bar(event_id=_DROP, id="e1"),
    "null event_id, id given": _bar(event_id=None, id="e2"),
    "no id: content hash": _bar(event_id=_DROP),
    "str subclass symbol": _bar(symbol=_Text("BTC")),
    "str subclass event_id": _bar(event_id=_Text("e3")),
    "padded symbol": _bar(symbol=" BTC "),
    "ordered dict": OrderedDict(_bar()),
    "mapping proxy": MappingProxyType(_bar()),
    "json bytes": json.dumps(_bar(volume=1.0)).encode(),
    "json text": json.dumps(_bar(bid=1.0, ask=2.0)),
    # every rejection
    "missing symbol": _bar(symbol=_DROP),
    "null symbol": _bar(symbol=None),
    "empty symbol": _bar(symbol=""),
    "blank symbol": _bar(symbol="   "),
    "int symbol": _bar(symbol=7),
    "missing timestamp": _bar(timestamp_ns=_DROP),
    "bool timestamp_ns": _bar(timestamp_ns=True),
    "float timestamp_ns": _bar(timestamp_ns=1.7e18),
    "string timestamp_ns": _bar(timestamp_ns=str(T_NS)),
    "zero timestamp_ns": _bar(timestamp_ns=0),
    "negative timestamp_ns": _bar(timestamp_ns=-5),
    "naive iso timestamp": _bar(timestamp_ns=_DROP, timestamp="2024-01-02T12:00:00"),
    "bool timestamp": _bar(timestamp_ns=_DROP, timestamp=False),
    "missing close": _bar(close=_DROP),
    "bid only": _bar(close=_DROP, bid=1.0),
    "nan close": _bar(close=math.nan),
    "inf close": _bar(close=math.inf),
    "string nan": _bar(close="nan"),
    "string inf high": _bar(high="-inf"),
    "bool close": _bar(close=True),
    "bool volume": _bar(volume=False),
    "list volume": _bar(volume=[1.0]),
    "text close": _bar(close="abc"),
    "huge int close": _bar(close=10**400),
    "zero close": _bar(close=0.0),
    "negative close": _bar(close=-1.0),
    "negative high": _bar(high=-2.0),
    "negative bid": _bar(bid=-1.0, ask=1.0),
    "negative volume": _bar(volume=-1.0),
    "negative size": _bar(close=_DROP, price=3.0, size=-1.0),
    "negative ask_size": _bar(ask_size=-0.5),
    "crossed quote": _bar(bid=101.0, ask=100.0),
    "empty event_id": _bar(event_id=""),
    "bool event_id": _bar(event_id=True),
    "dict id": _bar(event_id=_DROP, id={"a": 1}),
    "bad symbol and bad close": _bar(symbol=7, close="abc"),
    "bad timestamp and bad close": _bar(timestamp_ns=1.5, close=-1.0),
    "missing close and bad event_id": _bar(close=_DROP, event_id=""),
    "bad event_id and negative volume": _bar(event_id=True, volume=-1.0),
    "malformed json": b"{not json",
    "json array": b"[1, 2]",
    "trailing data": b'{"symbol": "X"} trailing',
    "not utf-8": b"\xff\xfe",
    "json NaN price": b'{"symbol":"X","timestamp_ns":1704196800000000000,"price":NaN}',
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_parse_event_given_payload_returns_what_the_general_readers_return(name: str) -> None:
    payload = PAYLOADS[name]
    assert _outcome(parse_event, payload) == _outcome(_general_parse, payload)


@pytest.mark.parametrize(
    ("ahead_s", "max_future"),
    [(0.0, DEFAULT_MAX_FUTURE), (5.0, DEFAULT_MAX_FUTURE), (5.5, DEFAULT_MAX_FUTURE), (11.0, timedelta(seconds=10))],
)
def test_parse_event_given_clock_returns_the_general_future_verdict(ahead_s: float, max_future: timedelta) -> None:
    now = T_NS - int(ahead_s * 1e9)
    for payload in (_bar(), _bar(timestamp_ns=_DROP, timestamp="2024-01-02T12:00:00Z")):
        options = {"now_ns": now, "max_future": max_future}
        assert _outcome(parse_event, payload, **options) == _outcome(_general_parse, payload, **options)
    assert (_outcome(parse_event, _bar(), now_ns=now, max_future=max_future)[0] == "rejected") == (ahead_s > 5.0)


def test_parse_event_given_rejections_covers_every_payload_reason() -> None:
    """The table above reaches every reason the parser can give, so each one's message is compared."""
    reasons = {
        outcome[1] for outcome in (_outcome(parse_event, p) for p in PAYLOADS.values()) if outcome[0] == "rejected"
    }
    parser_reasons = set(Reason) - {Reason.LATE, Reason.DUPLICATE, Reason.UNKNOWN_SYMBOL, Reason.FUTURE_TIMESTAMP}
    assert reasons == parser_reasons


VALUES: list[dict[str, Any]] = [
    {"close": 1.0},
    {"close": 2.0, "high": 3.0, "low": 1.0, "volume": 0.0, "bid": 1.5, "ask": 2.5, "bid_size": 1.0, "ask_size": 0.0},
    {"close": 0.0},
    {"close": math.nan},
    {"close": -math.inf},
    {"close": 1.0, "low": -1.0},
    {"close": 1.0, "high": math.inf},
    {"close": 1.0, "volume": -0.5},
    {"close": 1.0, "bid_size": math.inf},
    {"close": 1.0, "bid": 2.0, "ask": 1.0},
    {"close": 1.0, "symbol": ""},
    {"close": 1.0, "symbol": 5},
    {"close": 1.0, "timestamp_ns": 1.5},
    {"close": 1.0, "timestamp_ns": True},
    {"close": 1.0, "event_id": ""},
    {"close": 1.0, "event_id": 3},
]


@pytest.mark.parametrize("values", VALUES)
def test_event_given_values_returns_what_the_dataclass_constructor_returns(values: dict[str, Any]) -> None:
    fields = {"symbol": "X", "timestamp_ns": T_NS, "event_id": "a", **dict.fromkeys(FIELDS[3:], math.nan), **values}

    def direct(kwargs: dict[str, Any]) -> MarketEvent:
        return _event(*(kwargs[name] for name in FIELDS))

    def constructed(kwargs: dict[str, Any]) -> MarketEvent:
        return MarketEvent(**kwargs)

    assert _outcome(direct, fields) == _outcome(constructed, fields)
    if _outcome(constructed, fields)[0] != "rejected":
        assert direct(fields) == constructed(fields) and hash(direct(fields)) == hash(constructed(fields))


def test_event_given_built_record_returns_frozen_dataclass() -> None:
    import dataclasses

    event = parse_event(_bar())
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.close = 2.0  # type: ignore[misc]
    assert dataclasses.replace(event, close=3.0).close == 3.0
    assert not hasattr(event, "__dict__")
    again = pickle.loads(pickle.dumps(event))
    assert again == event and _outcome(lambda e: e, again) == _outcome(lambda e: e, event)
