"""Typed conversion and validation of source tables: every rejected row keeps a reason.

Accepted rows are never altered: a row either passes every rule as it stands or is rejected
with its line number, a reason code from ``Reason`` and a human-readable detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from models.marketdata.loaders import LINE, RAW, LoaderError, SourceTable
from models.marketdata.schema import (
    OPTIONAL_NUMERIC,
    PRICE_COLUMNS,
    REQUIRED,
    TIME,
    DataKind,
    book_depth,
)
from models.marketdata.timeparse import parse_timestamps

REJECT_COLUMNS = [LINE, "reason", "detail", RAW]


class Reason(StrEnum):
    """Why a row was rejected."""

    UNPARSEABLE_LINE = "unparseable_line"
    UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
    UNPARSEABLE_NUMBER = "unparseable_number"
    MISSING_VALUE = "missing_value"
    NAN_OR_INF = "nan_or_inf"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_SIZE = "negative_size"
    HIGH_BELOW_LOW = "high_below_low"
    OPEN_OUTSIDE_RANGE = "open_outside_range"
    CLOSE_OUTSIDE_RANGE = "close_outside_range"
    CROSSED_QUOTE = "crossed_quote"
    BOOK_LEVELS_OUT_OF_ORDER = "book_levels_out_of_order"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    MISSING_OTHER_SIDE = "missing_other_side"


@dataclass(frozen=True, slots=True)
class Validated:
    """Accepted rows in canonical typed columns, and the rejects with their reasons."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    lines: pd.Series


