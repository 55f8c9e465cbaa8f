"""drift_sensor: one retraining request per drifted report, none twice; the schedules ask once per symbol and day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
    validate_run_config,
)

from assets.drift import ASSET
from assets.features import feature_assets
from assets.market_data import market_data_assets
from assets.models import model_assets
from assets.resources import MarketDataResource
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from models.marketdata.store import MarketDataStore
from orchestration.jobs import platform_job, training_job
from orchestration.resources import build_resources
from orchestration.schedules import build_daily_backfill_schedule, build_daily_drift_schedule
from orchestration.sensors import DRIFT_REPORT_KEY, REASON_TAG, TRIGGER_TAG, build_drift_sensor, training_run_config
from orchestration.settings import Settings

SENSOR = build_drift_sensor("training_job")


def _report(instance: DagsterInstance, drifted: bool, symbol: str = "BTC-PERP") -> int:
    """Record a drift report materialization as the asset writes it; return its storage id."""
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key=ASSET,
            metadata={
                "symbol": symbol,
                "drifted": drifted,
                "drift_share": 0.6 if drifted else 0.1,
                "drift_reason": "12/19 features drifted (ret_15,roc_10,ma_cross) in sideways",
            },
        )
    )
    return instance.fetch_materializations(DRIFT_REPORT_KEY, limit=1).records[0].storage_id


def test_evaluate_tick_given_drifted_report_returns_one_run_request_with_key_and_tags() -> None:
    instance = DagsterInstance.ephemeral()
    storage_id = _report(instance, drifted=True, symbol="GBPUSD")

    tick = SENSOR.evaluate_tick(build_sensor_context(instance=instance))

    (request,) = tick.run_requests or []
    assert request.run_key == f"drift-{storage_id}"
    assert request.tags[TRIGGER_TAG] == "drift"
    assert request.tags[REASON_TAG].startswith("12/19 features drifted")
    assert request.tags["rtopt/symbol"] == "GBPUSD"
    assert request.run_config == training_run_config("GBPUSD")
    assert tick.cursor == str(storage_id)


def test_evaluate_tick_given_cursor_of_handled_report_returns_skip() -> None:
    instance = DagsterInstance.ephemeral()
    _report(instance, drifted=True)
    first = SENSOR.evaluate_tick(build_sensor_context(instance=instance))

    again = SENSOR.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))

    assert not again.run_requests
    assert again.skip_message is not None and "no feature_drift_report since" in again.skip_message


def test_evaluate_tick_given_undrifted_report_returns_skip_and_advances_cursor() -> None:
    instance = DagsterInstance.ephemeral()
    storage_id = _report(instance, drifted=False)

    tick = SENSOR.evaluate_tick(build_sensor_context(instance=instance))

    assert not tick.run_requests
    assert tick.skip_message is not None and "no drift" in tick.skip_message
    assert tick.cursor == str(storage_id)


def test_evaluate_tick_given_new_drifted_report_after_cursor_returns_new_run_key() -> None:
    instance = DagsterInstance.ephemeral()
    _report(instance, drifted=True)
    first = SENSOR.evaluate_tick(build_sensor_context(instance=instance))
    later = _report(instance, drifted=True)

    second = SENSOR.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))

    assert [r.run_key for r in second.run_requests or []] == [f"drift-{later}"]


def test_evaluate_tick_given_reports_since_cursor_returns_request_only_if_newest_drifted() -> None:
    instance = DagsterInstance.ephemeral()
    _report(instance, drifted=True)
    _report(instance, drifted=False)

    tick = SENSOR.evaluate_tick(build_sensor_context(instance=instance))

    assert not tick.run_requests


def test_evaluate_tick_given_report_without_verdict_raises() -> None:
    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(AssetMaterialization(asset_key=ASSET, metadata={"symbol": "BTC-PERP"}))

    with pytest.raises(Exception, match="lacks metadata"):
        SENSOR.evaluate_tick(build_sensor_context(instance=instance))


def test_training_run_config_given_symbol_returns_valid_training_job_config(rtopt_settings: Settings) -> None:
    defs = Definitions(
        assets=[*market_data_assets, *feature_assets, *model_assets],
        jobs=[training_job],
        resources=build_resources(rtopt_settings),
    )

    validated = validate_run_config(defs.resolve_job_def("training_job"), training_run_config("GBPUSD"))

    assert {op: cfg["config"]["symbol"] for op, cfg in validated["ops"].items()} == {
        a.op.name: "GBPUSD" for a in model_assets
    }


def test_daily_backfill_schedule_given_symbols_returns_one_keyed_partition_run_each(rtopt_settings: Settings) -> None:
    schedule = build_daily_backfill_schedule("platform_job")
    repository = Definitions(
        assets=[*market_data_assets, *feature_assets],
        jobs=[platform_job],
        schedules=[schedule],
        resources=build_resources(rtopt_settings),
    ).get_repository_def()
    when = datetime(2024, 5, 2, 1, 0, tzinfo=UTC)
    with instance_for_test() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repository)
        empty = schedule.evaluate_tick(context)
        instance.add_dynamic_partitions("symbols", ["BTC-PERP", "EURUSD"])

        tick = schedule.evaluate_tick(context)

    assert empty.skip_message is not None and "rtopt ingest" in empty.skip_message
    requests = tick.run_requests or []
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("BTC-PERP", "backfill-2024-05-02-BTC-PERP"),
        ("EURUSD", "backfill-2024-05-02-EURUSD"),
    ]


def test_daily_drift_schedule_given_symbols_returns_runs_only_for_symbols_with_bars(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    btc = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    store.write_batch(btc.symbol, btc.load(), None)
    store.write_curated(DataKind.BARS, btc.symbol, store.curate(DataKind.BARS, btc.symbol).frame)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("symbols", ["BTC-PERP", "EURUSD"])
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2024, 5, 2, 2, 0, tzinfo=UTC),
            resources={"market_data": MarketDataResource(root=str(tmp_path))},
        ) as context:
            tick = build_daily_drift_schedule("drift_job").evaluate_tick(context)

    (request,) = tick.run_requests or []
    assert request.run_key == "drift-report-2024-05-02-BTC-PERP"
    assert request.run_config["ops"][ASSET]["config"]["symbol"] == "BTC-PERP"
