"""Log a training run, register its model version, and move the aliases by the validation score.

Models are registered as MLflow "models from code": the pyfunc is a Python file of this package
(``serving/registry/pyfunc_models.py``) that rebuilds the model from weight files (safetensors,
JSON), so loading a registered model never unpickles an object.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Final, Literal

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature

from serving.training.plots import plot_curves

log = logging.getLogger(__name__)

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
VALIDATION_METRIC = "validation_score"
PYFUNC_CODE = Path(__file__).resolve().parent / "pyfunc_models.py"
Alias = Literal["champion", "challenger"]
MODEL_PACKAGES: Final = (
    *("mlflow", "numpy", "pandas", "numba", "torch", "safetensors", "onnxruntime"),
    *("stable-baselines3", "gymnasium", "scikit-learn", "matplotlib"),
)
"""The third-party packages ``pyfunc_models.py`` and the ``models`` library it loads import."""


def model_requirements() -> list[str]:
    """A registered version's pip requirements: ``MODEL_PACKAGES`` pinned at the versions installed here.

    Given explicitly, because MLflow's inference loads the model in a subprocess to see what it imports: about
    2.5 s of every ``log_model`` (7.6 of 8.2 s for the three models of a bundle, measured). A local version
    label (``torch==2.13.0+cpu``) is dropped, as MLflow's own inference does: the CPU or CUDA build is the
    installer's choice, not the model's.
    """
    return [f"{name}=={installed_version(name).split('+', 1)[0]}" for name in MODEL_PACKAGES]


@dataclass(frozen=True, kw_only=True)
class TrainingRecord:
    """Everything one training run reports."""

    registered_name: str
    kind: str
    """Which loader ``pyfunc_models.py`` uses: "actor", "bandit" or "regime"."""
    params: Mapping[str, object]
    metrics: Mapping[str, float]
    validation_score: float
    """Higher is better; the alias moves on this number, measured on the validation window."""
    artifacts: Mapping[str, Path]
    signature: ModelSignature | None
    feature_service: str
    data_start: str
    data_end: str
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """Learning curves: logged step by step as metrics, and each rendered as ``plots/<name>.png``; none empty."""
    plots: Sequence[Path] = ()
    """Files logged under the run's ``plots/`` beside the curve PNGs (reports, confusion matrices)."""


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    alias: Alias
    previous_champion: str | None


def git_commit() -> str:
    """The commit the code was trained from, or "unknown" outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def _log_run_contents(record: TrainingRecord, plots: Sequence[Path]) -> None:
    mlflow.log_params({k: str(v) for k, v in record.params.items()})
    mlflow.log_metrics({**record.metrics, VALIDATION_METRIC: record.validation_score})
    for name, values in record.curves.items():
        for step, value in enumerate(values):
            mlflow.log_metric(name, float(value), step=step)
    for plot in plots:
        mlflow.log_artifact(str(plot), artifact_path="plots")
    mlflow.set_tags(
        {
            "feature_service": record.feature_service,
            "data_start": record.data_start,
            "data_end": record.data_end,
            "git_commit": git_commit(),
            "model_kind": record.kind,
        }
    )


def use_experiment(name: str, artifact_root: str) -> None:
    """Select ``name``, creating it with its artifacts under ``artifact_root`` (never ./mlruns)."""
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=f"{artifact_root.rstrip('/')}/{name}")
    mlflow.set_experiment(name)


def log_and_register(
    record: TrainingRecord, experiment: str, artifact_root: str, *, challenger_only: bool = False
) -> RegisteredVersion:
    """One MLflow run with params, metrics, curves and plots; a registered version; the alias moved.

    ``challenger_only``: the version becomes ``challenger`` whatever its score (a retraining after drift
    validates on another window than the champion did, so only the shadow gate may promote it).

    The curve PNGs are rendered before the run starts, so an empty curve fails without leaving a run behind.
    """
    use_experiment(experiment, artifact_root)
    with tempfile.TemporaryDirectory(prefix="rtopt-curves-") as folder:
        curve_pngs = plot_curves(record.curves, Path(folder), model=record.registered_name)
        with mlflow.start_run(run_name=f"{record.registered_name}-train") as run:
            _log_run_contents(record, [*record.plots, *curve_pngs])
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={k: str(v) for k, v in record.artifacts.items()},
                model_config={"kind": record.kind},
                signature=record.signature,
                registered_model_name=record.registered_name,
                pip_requirements=model_requirements(),
            )
    version = str(info.registered_model_version)
    alias, previous = assign_alias(
        MlflowClient(), record.registered_name, version, record.validation_score, challenger_only=challenger_only
    )
    log.info("%s version %s registered as %s (run %s)", record.registered_name, version, alias, run.info.run_id)
    return RegisteredVersion(record.registered_name, version, run.info.run_id, alias, previous)


def champion_score(client: MlflowClient, name: str) -> tuple[str, float] | None:
    """(version, validation score) of the current champion, or None when there is none."""
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    if champion.run_id is None:
        raise ValueError(f"{name}: champion version {champion.version} has no run to read its validation score from")
    run = client.get_run(champion.run_id)
    return champion.version, float(run.data.metrics[VALIDATION_METRIC])


def assign_alias(
    client: MlflowClient, name: str, version: str, score: float, *, challenger_only: bool = False
) -> tuple[Alias, str | None]:
    """``champion`` when ``score`` beats the champion's (or there is none), else ``challenger``.

    With ``challenger_only`` an existing champion is never replaced here (the first version still becomes it).
    """
    current = champion_score(client, name)
    if current is None or (score > current[1] and not challenger_only):
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promoted_over", current[0] if current else "none")
        return CHAMPION, current[0] if current else None
    client.set_registered_model_alias(name, CHALLENGER, version)
    return CHALLENGER, current[0]
