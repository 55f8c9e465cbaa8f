"""Walk-forward out-of-sample evaluation of the registered champions, logged to MLflow.

The composed policy (champion bandit over the strategy arms, champion actor sizing, champion
regime detector feeding the context) and the baselines run on the protocol's test part
(``models.evaluation.PROTOCOL_V1``, fixed before results were seen), which no model was trained
or validated on: agents train on the first 60% and validate on the next 20%, the bandit learns on
the first 80%, the regime detector on simulated markets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from models.agents import load_actor
from models.env import FeatureScaler, MarketReplay
from models.evaluation import PROTOCOL_V1, compare, plot_equity, report_markdown
from models.features import PAIR_FEATURE_NAMES
from models.marketdata.schema import DataKind
from models.strategies import build_strategies
from serving.monitoring.expectation import record_champion_expectation
from serving.registry.mlflow_registry import use_experiment
from serving.training.agents import SCALER_FILE
from serving.training.regime import champion_regimes


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    run_id: str
    table: dict[str, dict[str, float]]
    markdown: str
    plot: Path


def _champion_artifacts(name: str) -> Path:
    return Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion")) / "artifacts"


def evaluate_champions(
    bars: pd.DataFrame, agent: str, folder: Path, experiment: str, artifact_root: str
) -> EvaluationOutcome:
    """Run the comparison and log it as an MLflow run (metrics per policy, the table, the equity plot)."""
    replay = MarketReplay.from_bars(bars, DataKind.BARS)
    actor_dir = _champion_artifacts(f"rtopt-{agent}") / agent
    scaler = FeatureScaler.from_json((actor_dir / SCALER_FILE).read_text())
    bandit = mlflow.pyfunc.load_model("models:/rtopt-bandit@champion").unwrap_python_model().bandit
    regimes = champion_regimes(bars)
    codes = np.array([_code(r) for r in regimes])
    nan_pairs = {name: np.full(len(replay), math.nan) for name in PAIR_FEATURE_NAMES}
    report = compare(
        replay,
        build_strategies(),
        bandit=bandit,
        actor=load_actor(actor_dir),
        regime=codes,
        scaler=scaler,
        extra_features=nan_pairs,
        protocol=PROTOCOL_V1,
    )
    plot = plot_equity(report, folder / "equity.png")
    markdown = report_markdown(report)
    (folder / "evaluation.md").write_text(markdown)
    use_experiment(experiment, artifact_root)
    with mlflow.start_run(run_name="model_evaluation") as run:
        mlflow.set_tags({"protocol": PROTOCOL_V1.version, "agent": agent})
        for policy, metrics in report.metrics_table().items():
            clean = policy.replace("[", "_").replace("]", "").replace("=", "").replace(":", "_")
            mlflow.log_metrics({f"{clean}.{k}": v for k, v in metrics.items() if math.isfinite(v)})
        mlflow.log_artifact(str(plot), artifact_path="plots")
        mlflow.log_artifact(str(folder / "evaluation.md"))
        # what the live champion is judged against (serving.monitoring.online: performance drift)
        expectation = record_champion_expectation(report, agent, MlflowClient())
        mlflow.log_metrics({"composed.pnl_bps_mean": expectation.mean_bps, "composed.pnl_bps_std": expectation.std_bps})
    return EvaluationOutcome(run.info.run_id, report.metrics_table(), markdown, plot)


def _code(regime: str) -> int:
    from models.marketdata.simulator import REGIMES

    return [r.value for r in REGIMES].index(regime)
