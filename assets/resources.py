"""Dagster resources the assets use; each wraps a real local implementation from models/."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from models.marketdata.store import MarketDataStore


class MarketDataResource(ConfigurableResource):
    """The Parquet market-data store, and the bounds the data-quality checks hold it to."""

    root: str
    max_gap_minutes: float = 60.0

    def store(self) -> MarketDataStore:
        return MarketDataStore(Path(self.root))
