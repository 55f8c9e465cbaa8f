"""Ingest files into the market-data store and register their symbols as Dagster partitions."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from assets.partitions import symbols_partitions
from models.marketdata.ingest import LoadResult, load_bid_ask, load_file
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from models.marketdata.store import BatchManifest, MarketDataStore, check_symbol


def ingest(
    store: MarketDataStore,
    instance: DagsterInstance,
    path: Path,
    symbol: str,
    kind: DataKind,
    time_format: str | None = None,
    ask_path: Path | None = None,
) -> BatchManifest:
    """Validate ``path`` (joined with ``ask_path`` when given), store it, add the partition."""
    check_symbol(symbol)
    result: LoadResult
    if ask_path is not None:
        if kind is not DataKind.BARS:
            raise ValueError(f"ask: a separate ask file only applies to bars, not {kind}")
        result = load_bid_ask(path, ask_path, time_format)
    else:
        result = load_file(path, kind, time_format)
    manifest = store.write_batch(symbol, result, time_format)
    register_symbols(instance, [symbol])
    return manifest


def register_symbols(instance: DagsterInstance, symbols: list[str]) -> None:
    name = symbols_partitions.name
    assert name is not None
    known = set(instance.get_dynamic_partitions(name))
    new = [s for s in dict.fromkeys(symbols) if s not in known]
    if new:
        instance.add_dynamic_partitions(name, new)


def ingest_samples(store: MarketDataStore, instance: DagsterInstance) -> list[BatchManifest]:
    """Ingest every dataset shipped with rtopt (the demo's input)."""
    manifests = [store.write_batch(s.symbol, s.load(), s.time_format) for s in SAMPLES]
    register_symbols(instance, [m.symbol for m in manifests])
    return manifests