class _Verdicts:
    """First failing reason per row; later rules only see rows still standing."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="string")
        self.detail = pd.Series(pd.NA, index=index, dtype="string")

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def reject(self, mask: pd.Series, reason: Reason, detail: pd.Series | str) -> None:
        hit = mask.astype("boolean").fillna(False).astype(bool) & self.ok
        self.reason[hit] = reason.value
        self.detail[hit] = detail[hit] if isinstance(detail, pd.Series) else detail


def validate(table: SourceTable, kind: DataKind, time_format: str | None = None) -> Validated:
    """Convert ``table`` to typed columns and apply every rule for ``kind``."""
    src = table.frame
    missing = [c for c in REQUIRED[kind] if c not in src.columns]
    if missing:
        raise LoaderError(f"columns: missing required {missing} for {kind}; found {list(src.columns)}")
    verdicts = _Verdicts(src.index)
    typed = src.copy()
    typed[TIME] = _convert_time(src[TIME], verdicts, time_format)
    for column in _numeric_columns(kind, list(src.columns)):
        typed[column] = _convert_number(src[column], column, verdicts)
    _check_values(typed, kind, verdicts)
    _check_order(typed, kind, verdicts)
    accepted = typed[verdicts.ok].drop(columns=[LINE, RAW]).reset_index(drop=True)
    if kind is DataKind.BARS and {"bid", "ask"} <= set(accepted.columns):
        accepted["spread"] = accepted["ask"] - accepted["bid"]
    lines = src.loc[verdicts.ok, LINE].astype("int64").reset_index(drop=True)
    return Validated(frame=accepted, rejects=_rejects(src, verdicts, table.bad_lines), lines=lines)


def _numeric_columns(kind: DataKind, columns: list[str]) -> list[str]:
    wanted = [c for c in REQUIRED[kind] if c != TIME]
    wanted += [c for c in OPTIONAL_NUMERIC[kind] if c in columns]
    if kind is DataKind.BOOK:
        depth = book_depth(columns)
        wanted = [f"{s}_{f}_{i}" for i in range(depth) for s in ("bid", "ask") for f in ("price", "size")]
    return wanted


def _blank(values: pd.Series) -> pd.Series:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        return values.isna() | (values.astype("string").str.strip() == "")
    return pd.Series(False, index=values.index)


def _convert_time(values: pd.Series, verdicts: _Verdicts, time_format: str | None) -> pd.Series:
    parsed = parse_timestamps(values, time_format)
    blank = _blank(values) | values.isna()
    verdicts.reject(blank, Reason.MISSING_VALUE, "timestamp: empty")
    detail = "timestamp: cannot parse " + values.astype("string").fillna("")
    verdicts.reject(parsed.isna(), Reason.UNPARSEABLE_TIMESTAMP, detail)
    return parsed


def _convert_number(values: pd.Series, column: str, verdicts: _Verdicts) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    blank = _blank(values)
    verdicts.reject(blank, Reason.MISSING_VALUE, f"{column}: empty")
    text = values.astype("string").str.strip().str.lower()
    if pd.api.types.is_numeric_dtype(values):
        literal_nan = values.isna()
    else:
        literal_nan = text.isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity"]).fillna(False)
    nonfinite = pd.Series(~np.isfinite(numbers), index=values.index) & (numbers.notna() | literal_nan)
    unparseable = numbers.isna() & ~literal_nan
    verdicts.reject(unparseable, Reason.UNPARSEABLE_NUMBER, f"{column}: not a number: " + text.fillna(""))
    verdicts.reject(nonfinite, Reason.NAN_OR_INF, f"{column}: NaN or infinite")
    return numbers


def _check_values(frame: pd.DataFrame, kind: DataKind, verdicts: _Verdicts) -> None:
    for column in PRICE_COLUMNS[kind]:
        if column in frame.columns:
            verdicts.reject(frame[column] <= 0, Reason.NON_POSITIVE_PRICE, f"{column}: must be > 0")
    for column in ("volume", "size", "bid_size", "ask_size"):
        if column in frame.columns:
            bad = frame[column] <= 0 if column == "size" else frame[column] < 0
            verdicts.reject(bad, Reason.NEGATIVE_SIZE, f"{column}: must be {'>' if column == 'size' else '>='} 0")
    if kind is DataKind.BARS:
        _check_bar_ranges(frame, verdicts)
    if {"bid", "ask"} <= set(frame.columns):
        detail = "bid " + frame["bid"].astype("string") + " > ask " + frame["ask"].astype("string")
        verdicts.reject(frame["bid"] > frame["ask"], Reason.CROSSED_QUOTE, detail)
    if kind is DataKind.BOOK:
        _check_book(frame, verdicts)


def _check_bar_ranges(frame: pd.DataFrame, verdicts: _Verdicts) -> None:
    high, low = frame["high"], frame["low"]
    verdicts.reject(high < low, Reason.HIGH_BELOW_LOW, "high below low")
    opened = frame["open"]
    verdicts.reject((opened < low) | (opened > high), Reason.OPEN_OUTSIDE_RANGE, "open outside [low, high]")
    verdicts.reject(
        (frame["close"] < low) | (frame["close"] > high), Reason.CLOSE_OUTSIDE_RANGE, "close outside [low, high]"
    )


def _check_book(frame: pd.DataFrame, verdicts: _Verdicts) -> None:
    depth = book_depth(list(frame.columns))
    for i in range(depth):
        for side in ("bid", "ask"):
            price = frame[f"{side}_price_{i}"]
            verdicts.reject(price <= 0, Reason.NON_POSITIVE_PRICE, f"{side}_price_{i}: must be > 0")
            size = frame[f"{side}_size_{i}"]
            verdicts.reject(size < 0, Reason.NEGATIVE_SIZE, f"{side}_size_{i}: must be >= 0")
    verdicts.reject(frame["bid_price_0"] > frame["ask_price_0"], Reason.CROSSED_QUOTE, "best bid above best ask")
    for i in range(1, depth):
        worse_bid = frame[f"bid_price_{i}"] > frame[f"bid_price_{i - 1}"]
        worse_ask = frame[f"ask_price_{i}"] < frame[f"ask_price_{i - 1}"]
        verdicts.reject(worse_bid | worse_ask, Reason.BOOK_LEVELS_OUT_OF_ORDER, f"level {i} out of price order")


def _duplicate_key(kind: DataKind, columns: list[str]) -> list[str]:
    if kind in (DataKind.BARS, DataKind.BOOK):
        return [TIME]
    if kind is DataKind.TRADES and "trade_id" in columns:
        return ["trade_id"]
    return [c for c in columns if c not in (LINE, RAW)]


def _check_order(frame: pd.DataFrame, kind: DataKind, verdicts: _Verdicts) -> None:
    """Out of order: earlier than a previous accepted row. Duplicate: same key as an earlier row."""
    standing = frame[verdicts.ok]
    ts = standing[TIME]
    previous_max = ts.cummax().shift()
    late = ts < previous_max
    verdicts.reject(late.reindex(frame.index), Reason.OUT_OF_ORDER, "timestamp earlier than a previous row")
    standing = frame[verdicts.ok]
    dupes = standing.duplicated(subset=_duplicate_key(kind, list(frame.columns)), keep="first")
    key = ", ".join(_duplicate_key(kind, list(frame.columns)))
    verdicts.reject(dupes.reindex(frame.index), Reason.DUPLICATE, f"same {key} as an earlier row")


def _rejects(src: pd.DataFrame, verdicts: _Verdicts, bad_lines: pd.DataFrame) -> pd.DataFrame:
    hit = ~verdicts.ok
    raw = src.loc[hit, RAW].astype("string")
    if (raw == "").all() and hit.any():
        raw = src.loc[hit].drop(columns=[LINE, RAW]).astype("string").fillna("NaN").agg(",".join, axis=1)
    found = pd.DataFrame(
        {LINE: src.loc[hit, LINE], "reason": verdicts.reason[hit], "detail": verdicts.detail[hit], RAW: raw}
    )
    both = pd.concat([bad_lines[REJECT_COLUMNS], found], ignore_index=True) if len(bad_lines) else found
    return both.sort_values(LINE, kind="stable").reset_index(drop=True).astype({LINE: "int64"})
