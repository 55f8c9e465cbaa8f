"""Resources bound from the settings: the one place assets meet the environment."""

from __future__ import annotations

from dagster import ConfigurableResource

from assets.resources import FeatureStoreResource, MarketDataResource, MlflowResource
from orchestration.settings import Settings


def build_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "market_data": MarketDataResource(root=str(settings.market_data_root)),
        "feature_store": FeatureStoreResource(
            repo=str(settings.feast_repo),
            yaml_file=str(settings.feast_yaml),
            offline_root=str(settings.offline_features_root),
        ),
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
            artifact_root=settings.mlflow_artifact_root,
        ),
    }
