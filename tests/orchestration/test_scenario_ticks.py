"""Scenario ticks land where the Dagster UI reads them: the ids of the sensors `workspace.yaml` loads."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, RunRequest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from orchestration.scenario_chain import SENSORS
from orchestration.scenario_ticks import WORKSPACE_YAML, TickRecorder


def test_tick_recorder_ids_given_workspace_returns_the_ids_of_the_loaded_sensors(
    rtopt_home: Path, tmp_path: Path
) -> None:
    rtopt_home.mkdir(parents=True)
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        recorder = TickRecorder(instance)
        with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(WORKSPACE_YAML)])) as workspace:
            (entry,) = workspace.create_request_context().get_code_location_entries().values()
            assert entry.code_location is not None, entry.load_error
            repository = entry.code_location.get_repository("__repository__")
            loaded = {name: repository.get_sensor(name) for name in SENSORS}

    for name, sensor in loaded.items():
        assert recorder.ids(name) == (sensor.get_remote_origin_id(), sensor.selector_id)


def test_tick_recorder_record_given_skip_then_run_returns_both_ticks_newest_first(tmp_path: Path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        recorder = TickRecorder(instance)
        recorder.record("drift_sensor", 1.0, requests=[], run_ids=[], skip_reason="no report", cursor=None)
        request = RunRequest(run_key="drift-7")
        recorder.record("drift_sensor", 2.0, requests=[request], run_ids=["run-1"], skip_reason=None, cursor="7")

        ticks = recorder.ticks("drift_sensor")

    assert [(t.status, t.run_ids, t.run_keys, t.cursor) for t in ticks] == [
        (TickStatus.SUCCESS, ["run-1"], ["drift-7"], "7"),
        (TickStatus.SKIPPED, [], [], None),
    ]
    assert ticks[1].skip_reason == "no report"
