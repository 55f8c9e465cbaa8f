"""The scenario's Dagster side: the real jobs and sensors of ``orchestration.definitions`` on one instance.

Every run is tagged with the scenario's id. Sensors are evaluated on instance-backed contexts with their
cursor carried from tick to tick, as the daemon would, and each evaluation is written as a tick
(``orchestration.scenario_ticks``); a requested run is launched in process with the request's config,
tags and run key (``dagster/sensor_name`` and ``dagster/run_key``, as a daemon-launched run carries).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, RunRequest, build_sensor_context

from orchestration.scenario_ticks import TickRecorder

SCENARIO_TAG = "rtopt/scenario"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SENSORS = ("drift_sensor", "new_challenger_sensor", "shadow_comparison_sensor")


class Chain:
    """The Dagster side: the real jobs and sensors on the persistent instance, every run tagged with the scenario."""

    def __init__(self, definitions: Definitions, instance: DagsterInstance, scenario_id: str, budgets: dict[str, Any]):
        self.definitions, self.instance, self.scenario_id = definitions, instance, scenario_id
        self.budgets = budgets
        self.cursors: dict[str, str | None] = dict.fromkeys(SENSORS)
        self.ticks: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.recorder = TickRecorder(instance)
        self._pending: dict[str, tuple[float, list[RunRequest], str | None]] = {}

    def execute(
        self, job_name: str, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None, **kw: Any
    ) -> ExecuteInProcessResult:
        result = self._run(job_name, run_config, tags, **kw)
        _raise_unless_success(job_name, result)
        return result

    def _run(
        self, job_name: str, run_config: dict[str, Any] | None, tags: dict[str, str] | None, **kw: Any
    ) -> ExecuteInProcessResult:
        result = self.definitions.resolve_job_def(job_name).execute_in_process(
            run_config=_merge(run_config or {}, QUIET),
            instance=self.instance,
            tags={**(tags or {}), SCENARIO_TAG: self.scenario_id},
            raise_on_error=False,
            **kw,
        )
        self.runs.append({"job": job_name, "run_id": result.run_id, "success": result.success, **(tags or {})})
        return result

    def tick(self, sensor_name: str) -> list[RunRequest]:
        """Evaluate the sensor once against the instance, keep its cursor, return its run requests.

        A tick that requests nothing is recorded at once; one that requests a run is recorded by ``launch``,
        with the run's id.
        """
        started = time.time()
        sensor = self.definitions.resolve_sensor_def(sensor_name)
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursors[sensor_name],
            sensor_name=sensor_name,
            definitions=self.definitions,
        )
        data = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = data.cursor if data.cursor is not None else self.cursors[sensor_name]
        requests = list(data.run_requests or [])
        self.ticks.append({"sensor": sensor_name, "requests": len(requests), "skip_reason": data.skip_message})
        if requests:
            self._pending[sensor_name] = (started, requests, data.cursor)
        else:
            self.recorder.record(
                sensor_name, started, requests=[], run_ids=[], skip_reason=data.skip_message, cursor=data.cursor
            )
        return requests

    def launch(self, sensor_name: str, request: RunRequest) -> ExecuteInProcessResult:
        """Run what the sensor requested: its job, config (plus the scenario's budgets), tags and run key."""
        sensor = self.definitions.resolve_sensor_def(sensor_name)
        job_name = request.job_name or sensor.job_name
        if job_name is None:
            raise ValueError(f"{sensor_name}: its run request names no job")
        tags = {**request.tags, "dagster/sensor_name": sensor_name}
        if request.run_key:
            tags["dagster/run_key"] = request.run_key
        config = dict(request.run_config)
        result = self._run(job_name, _merge(config, self.budgets) if job_name == "training_job" else config, tags)
        started, requests, cursor = self._pending.pop(sensor_name, (time.time(), [request], None))
        self.recorder.record(
            sensor_name, started, requests=requests, run_ids=[result.run_id], skip_reason=None, cursor=cursor
        )
        _raise_unless_success(job_name, result)
        return result


def _raise_unless_success(job_name: str, result: ExecuteInProcessResult) -> None:
    if not result.success:
        raise RuntimeError(f"{job_name} run {result.run_id} failed: see `rtopt dev` for its logs")


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if nested else value
    return out
