"""Model assets: MLflow runs, registered versions, champion/challenger aliases, pyfunc from weights."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

from assets.models import (
    RegimeTrainingConfig,
    TrainingConfig,
    model_assets,
    model_evaluation,
    ppo_agent,
    regime_model,
    strategy_bandit,
)
from models.bandit import context_layout
from models.env import OBSERVATION_NAMES
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from models.marketdata.store import MarketDataStore
from models.strategies import build_strategies
from orchestration.resources import build_resources
from orchestration.settings import Settings
from serving.registry.mlflow_registry import assign_alias, use_experiment


def _curated_btc(settings: Settings) -> None:
    store = MarketDataStore(settings.market_data_root)
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    store.write_batch(sample.symbol, sample.load(), None)
    store.write_curated(DataKind.BARS, sample.symbol, store.curate(DataKind.BARS, sample.symbol).frame)


def test_materialize_given_small_budget_registers_regime_ppo_and_bandit_as_champions(rtopt_settings: Settings) -> None:
    _curated_btc(rtopt_settings)
    config = {"config": TrainingConfig(total_steps=512).model_dump()}

    result = materialize(
        model_assets,
        selection=[regime_model.key, ppo_agent.key, strategy_bandit.key, model_evaluation.key],
        resources=build_resources(rtopt_settings),
        instance=DagsterInstance.ephemeral(),
        run_config={
            "ops": {
                "ppo_agent": config,
                "strategy_bandit": config,
                "regime_model": {"config": RegimeTrainingConfig(n_bars=3_000).model_dump()},
            }
        },
    )

    assert result.success
    evaluation = next(e for e in result.get_asset_materialization_events() if e.asset_key == model_evaluation.key)
    report = evaluation.materialization.metadata["report"].value
    assert "buy_and_hold" in report and "composed[seed=0]" in report
    assert Path(evaluation.materialization.metadata["equity_plot"].value).stat().st_size > 0
    mlflow.set_tracking_uri(rtopt_settings.mlflow_tracking_uri)
    client = MlflowClient(rtopt_settings.mlflow_tracking_uri, rtopt_settings.mlflow_registry_uri)
    plots: dict[str, set[str]] = {}
    for name in ("rtopt-ppo", "rtopt-bandit", "rtopt-regime"):
        champion = client.get_model_version_by_alias(name, "champion")
        run = client.get_run(champion.run_id)
        assert run.data.tags["feature_service"] == "decision_v1"
        assert "validation_score" in run.data.metrics
        plots[name] = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {
        "rtopt-ppo": {"plots/mean_episode_return.png"},
        "rtopt-bandit": {"plots/reward_bps_ewma.png"},
        "rtopt-regime": {"plots/regime.md", "plots/confusion_test.png"},
    }
    model = mlflow.pyfunc.load_model("models:/rtopt-ppo@champion")
    obs = pd.DataFrame(np.zeros((2, len(OBSERVATION_NAMES)), dtype=np.float32), columns=list(OBSERVATION_NAMES))
    actions = model.predict(obs)
    assert list(actions.columns) == ["position", "entry_factor", "exit_factor"]
    assert ((actions["position"] >= -1) & (actions["position"] <= 1)).all()
    names = [s.name for s in build_strategies()]
    contexts = pd.DataFrame(np.ones((1, 18)), columns=list(context_layout(names)))
    arms = mlflow.pyfunc.load_model("models:/rtopt-bandit@champion").predict(contexts)
    assert arms["arm"].iloc[0] in {
        "momentum",
        "mean_reversion",
        "market_making",
        "pairs",
        "cross_venue_arbitrage",
        "volatility_breakout",
    }


def test_assign_alias_given_worse_then_better_versions_moves_champion_only_on_improvement(
    rtopt_settings: Settings,
) -> None:
    client = MlflowClient(rtopt_settings.mlflow_tracking_uri, rtopt_settings.mlflow_registry_uri)
    mlflow.set_tracking_uri(rtopt_settings.mlflow_tracking_uri)
    use_experiment("rtopt-alias-test", rtopt_settings.mlflow_artifact_root)
    client.create_registered_model("rtopt-test")
    versions = []
    for score in (1.0, 0.5, 2.0):
        with mlflow.start_run() as run:
            mlflow.log_metric("validation_score", score)
        versions.append(
            client.create_model_version("rtopt-test", f"runs:/{run.info.run_id}/m", run.info.run_id).version
        )

    decisions = [assign_alias(client, "rtopt-test", v, s) for v, s in zip(versions, (1.0, 0.5, 2.0), strict=True)]

    assert decisions == [("champion", None), ("challenger", versions[0]), ("champion", versions[0])]
    assert client.get_model_version_by_alias("rtopt-test", "champion").version == versions[2]
    assert client.get_model_version_by_alias("rtopt-test", "challenger").version == versions[1]
