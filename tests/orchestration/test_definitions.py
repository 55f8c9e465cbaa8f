"""The Dagster definitions load, hold every market-data asset with its checks, and validate with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from dagster import AssetCheckKey, AssetKey, DynamicPartitionsDefinition

from assets.market_data import CHECKS, asset_name
from assets.model_checks import BASELINE_CHECKS
from assets.resources import MarketDataResource
from models.marketdata.schema import DataKind
from tests.orchestration.conftest import REPO_ROOT

MARKET_DATA_KEYS = {AssetKey(asset_name(kind)) for kind in DataKind}


def test_resolve_asset_graph_given_defs_returns_the_four_market_data_assets(definitions_module: ModuleType) -> None:
    graph = definitions_module.defs.resolve_asset_graph()

    assert {key.to_user_string() for key in MARKET_DATA_KEYS} == {
        "market_bars",
        "market_quotes",
        "market_trades",
        "market_book",
    }
    assert set(graph.get_all_asset_keys()) >= MARKET_DATA_KEYS
    for key in MARKET_DATA_KEYS:
        partitions = graph.get(key).partitions_def
        assert isinstance(partitions, DynamicPartitionsDefinition)
        assert partitions.name == "symbols"


def test_resolve_asset_graph_given_defs_returns_quality_checks_per_market_data_asset(
    definitions_module: ModuleType,
) -> None:
    graph = definitions_module.defs.resolve_asset_graph()

    expected = {
        AssetCheckKey(key, check)
        for key in MARKET_DATA_KEYS
        for check in CHECKS
        if not (key == AssetKey("market_trades") and check == "no_crossed_quotes")
    }
    found = {check for check in graph.asset_check_keys if check.asset_key in MARKET_DATA_KEYS}
    assert found == expected
    assert set(CHECKS) == {"time_monotonic", "no_crossed_quotes", "no_long_gaps"}


def test_resolve_asset_graph_given_defs_returns_baseline_checks_on_the_model_evaluation(
    definitions_module: ModuleType,
) -> None:
    graph = definitions_module.defs.resolve_asset_graph()
    evaluation = AssetKey("model_evaluation")

    found = {check.name for check in graph.asset_check_keys if check.asset_key == evaluation}

    assert found == {c.name for c in BASELINE_CHECKS} == {"beats_flat", "beats_buy_and_hold", "beats_random_arm"}
    assert graph.get(evaluation).parent_keys >= {AssetKey(k) for k in ("regime_model", "ppo_agent", "strategy_bandit")}


def test_resolve_asset_graph_given_defs_returns_lineage_from_market_data_to_models_and_drift(
    definitions_module: ModuleType,
) -> None:
    graph = definitions_module.defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(AssetKey(name)).parent_keys}

    assert "market_bars" in parents("offline_features")
    assert "offline_features" in parents("ppo_agent") and "offline_features" in parents("regime_model")
    assert {"offline_features", "regime_model"} <= parents("feature_drift_report")
    assert {"model_evaluation", "feature_drift_report"} <= parents("serving_champion")


def test_resolve_job_def_given_platform_job_returns_job_over_symbols_selecting_market_data(
    definitions_module: ModuleType,
) -> None:
    defs = definitions_module.defs

    job = defs.resolve_job_def("platform_job")

    assert "platform_job" in {j.name for j in defs.resolve_all_job_defs()}
    assert isinstance(job.partitions_def, DynamicPartitionsDefinition)
    assert job.partitions_def.name == "symbols"
    assert job.asset_layer.executable_asset_keys >= MARKET_DATA_KEYS


def test_import_definitions_given_rtopt_home_returns_market_data_resource_under_that_home(
    definitions_module: ModuleType, rtopt_home: Path
) -> None:
    resource = definitions_module.defs.resources["market_data"]

    assert isinstance(resource, MarketDataResource)
    assert Path(resource.root) == rtopt_home.resolve() / "market_data"
    assert os.environ["DAGSTER_HOME"] == str(rtopt_home.resolve() / "dagster")
    assert (rtopt_home / "dagster" / "dagster.yaml").is_file()


def test_dagster_definitions_validate_given_workspace_returns_exit_zero(rtopt_home: Path) -> None:
    dagster_home = rtopt_home / "dagster"
    dagster_home.mkdir(parents=True)
    env = {**os.environ, "RTOPT_HOME": str(rtopt_home), "DAGSTER_HOME": str(dagster_home)}

    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    assert "All code locations passed validation" in done.stderr + done.stdout


def test_definitions_given_defs_return_drift_report_with_check_sensor_and_daily_schedules(
    definitions_module: ModuleType,
) -> None:
    defs = definitions_module.defs
    graph = defs.resolve_asset_graph()
    report = AssetKey("feature_drift_report")

    assert report in graph.get_all_asset_keys()
    assert graph.get(report).group_name == "monitoring"
    assert AssetCheckKey(report, "drift_share_below_threshold") in graph.asset_check_keys
    assert defs.resolve_job_def("drift_job").asset_layer.executable_asset_keys == {report}
    assert defs.resolve_sensor_def("drift_sensor").job_name == "training_job"
    schedules = {name: defs.resolve_schedule_def(name) for name in ("daily_backfill_schedule", "daily_drift_schedule")}
    assert {n: (s.job_name, s.cron_schedule) for n, s in schedules.items()} == {
        "daily_backfill_schedule": ("platform_job", "0 1 * * *"),
        "daily_drift_schedule": ("drift_job", "0 2 * * *"),
    }
