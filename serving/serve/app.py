"""Compose the Serve application: ``Ingress`` in front of ``shards`` DecisionShard deployments.

``serve run serving.serve.app:build_app mlflow_tracking_uri=... model_cache=...`` runs it from the
command line, ``serve deploy`` from a config file (``rtopt serve --write-config``), ``rtopt serve``
from the project's settings. Replica resources follow the device manager: a shard asks Ray for the
GPUs the device manager would use (``DeviceChoice.num_gpus``), none on a CPU machine.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from models.device import DeviceManagerConfig, select_device
from serving.serve.config import ServeConfig
from serving.serve.ingress import IngressDeployment
from serving.serve.shard import DecisionShardDeployment

REPLICA_CPUS = 0.5
"""Ray CPUs per replica: the ingress and one shard fit a 2-core machine with room for Ray itself."""


def shard_options(config: ServeConfig, num_gpus: int) -> dict[str, Any]:
    return {
        "num_replicas": 1,
        "max_ongoing_requests": config.max_ongoing_requests,
        "max_queued_requests": config.max_queued_requests,
        "ray_actor_options": {"num_cpus": REPLICA_CPUS, "num_gpus": num_gpus},
    }


def ingress_options(config: ServeConfig) -> dict[str, Any]:
    options: dict[str, Any] = {
        "max_ongoing_requests": config.max_ongoing_requests,
        "max_queued_requests": config.max_queued_requests,
        "ray_actor_options": {"num_cpus": REPLICA_CPUS},
    }
    if config.ingress_autoscaling_max > config.ingress_replicas:
        options["autoscaling_config"] = {
            "min_replicas": config.ingress_replicas,
            "max_replicas": config.ingress_autoscaling_max,
            "target_ongoing_requests": max(1, config.max_ongoing_requests // 2),
        }
    else:
        options["num_replicas"] = config.ingress_replicas
    return options


def build_app(args: dict[str, Any]) -> Application:
    """The application for ``args`` (the ``ServeConfig`` fields)."""
    config = ServeConfig(**args)
    num_gpus = select_device(DeviceManagerConfig()).num_gpus
    payload = config.model_dump()
    if config.colocate:  # the shard is built inside the ingress replica (``serving.serve.local``)
        options = ingress_options(config)
        options["ray_actor_options"] = {**options["ray_actor_options"], "num_gpus": num_gpus}
        return IngressDeployment.options(**options).bind([], payload)
    shards = [
        DecisionShardDeployment.options(name=f"DecisionShard{k}", **shard_options(config, num_gpus)).bind(payload, k)
        for k in range(config.shards)
    ]
    return IngressDeployment.options(**ingress_options(config)).bind(shards, payload)


class Noop:
    """The benchmark's baseline: the same HTTP path with nothing behind it."""

    async def __call__(self, request: Any) -> dict[str, bool]:
        await request.body()
        return {"ok": True}


NoopDeployment = serve.deployment(name="Noop", ray_actor_options={"num_cpus": REPLICA_CPUS})(Noop)


def build_noop(args: dict[str, Any] | None = None) -> Application:
    return NoopDeployment.bind()
