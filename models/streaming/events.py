"""Market events on the streaming path: the immutable record, its JSON wire format, and the parser.

A payload that cannot become a valid event raises ``EventRejected`` with a ``Reason`` code; the
pipeline dead-letters it with that reason and moves on, it never stops on a bad message. The reason
codes shared with the file loader (``models.marketdata.validation.Reason``) use the same strings.

Wire format (JSON object; unknown fields are ignored):

- ``symbol`` (required, non-empty string)
- ``timestamp_ns`` (integer, epoch nanoseconds, UTC) or ``timestamp``: an ISO 8601 string with a UTC
  offset (``Z`` or ``+01:00``; nanosecond fractions are kept), or an integer epoch whose unit is read
  from its magnitude as the file loader does (below 1e11 seconds, 1e14 milliseconds, 1e17
  microseconds, else nanoseconds)
- ``event_id`` or ``id`` (optional; default: a stable hash of the payload's content)
- ``close`` or ``price``; a quote may give only ``bid`` and ``ask`` (close = mid)
- optional ``high``, ``low``, ``volume``, ``bid``/``bid_price``, ``ask``/``ask_price``, ``bid_size``,
  ``ask_size``; a trade's ``size`` without ``volume`` gives volume = price * size, the quote-currency
  volume ``models.features.batch.events_frame`` uses for trades
- numbers are JSON numbers or decimal strings (several venues send prices as strings); ``null`` or
  an absent field means absent (NaN in the record)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

_NAN = math.nan
_INF = math.inf
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FRACTION = re.compile(r"\d{2}:\d{2}:\d{2}[.,](\d+)")
# Epoch units by magnitude, as models.marketdata.timeparse reads epoch columns.
_EPOCH_SCALE = ((10**11, 10**9), (10**14, 10**6), (10**17, 10**3))
DEFAULT_MAX_FUTURE = timedelta(seconds=5)
_DEFAULT_MAX_FUTURE_NS = DEFAULT_MAX_FUTURE // _MICROSECOND * 1000
_DECODER = json.JSONDecoder()
# Shared coders: json.dumps with non-default options builds a new encoder per call, a third of its cost.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# Wire name -> record field; an alias counts only when its canonical name is absent or null.
_NUMERIC = {
    **{name: name for name in ("close", "high", "low", "volume", "size", "bid", "ask", "bid_size", "ask_size")},
    "price": "close",
    "bid_price": "bid",
    "ask_price": "ask",
}


class Reason(StrEnum):
    """Why an event was rejected; the dead-letter stream and the counters use these codes."""

    MALFORMED_JSON = "malformed_json"
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    NAN_OR_INF = "nan_or_inf"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_SIZE = "negative_size"
    CROSSED_QUOTE = "crossed_quote"
    FUTURE_TIMESTAMP = "future_timestamp"
    LATE = "late"
    DUPLICATE = "duplicate"
    UNKNOWN_SYMBOL = "unknown_symbol"


class EventRejected(ValueError):  # noqa: N818 - the pipeline's name for a refusal; it is not an internal error
    """A payload or event the pipeline refuses: ``reason`` is a ``Reason``, ``detail`` says what and where."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[EventRejected], tuple[Reason, str]]:
        # The default reduce replays ``args`` (the message) into __init__, which needs two arguments.
        return (EventRejected, (self.reason, self.detail))


