"""`rtopt scenario` end to end: drift -> retraining -> challenger -> shadow -> gate -> (swap), and its records.

Starts Ray Serve: run it alone with the other Ray tests, e.g. ``flock /tmp/ray.lock pytest -m scenario``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis
from dagster import DagsterInstance, RunsFilter
from mlflow import MlflowClient

from orchestration.cli import main
from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV
from orchestration.scenario_cli import SCENARIO_REDIS_DB
from orchestration.scenario_report import REQUIRED_KEYS
from orchestration.settings import load_settings

pytestmark = pytest.mark.scenario


@pytest.fixture
def scenario_env(rtopt_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the scenario exports (tokens, the app's URL) is undone after the test."""
    for name in (ADMIN_TOKEN_ENV, "RTOPT_TOKEN_ADMIN", SERVE_URL_ENV, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
        monkeypatch.delenv(name)
    return rtopt_home


def test_rtopt_scenario_given_shifted_real_data_returns_complete_chain_without_failed_requests(
    scenario_env: Path, tmp_path: Path
) -> None:
    output, home = tmp_path / "scenario.json", scenario_env / "scenario"

    code = main(["scenario", "--home", str(home), "--output", str(output), "--total-steps", "256"])

    report = json.loads(output.read_text())
    assert code == 0
    assert set(REQUIRED_KEYS) <= set(report)
    assert report["drift_detected"] is True and report["drift_detection_delay_s"] > 0
    assert report["swap_failed_requests"] == 0 and report["traffic"]["failures"] == []
    assert report["traffic"]["exhausted"] is False
    gate = report["gate"]
    assert report["gate_decision"] == ("promote" if gate["promote"] else "archive")
    assert gate["n_decisions"] >= gate["config"]["min_decisions"]
    assert report["drift_to_serving_s"] > 0
    settings = load_settings({**os.environ, "RTOPT_HOME": str(home)})
    _assert_online_store_is_the_scenarios(settings.online_store.backend, settings.online_store.redis_url)
    _assert_dagster_records(settings.dagster_home, report)
    _assert_registry_and_audit(settings.mlflow_tracking_uri, report)


def _assert_online_store_is_the_scenarios(backend: str, redis_url: str | None) -> None:
    """The shifted week's features went to the scenario's Redis database, not the shared one."""
    if backend != "redis" or redis_url is None:
        return
    assert redis_url.endswith(f"/{SCENARIO_REDIS_DB}")
    keys = list(redis.Redis.from_url(redis_url).scan_iter())
    assert any(b"BTC-PERP" in k for k in keys)


def _assert_dagster_records(dagster_home: Path, report: dict[str, Any]) -> None:
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with DagsterInstance.get() as instance:
        runs = instance.get_run_records(RunsFilter(tags={"rtopt/scenario": str(report["scenario_id"])}))
        by_sensor = {r.dagster_run.tags.get("dagster/sensor_name"): r.dagster_run for r in runs}
    assert all(r.dagster_run.is_success for r in runs)
    retrain = by_sensor["drift_sensor"]
    assert retrain.run_id == report["retrain_run_id"] and retrain.job_name == "training_job"
    assert retrain.tags["rtopt/trigger"] == "drift" and retrain.tags["dagster/run_key"].startswith("drift-")
    assert by_sensor["new_challenger_sensor"].job_name == "shadow_start_job"
    verdict = by_sensor["shadow_comparison_sensor"]
    assert verdict.job_name == "promotion_job" and verdict.tags["rtopt/challenger"] == report["challenger_version"]


def _assert_registry_and_audit(tracking_uri: str, report: dict[str, Any]) -> None:
    client = MlflowClient(tracking_uri, tracking_uri)
    challenger = str(report["challenger_version"])
    ppo_version = challenger.rsplit("ppo", 1)[1]
    assert report["registered"] == {
        name: {"version": "2", "alias": "challenger"}
        for name in ("rtopt-ddpg", "rtopt-ppo", "rtopt-regime", "rtopt-bandit")
    }
    aliases = {alias: str(version) for alias, version in client.get_registered_model("rtopt-ppo").aliases.items()}
    lifecycle = report["audit"]["lifecycle"]
    if report["gate_decision"] == "promote":
        assert aliases["champion"] == ppo_version
        assert [r["kind"] for r in lifecycle] == ["model_promotion"]
        served = report["traffic"]["actor_versions"]
        assert served.get(f"rtopt-ppo/{ppo_version}", 0) > 0
        assert report["serve_status"]["active_models"]["actor"] == f"rtopt-ppo/{ppo_version}"
    else:
        assert aliases["champion"] == "1" and "challenger" not in aliases
        assert [r["kind"] for r in lifecycle] == ["challenger_archived"]
        assert client.get_model_version("rtopt-ppo", ppo_version).tags["archived_reason"]
    assert report["audit"]["hash_chain_ok"] is True
    assert report["audit"]["records_by_kind"]["decision"] == report["traffic"]["decisions"]
