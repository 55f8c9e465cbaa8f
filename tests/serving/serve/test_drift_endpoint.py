"""The online drift signal through a running Serve app: GET /v1/drift, /v1/status, /metrics and the sensor.

One shard, a small PSI window; the held-out BTC-PERP bars go in as one batch. The champion was registered
by ``register_bundle`` without a backtest expectation, so performance drift must say so instead of judging.
The sensor reads the same app over real HTTP, and must request a run exactly when the app says drifted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dagster import DagsterInstance, build_sensor_context

from orchestration.jobs import training_job
from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV
from orchestration.online_drift_sensor import build_online_drift_sensor
from tests.serving.serve.conftest import RunningApp, running_app


def _admin() -> dict[str, str]:
    """The admin token the running app reads (``running_app`` exports it while the app runs)."""
    return {"Authorization": f"Bearer {os.environ[ADMIN_TOKEN_ENV]}"}


@pytest.fixture(scope="module")
def drift_app(
    tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> Iterator[RunningApp]:
    home = tmp_path_factory.mktemp("serve-drift")
    with running_app(home, decision_bundle_dir, drift_window=300, drift_min_events=200, registry_poll_s=0) as app:
        reply = requests.post(f"{app.url}/v1/decisions", json={"events": btc_events}, timeout=300)
        assert reply.status_code == 200, reply.text
        yield app


def test_drift_given_decided_events_returns_psi_window_and_why_performance_is_not_judged(
    drift_app: RunningApp, btc_events: list[dict[str, Any]]
) -> None:
    answer = requests.get(f"{drift_app.url}/v1/drift", headers=_admin(), timeout=30).json()

    (shard,) = answer["shards"]
    features, performance = shard["drift"]["features"], shard["drift"]["performance"]
    assert features["window"] == 300 and features["window_size"] == 300 and features["threshold"] == 0.25
    assert len(features["psi"]) > 10 and features["max_psi"] == answer["max_psi"]
    assert answer["drifted"] == features["drifted"] == (features["max_psi"] >= 0.25)
    assert performance["decisions"] == len(btc_events) and not performance["drifted"]
    assert "no backtest expectation" in shard["drift"]["notes"]["performance"]
    assert shard["guard"]["armed"] is False and answer["registry"]["error"] is None


def test_drift_given_no_token_returns_401(drift_app: RunningApp) -> None:
    assert requests.get(f"{drift_app.url}/v1/drift", timeout=30).status_code == 401


def test_status_and_metrics_given_decided_events_return_the_drift_signal(drift_app: RunningApp) -> None:
    status = requests.get(f"{drift_app.url}/v1/status", timeout=30).json()
    metrics = requests.get(f"{drift_app.url}/metrics", timeout=30).text

    assert status["shards"][0]["drift"]["features"]["window"] == 300
    assert 'rtopt_feature_psi_max{shard="0"}' in metrics and "rtopt_feature_psi{" in metrics


def test_online_drift_sensor_given_running_app_returns_run_exactly_when_app_says_drifted(
    drift_app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SERVE_URL_ENV, drift_app.url)
    answer = requests.get(f"{drift_app.url}/v1/drift", headers=_admin(), timeout=30).json()
    sensor = build_online_drift_sensor(training_job.name)

    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))

    assert bool(result.run_requests) == answer["drifted"]
    if answer["drifted"]:
        assert result.run_requests[0].run_key == f"online-drift-{answer['key']}"
    else:
        assert "no online drift" in result.skip_message
