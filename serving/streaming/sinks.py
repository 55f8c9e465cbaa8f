"""Where feature rows go: the ``FeatureSink`` protocol, an offline Parquet sink and an in-memory one.

Delivery from the Redis worker is at-least-once: a worker that dies after ``write`` but before its
commit is replayed from the last checkpoint and writes the same rows again. A sink is therefore
expected to be idempotent per (symbol, event_timestamp, event_id). The processor emits each symbol's
rows in strictly increasing (timestamp_ns, event_id) order, which makes that cheap: a row at or below
the last key written for its symbol is a replay and is skipped. ``ParquetSink`` does this and finds
its last keys again in the files after a restart; ``MemorySink`` keeps every write so tests can see
exactly what a worker wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.features.definitions import FEATURE_NAMES
from models.streaming.processor import FeatureRow

PART_GLOB = "part-*.parquet"
_PART = re.compile(r"^part-(\d+)\.parquet$")
Key = tuple[int, str]


@runtime_checkable
class FeatureSink(Protocol):
    """Receives each batch's feature rows before the batch is acknowledged; raise to stop the worker."""

    def write(self, rows: Sequence[FeatureRow]) -> None: ...


class MemorySink:
    """Keeps every row written, in order, duplicates included (for tests and small replays)."""

    def __init__(self) -> None:
        self.rows: list[FeatureRow] = []
        self.writes = 0

    def write(self, rows: Sequence[FeatureRow]) -> None:
        self.rows.extend(rows)
        self.writes += 1


class ParquetSink:
    """Offline store: appends ``root/<symbol>/part-<n>.parquet`` per symbol and batch.

    Columns: ``symbol``, ``event_timestamp`` (timestamp[ns, UTC]), ``event_id``, then one float64
    column per feature name; the layout a Feast file source reads. The symbol is percent-encoded in
    the folder name (``EUR/USD`` -> ``EUR%2FUSD``). A part is written to a hidden temporary file and
    renamed, so a crash never leaves a truncated part behind. Rows at or below the last key already
    written for their symbol are skipped (see the module docstring), so replays add nothing.
    """

    def __init__(self, root: Path, names: Sequence[str] = FEATURE_NAMES) -> None:
        self.root = Path(root)
        self.names = tuple(names)
        self._last: dict[str, Key | None] = {}
        self._next_part: dict[str, int] = {}
        self.skipped = 0
        """Rows dropped as replays of rows already written."""

    def write(self, rows: Sequence[FeatureRow]) -> None:
        by_symbol: dict[str, list[FeatureRow]] = {}
        for row in rows:
            by_symbol.setdefault(row.symbol, []).append(row)
        for symbol, group in by_symbol.items():
            self._write_symbol(symbol, group)

    def _write_symbol(self, symbol: str, rows: list[FeatureRow]) -> None:
        folder = self.root / quote(symbol, safe="")
        if symbol not in self._last:
            self._last[symbol], self._next_part[symbol] = _resume(folder)
        last = self._last[symbol]
        fresh = rows if last is None else [r for r in rows if (r.timestamp_ns, r.event_id) > last]
        self.skipped += len(rows) - len(fresh)
        if not fresh:
            return
        folder.mkdir(parents=True, exist_ok=True)
        part = self._next_part[symbol]
        path = folder / f"part-{part:06d}.parquet"
        tmp = folder / f".{path.name}.tmp"
        pq.write_table(self._table(symbol, fresh), tmp)
        tmp.replace(path)
        self._next_part[symbol] = part + 1
        self._last[symbol] = (fresh[-1].timestamp_ns, fresh[-1].event_id)

    def _table(self, symbol: str, rows: list[FeatureRow]) -> pa.Table:
        width = len(rows[0].vector)
        if len(self.names) != width:
            raise ValueError(f"names: {len(self.names)} feature names for vectors of length {width}")
        values = np.vstack([r.vector for r in rows])
        ts = pa.array(np.fromiter((r.timestamp_ns for r in rows), np.int64, len(rows)), pa.timestamp("ns", tz="UTC"))
        columns = {
            "symbol": pa.array([symbol] * len(rows), pa.string()),
            "event_timestamp": ts,
            "event_id": pa.array([r.event_id for r in rows], pa.string()),
        }
        columns |= {name: pa.array(values[:, j]) for j, name in enumerate(self.names)}
        return pa.table(columns)


def _parts(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = ((_PART.match(p.name), p) for p in folder.iterdir())
    return sorted((int(m.group(1)), p) for m, p in found if m)


def _resume(folder: Path) -> tuple[Key | None, int]:
    """The last key written to ``folder`` (the last row of its newest part) and the next part number."""
    parts = _parts(folder)
    if not parts:
        return None, 0
    number, path = parts[-1]
    table = pq.read_table(path, columns=["event_timestamp", "event_id"])
    ts = table.column("event_timestamp").cast(pa.int64())[-1].as_py()
    return (int(ts), str(table.column("event_id")[-1].as_py())), number + 1


def read_parquet_features(root: Path, symbol: str | None = None) -> pd.DataFrame:
    """Every row a ``ParquetSink`` wrote under ``root`` (or for one symbol), in part order per symbol."""
    root = Path(root)
    folders = [root / quote(symbol, safe="")] if symbol is not None else sorted(p for p in root.iterdir() if p.is_dir())
    tables = [pq.read_table(path) for folder in folders for _, path in _parts(folder)]
    if not tables:
        return pd.DataFrame(columns=["symbol", "event_timestamp", "event_id"])
    return pa.concat_tables(tables).to_pandas().reset_index(drop=True)