_PRICES = ("high", "low", "bid", "ask")
_SIZES = ("volume", "bid_size", "ask_size")


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class MarketEvent:
    """One bar, quote or trade of one symbol, validated on construction; NaN marks an absent field.

    Equality treats two NaNs in the same field as equal (both absent), so a record equals its own
    JSON round trip.
    """

    symbol: str
    timestamp_ns: int
    """Nanoseconds since the epoch, UTC."""
    event_id: str
    close: float
    high: float = _NAN
    low: float = _NAN
    volume: float = _NAN
    bid: float = _NAN
    ask: float = _NAN
    bid_size: float = _NAN
    ask_size: float = _NAN

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise EventRejected(Reason.BAD_TYPE, f"symbol: must be a non-empty string, got {self.symbol!r}")
        if type(self.timestamp_ns) is not int:
            raise EventRejected(Reason.BAD_TYPE, f"timestamp_ns: must be an int, got {self.timestamp_ns!r}")
        if not isinstance(self.event_id, str) or not self.event_id:
            raise EventRejected(Reason.BAD_TYPE, f"event_id: must be a non-empty string, got {self.event_id!r}")
        # One comparison chain per field (NaN fails every comparison, so ``v != v`` admits "absent"):
        # this runs once per event on the hot path; only a failing event pays for naming the field.
        hi, lo, bid, ask = self.high, self.low, self.bid, self.ask
        vol, bsz, asz = self.volume, self.bid_size, self.ask_size
        valid = (
            0.0 < self.close < _INF
            and (hi != hi or 0.0 < hi < _INF)
            and (lo != lo or 0.0 < lo < _INF)
            and (bid != bid or 0.0 < bid < _INF)
            and (ask != ask or 0.0 < ask < _INF)
            and (vol != vol or 0.0 <= vol < _INF)
            and (bsz != bsz or 0.0 <= bsz < _INF)
            and (asz != asz or 0.0 <= asz < _INF)
            and not bid > ask
        )
        if not valid:
            self._reject_values()

    def _reject_values(self) -> None:
        _check_price("close", self.close, required=True)
        for name in _PRICES:
            _check_price(name, getattr(self, name), required=False)
        for name in _SIZES:
            _check_size(name, getattr(self, name))
        raise EventRejected(Reason.CROSSED_QUOTE, f"bid: {self.bid} is above ask {self.ask}")

    @property
    def key(self) -> tuple[int, str]:
        """(timestamp_ns, event_id): the identity used for ordering and de-duplication."""
        return (self.timestamp_ns, self.event_id)

    def _comparable(self) -> tuple[object, ...]:
        return tuple(None if v != v else v for v in (getattr(self, f.name) for f in fields(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketEvent):
            return NotImplemented
        return self._comparable() == other._comparable()

    def __hash__(self) -> int:
        return hash(self.key)

    def to_payload(self) -> dict[str, Any]:
        """The JSON wire form: ``timestamp_ns`` exact, absent (NaN) fields left out."""
        out: dict[str, Any] = {"symbol": self.symbol, "timestamp_ns": self.timestamp_ns, "event_id": self.event_id}
        for name in ("close", *_PRICES, *_SIZES):
            value = getattr(self, name)
            if value == value:
                out[name] = value
        return out

    def to_json(self) -> bytes:
        return _ENCODER.encode(self.to_payload()).encode()


# The slots' own setters: what the generated __init__ reaches through object.__setattr__ one field at a time.
_NEW = object.__new__
_SET_FIELDS = tuple(MarketEvent.__dict__[f.name].__set__ for f in fields(MarketEvent))


def _event(
    symbol: str,
    timestamp_ns: int,
    event_id: str,
    close: float,
    high: float,
    low: float,
    volume: float,
    bid: float,
    ask: float,
    bid_size: float,
    ask_size: float,
) -> MarketEvent:
    """``MarketEvent(...)`` with every field given: the same record and the same ``__post_init__`` checks.

    The parser builds one per event; the dataclass __init__ spends half of that on keyword passing and
    ``object.__setattr__`` per field (the frozen dataclass's way round its own ``__setattr__``), so the
    slots are filled through their descriptors, then validated by the one ``__post_init__``.
    """
    event = _NEW(MarketEvent)
    s_symbol, s_ts, s_id, s_close, s_high, s_low, s_volume, s_bid, s_ask, s_bid_size, s_ask_size = _SET_FIELDS
    s_symbol(event, symbol)
    s_ts(event, timestamp_ns)
    s_id(event, event_id)
    s_close(event, close)
    s_high(event, high)
    s_low(event, low)
    s_volume(event, volume)
    s_bid(event, bid)
    s_ask(event, ask)
    s_bid_size(event, bid_size)
    s_ask_size(event, ask_size)
    event.__post_init__()
    return event


def _check_price(name: str, value: float, *, required: bool) -> None:
    if value != value and not required:
        return
    if not math.isfinite(value):
        raise EventRejected(Reason.NAN_OR_INF, f"{name}: must be finite, got {value!r}")
    if value <= 0.0:
        raise EventRejected(Reason.NON_POSITIVE_PRICE, f"{name}: must be > 0, got {value!r}")


def _check_size(name: str, value: float) -> None:
    if value != value:
        return
    if math.isinf(value):
        raise EventRejected(Reason.NAN_OR_INF, f"{name}: must be finite, got {value!r}")
    if value < 0.0:
        raise EventRejected(Reason.NEGATIVE_SIZE, f"{name}: must be >= 0, got {value!r}")


def parse_event(
    payload: bytes | str | Mapping[str, Any],
    *,
    now_ns: int | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> MarketEvent:
    """Parse one wire payload (see the module docstring) into a validated ``MarketEvent``.

    With ``now_ns`` (the receiver's clock, epoch ns), an event stamped more than ``max_future`` ahead
    of it is rejected ``future_timestamp``: a skewed producer clock, not a real future print.
    Raises ``EventRejected`` for every bad payload.
    """
    # Once per event on the decision path. Each field is read inline when it has the exact common form (a
    # plain dict, a str symbol and id, an int timestamp_ns); anything else goes to the general reader of
    # that field, which accepts the same values and raises every rejection with its own message, so the
    # inline tests only choose who does the work, in the same order of checks as before.
    obj = payload if type(payload) is dict else _as_object(payload)
    get = obj.get
    symbol = get("symbol")
    if type(symbol) is not str or not symbol.strip():
        symbol = _symbol(obj)
    ts = get("timestamp_ns")
    if type(ts) is not int or ts <= 0:
        ts = _timestamp(obj)
    # the default horizon's nanoseconds computed once: timedelta arithmetic on every event costs more than the check
    horizon_ns = _DEFAULT_MAX_FUTURE_NS if max_future is DEFAULT_MAX_FUTURE else max_future // _MICROSECOND * 1000
    if now_ns is not None and ts - now_ns > horizon_ns:
        ahead = (ts - now_ns) / 1e9
        raise EventRejected(Reason.FUTURE_TIMESTAMP, f"timestamp: {ahead:.3f} s ahead of the clock (max {max_future})")
    number = _numbers(obj).get
    bid, ask, close, volume = number("bid", _NAN), number("ask", _NAN), number("close"), number("volume")
    if close is None:
        if bid != bid or ask != ask:
            raise EventRejected(Reason.MISSING_FIELD, "close (or price, or both bid and ask)")
        close = (bid + ask) * 0.5
    event_id = get("event_id")
    if type(event_id) is not str or not event_id:
        event_id = _event_id(obj)
    return _event(
        symbol,
        ts,
        event_id,
        close,
        number("high", _NAN),
        number("low", _NAN),
        close * number("size", _NAN) if volume is None else volume,
        bid,
        ask,
        number("bid_size", _NAN),
        number("ask_size", _NAN),
    )


def _symbol(obj: Mapping[str, Any]) -> str:
    symbol = obj.get("symbol")
    if symbol is None:
        raise EventRejected(Reason.MISSING_FIELD, "symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise EventRejected(Reason.BAD_TYPE, f"symbol: must be a non-empty string, got {symbol!r}")
    return symbol


def _as_object(payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    try:
        text = (payload.decode() if isinstance(payload, bytes | bytearray) else payload).lstrip()
        # raw_decode skips json.loads's two whitespace regex passes; trailing data is checked here instead.
        obj, end = _DECODER.raw_decode(text)
        if end != len(text) and not text[end:].isspace():
            raise ValueError(f"extra data after character {end}")
    except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise EventRejected(Reason.MALFORMED_JSON, f"{exc.__class__.__name__}: {exc}") from exc
    if not isinstance(obj, dict):
        raise EventRejected(Reason.MALFORMED_JSON, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _numbers(obj: Mapping[str, Any]) -> dict[str, float]:
    """The numeric fields present (not null), by record field name; aliases yield to their canonical name.

    One pass over the payload's own keys: a payload carries a handful of the twelve names it may use.
    """
    out: dict[str, float] = {}
    for name, value in obj.items():
        field = _NUMERIC.get(name)
        if field is None or value is None:
            continue
        if field != name and obj.get(field) is not None:
            continue
        # value - value is 0.0 exactly for a finite float; anything else takes the checked path.
        if type(value) is not float or value - value != 0.0:
            value = _to_float(name, value)
        out[field] = value
    return out


def _to_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EventRejected(Reason.BAD_TYPE, f"{name}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise EventRejected(Reason.BAD_TYPE, f"{name}: expected a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise EventRejected(Reason.NAN_OR_INF, f"{name}: must be finite, got {value!r}")
    return number


def _timestamp(obj: Mapping[str, Any]) -> int:
    exact = obj.get("timestamp_ns")
    if exact is not None:
        if type(exact) is not int or exact <= 0:
            raise EventRejected(Reason.BAD_TYPE, f"timestamp_ns: expected a positive integer, got {exact!r}")
        return exact
    value = obj.get("timestamp")
    if value is None:
        raise EventRejected(Reason.MISSING_FIELD, "timestamp")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if type(value) is int:
        return _epoch_ns(value)
    if isinstance(value, str):
        return _iso_ns(value)
    if isinstance(value, datetime):
        return _datetime_ns(value, repr(value), extra_ns=0)
    raise EventRejected(Reason.BAD_TYPE, f"timestamp: expected ISO 8601 text or an integer epoch, got {value!r}")


def _epoch_ns(value: int) -> int:
    if value <= 0:
        raise EventRejected(Reason.BAD_TYPE, f"timestamp: epoch must be positive, got {value}")
    for bound, scale in _EPOCH_SCALE:
        if value < bound:
            return value * scale
    return value


def _iso_ns(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventRejected(Reason.BAD_TYPE, f"timestamp: not ISO 8601: {text!r}") from exc
    # fromisoformat keeps microseconds and drops further digits; add the nanoseconds back.
    match = _FRACTION.search(text)
    extra_ns = int(match.group(1)[6:9].ljust(3, "0")) if match and len(match.group(1)) > 6 else 0
    return _datetime_ns(parsed, repr(text), extra_ns)


def _datetime_ns(value: datetime, shown: str, extra_ns: int) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventRejected(Reason.BAD_TYPE, f"timestamp: needs a UTC offset (naive times are ambiguous): {shown}")
    ns = (value - _EPOCH) // _MICROSECOND * 1000 + extra_ns
    if ns <= 0:
        raise EventRejected(Reason.BAD_TYPE, f"timestamp: must be after the epoch, got {shown}")
    return ns


def _event_id(obj: Mapping[str, Any]) -> str:
    value = obj.get("event_id")
    if value is None:
        value = obj.get("id")
    if value is None:
        # Content hash: the same payload republished (a producer retry) gets the same id and is de-duplicated.
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventRejected(Reason.BAD_TYPE, f"event_id: expected a string, got {value!r}")
    text = str(value)
    if not text:
        raise EventRejected(Reason.BAD_TYPE, "event_id: must not be empty")
    return text
