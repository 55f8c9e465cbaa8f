"""Dagster Definitions: assembly only. ``workspace.yaml`` and ``dagster dev`` load ``defs``."""

from dagster import Definitions

from assets.features import feature_assets
from assets.market_data import market_data_assets
from assets.models import model_assets
from orchestration.jobs import feature_store_job, platform_job, training_job
from orchestration.resources import build_resources
from orchestration.settings import Settings, load_settings, prepare


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[*market_data_assets, *feature_assets, *model_assets],
        jobs=[platform_job, feature_store_job, training_job],
        resources=build_resources(settings),
    )


settings = load_settings()
prepare(settings)
defs = build_definitions(settings)
