"""Read CSV and Parquet market-data files into a table of source values with line numbers.

CSV is read with the ``csv`` module rather than ``pandas.read_csv`` so that every row keeps its
physical line number and a row with the wrong number of fields is rejected with a reason
instead of silently dropped or shifted.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.marketdata.schema import HEADERLESS, TIME, TIME_ALIASES, DataKind, canonical_name

LINE = "_line"
RAW = "_raw"
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


class LoaderError(ValueError):
    """The file as a whole cannot be read: missing, empty, binary, or of an unknown layout."""


@dataclass(frozen=True, slots=True)
class SourceTable:
    """Source values in canonical column names, plus ``_line`` and ``_raw`` per row.

    ``bad_lines`` holds rows that could not be split into the header's fields.
    """

    frame: pd.DataFrame
    bad_lines: pd.DataFrame
    columns_from_header: bool


def read_source(path: Path, kind: DataKind) -> SourceTable:
    """Read ``path`` (CSV or Parquet) for ``kind``; raises LoaderError if unreadable or empty."""
    if not path.is_file():
        raise LoaderError(f"{path}: no such file")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path, kind)
    return _read_csv(path, kind)


def _read_parquet(path: Path, kind: DataKind) -> SourceTable:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise LoaderError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    if frame.empty:
        raise LoaderError(f"{path}: file has no rows")
    frame = frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
    frame = _rename(frame, kind, [str(c) for c in frame.columns])
    frame[LINE] = range(1, len(frame) + 1)
    frame[RAW] = ""
    return SourceTable(frame=frame, bad_lines=_empty_bad_lines(), columns_from_header=True)


def _read_text(path: Path) -> str:
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise LoaderError(f"{path}: cannot read ({exc})") from exc
    if b"\x00" in data[:4096]:
        raise LoaderError(f"{path}: looks binary, not CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def _read_csv(path: Path, kind: DataKind) -> SourceTable:
    text = _read_text(path)
    dialect = _sniff(text)
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text), dialect), start=1) if r]
    if not rows:
        raise LoaderError(f"{path}: file is empty")
    has_header = not _looks_like_data(rows[0][1][0])
    if has_header:
        names, body = [c.strip() for c in rows[0][1]], rows[1:]
    else:
        names, body = list(_headerless_names(path, kind, len(rows[0][1]))), rows
    if not body:
        raise LoaderError(f"{path}: file has a header but no rows")
    width = len(names)
    good = [(n, r) for n, r in body if len(r) == width]
    bad = [(n, r) for n, r in body if len(r) != width]
    frame = pd.DataFrame([r for _, r in good], columns=names, dtype="string")
    frame = _rename(frame, kind, names)
    frame[LINE] = [n for n, _ in good]
    frame[RAW] = [",".join(r) for _, r in good]
    bad_lines = pd.DataFrame(
        {
            LINE: [n for n, _ in bad],
            "reason": "unparseable_line",
            "detail": [f"expected {width} fields, got {len(r)}" for _, r in bad],
            RAW: [",".join(r) for _, r in bad],
        }
    )
    return SourceTable(frame=frame, bad_lines=bad_lines, columns_from_header=has_header)


def _sniff(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _looks_like_data(first_cell: str) -> bool:
    """A header's first cell is a name; a data row's first cell starts with a digit."""
    cell = first_cell.strip()
    return bool(cell) and cell[0].isdigit()


def _headerless_names(path: Path, kind: DataKind, width: int) -> tuple[str, ...]:
    layouts = HEADERLESS[kind]
    if width not in layouts:
        known = ", ".join(f"{n} ({'/'.join(c)})" for n, c in layouts.items()) or "none"
        raise LoaderError(
            f"{path}: no header row and {width} fields; for {kind} the headerless layouts are "
            f"{known}. Add a header row naming the columns."
        )
    return layouts[width]


def _rename(frame: pd.DataFrame, kind: DataKind, names: list[str]) -> pd.DataFrame:
    canonical = [canonical_name(n, kind) for n in names]
    lowered = [n.strip().lower() for n in names]
    if TIME not in canonical:
        canonical = _pick_time_column(canonical, lowered)
    dupes = {c for c in canonical if canonical.count(c) > 1}
    if dupes:
        raise LoaderError(f"columns: {sorted(dupes)} appear more than once after normalising names")
    out = frame.copy()
    out.columns = pd.Index(canonical)
    return out


def _pick_time_column(canonical: list[str], lowered: list[str]) -> list[str]:
    if "date" in lowered and "time" in lowered:
        raise LoaderError("columns: separate 'date' and 'time' columns; join them into one timestamp")
    for i, name in enumerate(lowered):
        if name in TIME_ALIASES or name.startswith("unnamed: 0"):
            return [TIME if j == i else c for j, c in enumerate(canonical)]
    raise LoaderError(
        f"columns: no time column among {lowered}; name it timestamp, time, date or datetime, "
        "or leave the first column unnamed"
    )


def _empty_bad_lines() -> pd.DataFrame:
    return pd.DataFrame({LINE: pd.Series(dtype="int64"), "reason": "", "detail": "", RAW: ""})
