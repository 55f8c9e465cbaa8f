"""use_registry: a replica points MLflow at its config's registry, whatever environment it started in."""

from __future__ import annotations

import os

import pytest

from serving.serve.config import ServeConfig, use_registry


def test_use_registry_given_other_environment_points_tracking_and_registry_at_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    uri = "sqlite:////srv/rtopt/mlflow.db"

    use_registry(ServeConfig(mlflow_tracking_uri=uri, model_cache="/srv/rtopt/cache"))

    assert os.environ["MLFLOW_TRACKING_URI"] == uri
    assert os.environ["MLFLOW_REGISTRY_URI"] == uri
