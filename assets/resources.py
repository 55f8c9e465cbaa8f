"""Dagster resources the assets use; each wraps a real local implementation from models/."""

from __future__ import annotations

from pathlib import Path

import mlflow
from dagster import ConfigurableResource
from feast import FeatureStore

from models.marketdata.store import MarketDataStore
from serving.features.feast_repo import open_store


class MarketDataResource(ConfigurableResource):
    """The Parquet market-data store, and the bounds the data-quality checks hold it to."""

    root: str
    max_gap_minutes: float = 60.0

    def store(self) -> MarketDataStore:
        return MarketDataStore(Path(self.root))


class FeatureStoreResource(ConfigurableResource):
    """The Feast repository, the environment's feature_store.yaml, and where offline features go."""

    repo: str
    yaml_file: str
    offline_root: str

    def store(self) -> FeatureStore:
        return open_store(Path(self.repo), Path(self.yaml_file))


class MlflowResource(ConfigurableResource):
    """MLflow tracking server and model registry (SQLite + local artifacts by default)."""

    tracking_uri: str
    registry_uri: str
    artifact_root: str
    experiment: str = "rtopt"

    def activate(self) -> None:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
