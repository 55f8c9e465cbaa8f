"""log_and_register: every curve of a training record lands as a PNG under the run's "plots/" artifacts."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.bandit import ContextualBanditConfig, LinUCB
from orchestration.settings import Settings
from serving.registry.bandit_artifact import save_bandit
from serving.registry.mlflow_registry import MODEL_PACKAGES, TrainingRecord, log_and_register

EXPERIMENT = "rtopt-plots-test"


@pytest.fixture
def client(rtopt_settings: Settings) -> MlflowClient:
    mlflow.set_tracking_uri(rtopt_settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(rtopt_settings.mlflow_registry_uri)
    return MlflowClient(rtopt_settings.mlflow_tracking_uri, rtopt_settings.mlflow_registry_uri)


def _record(folder: Path, curves: dict[str, list[float]], plots: tuple[Path, ...] = ()) -> TrainingRecord:
    bandit = LinUCB(["momentum", "mean_reversion"], ContextualBanditConfig(dim=3))
    return TrainingRecord(
        registered_name="rtopt-plots-test",
        kind="bandit",
        params={"alpha": 1.0},
        metrics={"decisions": 3.0},
        validation_score=0.5,
        artifacts={"bandit": save_bandit(bandit, folder / "bandit.json")},
        signature=None,
        feature_service="decision_v1",
        data_start="2024-01-01T00:00:00+00:00",
        data_end="2024-01-02T00:00:00+00:00",
        curves=curves,
        plots=plots,
    )


def test_log_and_register_given_curves_lists_a_png_per_curve_under_plots(
    client: MlflowClient, rtopt_settings: Settings, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    curves = {"reward_bps_ewma": [0.1, 0.4, 0.3, 0.8], "mean_episode_return": [-1.0, 2.0]}

    registered = log_and_register(_record(tmp_path, curves, (report,)), EXPERIMENT, rtopt_settings.mlflow_artifact_root)

    listed = {f.path: f.file_size for f in client.list_artifacts(registered.run_id, "plots")}
    assert set(listed) == {"plots/report.md", "plots/reward_bps_ewma.png", "plots/mean_episode_return.png"}
    assert listed["plots/reward_bps_ewma.png"] > 10_000
    local = Path(client.download_artifacts(registered.run_id, "plots/reward_bps_ewma.png", str(tmp_path)))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = client.get_metric_history(registered.run_id, "reward_bps_ewma")
    assert [(m.step, m.value) for m in history] == [(0, 0.1), (1, 0.4), (2, 0.3), (3, 0.8)]


def test_log_and_register_given_empty_curve_returns_error_and_starts_no_run(
    client: MlflowClient, rtopt_settings: Settings, tmp_path: Path
) -> None:
    record = _record(tmp_path, {"reward_bps_ewma": [0.2], "mean_episode_return": []})

    with pytest.raises(ValueError, match=r"curve 'mean_episode_return' of rtopt-plots-test: no values to plot"):
        log_and_register(record, EXPERIMENT, rtopt_settings.mlflow_artifact_root)

    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    assert client.search_runs([experiment.experiment_id]) == []


def test_log_and_register_given_a_record_pins_model_packages_and_the_version_loads(
    client: MlflowClient, rtopt_settings: Settings, tmp_path: Path
) -> None:
    registered = log_and_register(_record(tmp_path, {"c": [1.0]}), EXPERIMENT, rtopt_settings.mlflow_artifact_root)

    local = Path(client.download_artifacts(registered.run_id, "model/requirements.txt", str(tmp_path)))
    pins = dict(line.split("==", 1) for line in local.read_text().split() if "==" in line)
    assert set(MODEL_PACKAGES) <= set(pins)
    assert pins["numpy"] == importlib.metadata.version("numpy")
    assert "+" not in pins["torch"]
    model = mlflow.pyfunc.load_model(f"models:/rtopt-plots-test/{registered.version}")
    answer = model.predict(pd.DataFrame([[0.1, 0.2, 0.3]]))
    assert list(answer["arm"]) == ["momentum"]
