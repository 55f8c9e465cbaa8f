"""The scenario's sensor ticks, written to the instance's tick storage so the Dagster UI lists them.

The scenario evaluates the real sensors in process (their minimum intervals, 60 to 300 s, would keep the
daemon from finishing the loop in CI time), so the daemon never records their ticks. This writes each
evaluation as the daemon would: a tick of the sensor's instigator in the code location ``workspace.yaml``
declares, with its status, skip reason, cursor, run keys and the ids of the runs it launched. Dagster
has no public API for this; the names come from ``dagster._core`` and are only read or constructed, never
patched. The UI finds ticks by the instigator's selector (location, repository, sensor name).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from dagster import DagsterInstance, RunRequest
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.definitions.selector import InstigatorSelector
from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import InstigatorType, TickData, TickStatus
from dagster._core.workspace.load import location_origins_from_yaml_paths

WORKSPACE_YAML = Path(__file__).resolve().parents[1] / "workspace.yaml"


class TickRecorder:
    """Records sensor evaluations as ticks of the sensors of the (single) code location in ``workspace``."""

    def __init__(self, instance: DagsterInstance, workspace: Path = WORKSPACE_YAML) -> None:
        origins = location_origins_from_yaml_paths([str(workspace)])
        if len(origins) != 1:
            raise ValueError(f"{workspace}: expected one code location, found {len(origins)}")
        self.instance = instance
        self.location = origins[0]

    def ids(self, sensor_name: str) -> tuple[str, str]:
        """(origin id, selector id) of the sensor, as the daemon and the UI compute them."""
        repository = RemoteRepositoryOrigin(self.location, SINGLETON_REPOSITORY_NAME)
        origin_id = RemoteInstigatorOrigin(repository, sensor_name).get_id()
        selector = InstigatorSelector(
            location_name=self.location.location_name, repository_name=SINGLETON_REPOSITORY_NAME, name=sensor_name
        )
        selector_id = selector.get_id()
        return origin_id, selector_id

    def record(
        self,
        sensor_name: str,
        started: float,
        *,
        requests: Sequence[RunRequest],
        run_ids: Sequence[str],
        skip_reason: str | None,
        cursor: str | None,
    ) -> int:
        """One finished tick: SUCCESS with its runs, or SKIPPED with the reason; returns the tick id."""
        origin_id, selector_id = self.ids(sensor_name)
        tick = TickData(
            instigator_origin_id=origin_id,
            instigator_name=sensor_name,
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.SUCCESS if run_ids else TickStatus.SKIPPED,
            timestamp=started,
            end_timestamp=time.time(),
            run_ids=list(run_ids),
            run_keys=[r.run_key for r in requests if r.run_key],
            skip_reason=None if run_ids else (skip_reason or "no run requested"),
            cursor=cursor,
            selector_id=selector_id,
        )
        return self.instance.create_tick(tick).tick_id

    def ticks(self, sensor_name: str) -> list[TickData]:
        origin_id, selector_id = self.ids(sensor_name)
        return [t.tick_data for t in self.instance.get_ticks(origin_id, selector_id)]
