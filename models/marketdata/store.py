"""The market-data store: validated Parquet batches, their rejects, and the curated tables.

Layout under ``root``::

    landing/<kind>/<symbol>/<batch>.parquet   one per ingested file (batch = content hash)
    landing/<kind>/<symbol>/<batch>.json      what was ingested: sources, counts, time range
    rejects/<kind>/<symbol>/<batch>.csv       every rejected row: line, reason, detail, raw
    curated/<kind>/<symbol>.parquet           all batches merged, time-ordered (the asset)

Ingesting the same file twice writes the same batch id, so it is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from models.marketdata.ingest import LoadResult
from models.marketdata.loaders import LINE
from models.marketdata.schema import TIME, DataKind
from models.marketdata.validation import REJECT_COLUMNS, Reason

SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` if usable as a folder name and a Dagster partition key, else raise."""
    if not SYMBOL_RE.match(symbol):
        raise ValueError(
            f"symbol: {symbol!r} must be 1-32 characters of letters, digits, '.', '_' or '-' "
            "(for example BTC-PERP or GBPUSD)"
        )
    return symbol


@dataclass(frozen=True, slots=True)
class BatchManifest:
    """What one ingest stored."""

    batch_id: str
    kind: str
    symbol: str
    sources: tuple[str, ...]
    time_format: str | None
    accepted: int
    rejected: int
    first: str | None
    last: str | None
    data_path: str
    rejects_path: str


@dataclass(frozen=True, slots=True)
class Curated:
    """Merged batches of one (kind, symbol): rows, plus rows that conflicted across batches."""

    frame: pd.DataFrame
    conflicts: pd.DataFrame
    batch_rejects: int


class MarketDataStore:
    """Parquet files on a local path (or any mounted filesystem)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _landing(self, kind: DataKind, symbol: str) -> Path:
        return self.root / "landing" / kind.value / check_symbol(symbol)

    def curated_path(self, kind: DataKind, symbol: str) -> Path:
        return self.root / "curated" / kind.value / f"{check_symbol(symbol)}.parquet"

    def write_batch(self, symbol: str, result: LoadResult, time_format: str | None) -> BatchManifest:
        """Store accepted rows and rejects of one load; returns the manifest it wrote."""
        batch_id = _batch_id(result, time_format)
        landing = self._landing(result.kind, symbol)
        rejects_dir = self.root / "rejects" / result.kind.value / check_symbol(symbol)
        landing.mkdir(parents=True, exist_ok=True)
        rejects_dir.mkdir(parents=True, exist_ok=True)
        data_path, rejects_path = landing / f"{batch_id}.parquet", rejects_dir / f"{batch_id}.csv"
        result.frame.to_parquet(data_path, index=False)
        rejects = result.rejects.rename(columns={LINE: "line", "_raw": "raw"})
        rejects.insert(0, "source", ";".join(str(s) for s in result.sources))
        rejects.to_csv(rejects_path, index=False)
        ts = result.frame[TIME] if len(result.frame) else None
        manifest = BatchManifest(
            batch_id=batch_id,
            kind=result.kind.value,
            symbol=symbol,
            sources=tuple(str(s) for s in result.sources),
            time_format=time_format,
            accepted=result.accepted_count,
            rejected=result.rejected_count,
            first=None if ts is None else ts.iloc[0].isoformat(),
            last=None if ts is None else ts.iloc[-1].isoformat(),
            data_path=str(data_path),
            rejects_path=str(rejects_path),
        )
        (landing / f"{batch_id}.json").write_text(json.dumps(asdict(manifest), indent=2))
        return manifest

    def manifests(self, kind: DataKind, symbol: str) -> list[BatchManifest]:
        """Manifests of every batch stored for (kind, symbol), oldest write first."""
        folder = self._landing(kind, symbol)
        files = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [_manifest(json.loads(p.read_text())) for p in files]

    def symbols(self, kind: DataKind) -> list[str]:
        folder = self.root / "landing" / kind.value
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def curate(self, kind: DataKind, symbol: str) -> Curated:
        """Merge every batch, time-ordered; identical rows across batches are one row."""
        manifests = self.manifests(kind, symbol)
        if not manifests:
            raise FileNotFoundError(f"no {kind} ingested for symbol {symbol!r}; run `rtopt ingest` first")
        frames = [pd.read_parquet(m.data_path) for m in manifests]
        merged = pd.concat(frames, ignore_index=True).sort_values(TIME, kind="stable")
        merged = merged.drop_duplicates(keep="first")
        key = [TIME] if kind in (DataKind.BARS, DataKind.BOOK) else _tick_key(kind, merged)
        clash = merged.duplicated(subset=key, keep="first")
        conflicts = pd.DataFrame(
            {
                TIME: merged.loc[clash, TIME],
                "reason": Reason.DUPLICATE.value,
                "detail": f"same {', '.join(key)} as a row of an earlier batch, different values",
            }
        )
        frame = merged[~clash].reset_index(drop=True)
        return Curated(frame, conflicts.reset_index(drop=True), sum(m.rejected for m in manifests))

    def write_curated(self, kind: DataKind, symbol: str, frame: pd.DataFrame) -> Path:
        path = self.curated_path(kind, symbol)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        return path

    def read_curated(self, kind: DataKind, symbol: str) -> pd.DataFrame:
        return pd.read_parquet(self.curated_path(kind, symbol))


def _tick_key(kind: DataKind, frame: pd.DataFrame) -> list[str]:
    if kind is DataKind.TRADES and "trade_id" in frame.columns:
        return ["trade_id"]
    return list(frame.columns)


def _batch_id(result: LoadResult, time_format: str | None) -> str:
    digest = hashlib.sha256(f"{result.kind}|{time_format}".encode())
    for source in result.sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _manifest(raw: dict[str, object]) -> BatchManifest:
    sources = raw.get("sources", ())
    fields = {**raw, "sources": tuple(sources) if isinstance(sources, list | tuple) else ()}
    return BatchManifest(**fields)  # type: ignore[arg-type]


__all__ = ["REJECT_COLUMNS", "BatchManifest", "Curated", "MarketDataStore", "check_symbol"]
