"""Log a drift report as an MLflow run: the HTML as an artifact, per-feature scores as metrics."""

from __future__ import annotations

from typing import NamedTuple

import mlflow

from serving.monitoring.drift import DriftOutcome
from serving.registry.mlflow_registry import use_experiment

ARTIFACT_DIR = "drift"


class LoggedDrift(NamedTuple):
    run_id: str
    report_uri: str
    """The HTML report's artifact URI (``file://...`` with the local artifact store)."""


def log_drift_run(
    outcome: DriftOutcome, symbol: str, window_rows: int, experiment: str, artifact_root: str
) -> LoggedDrift:
    """One MLflow run named ``feature_drift_report``; the tracking URI must already be set (``MlflowResource``)."""
    use_experiment(experiment, artifact_root)
    with mlflow.start_run(run_name="feature_drift_report") as run:
        mlflow.set_tags(
            {
                "symbol": symbol,
                "drifted": str(outcome.drifted).lower(),
                "regimes": ",".join(outcome.regimes),
                "drift_reason": outcome.reason,
            }
        )
        mlflow.log_params(
            {
                "window_rows": window_rows,
                "method": outcome.method,
                "threshold": outcome.threshold,
                "reference_rows": outcome.reference_rows,
                "current_rows": outcome.current_rows,
            }
        )
        unseen = sum(outcome.unseen_regimes.values())
        mlflow.log_metrics({"drift_share": outcome.share, "unseen_regime_share": unseen})
        mlflow.log_metrics({f"drift_score.{name}": score for name, score in outcome.scores.items()})
        mlflow.log_artifact(str(outcome.html), artifact_path=ARTIFACT_DIR)
        uri = mlflow.get_artifact_uri(f"{ARTIFACT_DIR}/{outcome.html.name}")
    return LoggedDrift(run.info.run_id, uri)
