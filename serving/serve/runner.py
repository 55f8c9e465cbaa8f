"""Start and stop the application on local Ray, or on an existing cluster when RAY_ADDRESS is set."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from ray import serve

from serving.serve.app import build_app
from serving.serve.config import ServeConfig

log = logging.getLogger(__name__)
APP_NAME = "rtopt"


def start(config: ServeConfig, *, num_cpus: int | None = None) -> str:
    """Deploy the app and return its base URL; blocks until every replica is up."""
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        runtime_env: dict[str, Any] = {"env_vars": {"MLFLOW_TRACKING_URI": config.mlflow_tracking_uri}}
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": config.port})
        serve.run(build_app(config.model_dump()), name=APP_NAME, route_prefix="/", blocking=False)
    except BaseException:
        stop()  # a half-started Serve would make the next ``start`` (or ``ray.init``) in this process fail too
        raise
    url = f"http://127.0.0.1:{config.port}"
    log.info("rtopt decisions served at %s (%d shard(s))", url, config.shards)
    return url


def stop() -> None:
    """Delete the app, stop Serve and the local Ray it started."""
    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
