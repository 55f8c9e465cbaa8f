"""Dagster Definitions: assembly only. ``workspace.yaml`` and ``dagster dev`` load this."""

from dagster import Definitions

from assets.market_data import market_data_assets
from orchestration.jobs import platform_job
from orchestration.resources import build_resources
from orchestration.settings import load_settings, prepare

settings = load_settings()
prepare(settings)

defs = Definitions(
    assets=market_data_assets,
    jobs=[platform_job],
    resources=build_resources(settings),
)
