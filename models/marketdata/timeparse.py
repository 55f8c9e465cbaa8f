"""Timestamp parsing for users' files: ISO 8601, epochs, compact tick stamps, day-first dates.

Naive timestamps are taken as UTC (documented in the README); aware ones are converted to UTC.
When a slash-separated date could be read day-first or month-first and nothing in the file
decides it, parsing refuses and asks for ``time_format`` instead of guessing.
"""

from __future__ import annotations

import re
from typing import Literal, cast

import pandas as pd

COMPACT = "%Y%m%d %H%M%S%f"
NAMED_FORMATS: dict[str, str] = {"compact": COMPACT, "iso": "ISO8601"}
EPOCH_UNITS = ("s", "ms", "us", "ns")
EpochUnit = Literal["s", "ms", "us", "ns"]

_COMPACT_RE = re.compile(r"^\d{8}[ T]\d{6,9}$")
_SLASH_RE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})")
_DIGITS_RE = re.compile(r"^-?\d+$")


class TimeFormatError(ValueError):
    """The time column cannot be parsed as asked, or its format is ambiguous."""


def parse_timestamps(values: pd.Series, time_format: str | None = None) -> pd.Series:
    """Parse ``values`` to ``datetime64[ns, UTC]``; unparseable entries become NaT.

    ``time_format``: None or "auto" (detect), "compact" (``YYYYMMDD HHMMSSmmm``), "iso",
    "dayfirst", "monthfirst", "unix_s" / "unix_ms" / "unix_us" / "unix_ns", or any strftime
    pattern such as ``%d/%m/%Y %H:%M``.
    """
    fmt = (time_format or "auto").strip()
    if pd.api.types.is_datetime64_any_dtype(values):
        return _to_utc(pd.to_datetime(values, errors="coerce"))
    if fmt == "auto":
        return _parse_auto(values)
    if fmt.startswith("unix_"):
        return _parse_epoch(values, fmt.removeprefix("unix_"))
    if fmt in ("dayfirst", "monthfirst"):
        text: pd.Series = values.astype("string").str.strip()
        return _to_utc(pd.to_datetime(text, dayfirst=fmt == "dayfirst", format="mixed", errors="coerce"))
    pattern = NAMED_FORMATS.get(fmt, fmt)
    parsed = pd.to_datetime(values.astype("string").str.strip(), format=pattern, errors="coerce")
    return _to_utc(parsed)


def _to_utc(parsed: pd.Series) -> pd.Series:
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize("UTC")
    converted: pd.Series = parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return converted


def _parse_epoch(values: pd.Series, unit: str) -> pd.Series:
    if unit not in EPOCH_UNITS:
        raise TimeFormatError(f"time_format: unknown epoch unit {unit!r}; use one of {EPOCH_UNITS}")
    numbers = pd.to_numeric(values, errors="coerce")
    checked = cast(EpochUnit, unit)
    return _to_utc(pd.to_datetime(numbers, unit=checked, utc=True, errors="coerce"))


def _epoch_unit(numbers: pd.Series) -> str:
    """Pick the epoch unit by magnitude: seconds of 1973-5138 are below 1e11, and so on."""
    magnitude = float(numbers.abs().median())
    for unit, bound in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if magnitude < bound:
            return unit
    return "ns"


def _parse_auto(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        return _parse_epoch(values, _epoch_unit(numbers.dropna()))
    text = values.astype("string").str.strip()
    sample = text.dropna()
    sample = sample[sample != ""]
    if sample.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if sample.str.match(_DIGITS_RE).all():
        return _parse_epoch(text, _epoch_unit(pd.to_numeric(sample)))
    if sample.str.match(_COMPACT_RE).mean() > 0.5:
        return _to_utc(pd.to_datetime(text.str.replace("T", " "), format=COMPACT, errors="coerce"))
    slash = sample.str.extract(_SLASH_RE)
    if slash[0].notna().mean() > 0.5:
        return parse_timestamps(values, _slash_order(slash))
    return _to_utc(pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True))


def _slash_order(parts: pd.DataFrame) -> str:
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    if (first > 12).any() and not (second > 12).any():
        return "dayfirst"
    if (second > 12).any() and not (first > 12).any():
        return "monthfirst"
    raise TimeFormatError(
        "timestamp: dates like 03/04/2024 could be day-first or month-first and the file does "
        "not say which; pass time_format='dayfirst', 'monthfirst' or a strftime pattern"
    )
