"""online_drift_sensor: one training run per drift episode the Serve app reports; faults skip, saying why.

The app is read through the factory's ``fetch`` (answers built by ``merge_drift`` as the ingress builds them),
and once over real HTTP against a port nobody listens on. The MLflow fault is a real MLflow client pointed
at a closed port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context
from mlflow import MlflowClient

from orchestration.jobs import training_job
from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV
from orchestration.online_drift_sensor import EPISODE_TAG, KIND_TAG, build_online_drift_sensor
from orchestration.sensors import (
    REASON_TAG,
    TRIGGER_TAG,
    build_new_challenger_sensor,
    build_shadow_comparison_sensor,
    training_run_config,
)
from orchestration.settings import Settings
from serving.decision.registry import ModelUnavailableError, resolve
from serving.lifecycle.serve_http import ServeRequestError
from serving.serve.ports import free_port

KEY = "1-1-2-1700000000000000000"


def _answer(drifted: bool, *, registry_error: str | None = None, key: str | None = KEY) -> dict[str, Any]:
    return {
        "drifted": drifted,
        "feature_drift": drifted,
        "performance_drift": False,
        "max_psi": 0.41 if drifted else 0.03,
        "key": key if drifted else None,
        "reasons": ["shard 0: max PSI 0.410 >= 0.25"] if drifted else [],
        "registry": {"last_check": 1.0, "error": registry_error},
    }


def _tick(answer: Mapping[str, Any] | Exception | None, cursor: str | None = None) -> Any:
    def fetch() -> Mapping[str, Any] | None:
        if isinstance(answer, Exception):
            raise answer
        return answer

    sensor = build_online_drift_sensor(training_job.name, fetch=fetch)
    return sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor))


def test_online_drift_sensor_given_drift_returns_one_training_run_keyed_on_episode() -> None:
    result = _tick(_answer(True))

    (request,) = result.run_requests
    assert request.run_key == f"online-drift-{KEY}"
    assert result.cursor == KEY
    assert request.tags[TRIGGER_TAG] == "online_drift" and request.tags[EPISODE_TAG] == KEY
    assert request.tags[KIND_TAG] == "feature_drift" and "max PSI 0.410" in request.tags[REASON_TAG]
    assert request.run_config == training_run_config("BTC-PERP")  # validated in test_sensors


def test_online_drift_sensor_given_same_episode_again_returns_skip() -> None:
    result = _tick(_answer(True), cursor=KEY)

    assert not result.run_requests
    assert "retraining requested already" in result.skip_message


def test_online_drift_sensor_given_no_drift_returns_skip_with_max_psi() -> None:
    result = _tick(_answer(False))

    assert not result.run_requests and "max PSI 0.030" in result.skip_message


def test_online_drift_sensor_given_serve_unreachable_returns_skip_saying_it_retries() -> None:
    result = _tick(ServeRequestError(0, "http://127.0.0.1:1/v1/drift: not reachable"))

    assert not result.run_requests
    assert "Serve app unreachable" in result.skip_message and "retrying" in result.skip_message


def test_online_drift_sensor_given_mlflow_unreachable_from_app_returns_skip_keeping_cursor() -> None:
    result = _tick(_answer(True, registry_error="MlflowException: connection refused"), cursor="older")

    assert not result.run_requests and result.cursor == "older"
    assert "MLflow is unreachable" in result.skip_message


def test_online_drift_sensor_given_shards_on_different_champions_returns_skip() -> None:
    result = _tick(_answer(True, key=None))

    assert not result.run_requests and "different champions" in result.skip_message


def test_online_drift_sensor_given_url_of_closed_port_returns_skip_over_real_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SERVE_URL_ENV, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "a-token-of-enough-length")
    sensor = build_online_drift_sensor(training_job.name)

    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))

    assert not result.run_requests and "not reachable" in result.skip_message


def test_resolve_given_unreachable_tracking_server_raises_model_unavailable_not_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    uri = f"http://127.0.0.1:{free_port()}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    with pytest.raises(ModelUnavailableError, match="registry unreachable"):
        resolve("challenger", "ppo", client)


def test_new_challenger_sensor_given_registry_unreachable_returns_skip_saying_it_retries() -> None:
    def unreachable() -> None:
        raise ModelUnavailableError("rtopt-regime@challenger", "registry unreachable (connection refused)")

    sensor = build_new_challenger_sensor("shadow_start_job", current=unreachable)

    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral(), cursor="x"))

    assert isinstance(result.skip_message, str) and not result.run_requests
    assert "MLflow registry unreachable" in result.skip_message and "retrying" in result.skip_message


def test_definitions_given_settings_return_online_drift_sensor_on_training_job(rtopt_settings: Settings) -> None:
    from orchestration.definitions import build_definitions  # importing it prepares the settings' home: do it here

    defs = build_definitions(rtopt_settings)

    assert defs.resolve_sensor_def("online_drift_sensor").job_name == "training_job"


def test_shadow_comparison_sensor_given_serve_unreachable_returns_skip_saying_it_retries() -> None:
    def unreachable() -> None:
        raise ServeRequestError(0, "http://127.0.0.1:1/v1/shadow/challenger/paired: not reachable")

    sensor = build_shadow_comparison_sensor("promotion_job", fetch=unreachable)

    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))

    assert not result.run_requests
    assert "Serve app unreachable" in result.skip_message and "retrying" in result.skip_message
