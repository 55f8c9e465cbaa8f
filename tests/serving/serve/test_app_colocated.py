"""The whole HTTP suite of ``test_app`` again, on an app whose one shard lives inside the ingress replica.

``ServeConfig(colocate=True)`` (``serving.serve.local``) must answer exactly as the two-deployment app:
the same decisions as the Python API and the backtest, the same errors, status, admin auth and a hot-swap
that drops no request. Importing the tests re-collects them here against this module's ``serve_app``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.serve.config import ServeConfig
from tests.serving.serve.conftest import RunningApp, running_app
from tests.serving.serve.test_app import *  # noqa: F403  (the tests themselves)


@pytest.fixture(scope="module")
def serve_app(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("serve-colocated"), decision_bundle_dir, colocate=True) as app:
        yield app


def test_colocated_app_given_running_has_no_separate_shard_deployment(serve_app: RunningApp) -> None:
    from ray import serve

    deployments = {name for app in serve.status().applications.values() for name in app.deployments}

    assert "Ingress" in deployments
    assert not any(name.startswith("DecisionShard") for name in deployments)


@pytest.mark.parametrize("overrides", [{"shards": 2}, {"ingress_replicas": 2}, {"ingress_autoscaling_max": 3}])
def test_serve_config_given_colocate_with_more_than_one_replica_raises_naming_colocate(
    overrides: dict[str, int],
) -> None:
    with pytest.raises(ValueError, match="colocate: needs shards=1"):
        ServeConfig(mlflow_tracking_uri="sqlite:///x.db", model_cache="cache", colocate=True, **overrides)
