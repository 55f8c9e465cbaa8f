"""Dagster Definitions: assembly only. ``workspace.yaml`` and ``dagster dev`` load ``defs``."""

from dagster import Definitions

from assets.drift import drift_assets
from assets.features import feature_assets
from assets.lifecycle import lifecycle_assets
from assets.market_data import market_data_assets
from assets.models import model_assets
from orchestration.jobs import drift_job, feature_store_job, platform_job, training_job
from orchestration.lifecycle_jobs import lifecycle_resource, promotion_job, shadow_start_job
from orchestration.online_drift_sensor import build_online_drift_sensor
from orchestration.resources import build_resources
from orchestration.schedules import build_daily_backfill_schedule, build_daily_drift_schedule
from orchestration.sensors import build_drift_sensor, build_new_challenger_sensor, build_shadow_comparison_sensor
from orchestration.settings import Settings, load_settings, prepare


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[*market_data_assets, *feature_assets, *model_assets, *drift_assets, *lifecycle_assets],
        jobs=[platform_job, feature_store_job, training_job, drift_job, promotion_job, shadow_start_job],
        sensors=[
            build_drift_sensor(training_job.name),
            build_new_challenger_sensor(shadow_start_job.name),
            build_shadow_comparison_sensor(promotion_job.name),
            build_online_drift_sensor(training_job.name),
        ],
        schedules=[build_daily_backfill_schedule(platform_job.name), build_daily_drift_schedule(drift_job.name)],
        resources={**build_resources(settings), "lifecycle": lifecycle_resource(settings)},
    )


settings = load_settings()
prepare(settings)
defs = build_definitions(settings)
