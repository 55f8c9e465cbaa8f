"""Model assets: MLflow runs, registered versions, champion/challenger aliases, pyfunc from weights."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, Failure, materialize
from mlflow import MlflowClient

from assets.model_checks import BASELINE_CHECKS, baseline_results
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
    checks = {c.check_name: c for c in result.get_asset_check_evaluations() if c.asset_key == model_evaluation.key}
    assert set(checks) == {c.name for c in BASELINE_CHECKS}
    for check in checks.values():
        meta = {k: v.value for k, v in check.metadata.items()}
        assert check.severity == AssetCheckSeverity.WARN
        assert check.passed == (meta["margin"] > 0)
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


def _scored_versions(client: MlflowClient, settings: Settings, name: str, scores: tuple[float, ...]) -> list[str]:
    """One registered version of ``name`` per score, each with a run holding its ``validation_score``."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    use_experiment("rtopt-alias-test", settings.mlflow_artifact_root)
    client.create_registered_model(name)
    versions = []
    for score in scores:
        with mlflow.start_run() as run:
            mlflow.log_metric("validation_score", score)
        versions.append(client.create_model_version(name, f"runs:/{run.info.run_id}/m", run.info.run_id).version)
    return versions


def test_assign_alias_given_worse_then_better_versions_moves_champion_only_on_improvement(
    rtopt_settings: Settings,
) -> None:
    client = MlflowClient(rtopt_settings.mlflow_tracking_uri, rtopt_settings.mlflow_registry_uri)
    versions = _scored_versions(client, rtopt_settings, "rtopt-test", (1.0, 0.5, 2.0))

    decisions = [assign_alias(client, "rtopt-test", v, s) for v, s in zip(versions, (1.0, 0.5, 2.0), strict=True)]

    assert decisions == [("champion", None), ("challenger", versions[0]), ("champion", versions[0])]
    assert client.get_model_version_by_alias("rtopt-test", "champion").version == versions[2]
    assert client.get_model_version_by_alias("rtopt-test", "challenger").version == versions[1]


def _table(
    composed: tuple[float, ...], flat: float, hold: float, random: tuple[float, ...]
) -> dict[str, dict[str, float]]:
    table = {"flat": {"total_return": flat}, "buy_and_hold": {"total_return": hold}}
    table |= {f"composed[seed={i}]": {"total_return": v} for i, v in enumerate(composed)}
    table |= {f"random_arm[seed={i}]": {"total_return": v} for i, v in enumerate(random)}
    table["strategy:momentum"] = {"total_return": 1.0}
    return table


def test_baseline_results_given_composed_better_than_every_baseline_returns_three_passed_warn_checks() -> None:
    results = baseline_results(_table((0.02, 0.04), flat=0.0, hold=0.01, random=(-0.01, 0.0)))

    assert [(r.check_name, r.passed, r.severity) for r in results] == [
        ("beats_flat", True, AssetCheckSeverity.WARN),
        ("beats_buy_and_hold", True, AssetCheckSeverity.WARN),
        ("beats_random_arm", True, AssetCheckSeverity.WARN),
    ]
    meta = {k: v.value if hasattr(v, "value") else v for k, v in results[2].metadata.items()}
    assert meta["composed"] == pytest.approx(0.03) and meta["random_arm"] == pytest.approx(-0.005)
    assert meta["composed_seeds"] == 2 and meta["baseline_seeds"] == 2


def test_baseline_results_given_composed_worse_than_buy_and_hold_and_random_returns_those_checks_failed() -> None:
    results = baseline_results(_table((-0.01, 0.03), flat=0.0, hold=0.05, random=(0.02, 0.04)))

    assert {r.check_name: r.passed for r in results} == {
        "beats_flat": True,
        "beats_buy_and_hold": False,
        "beats_random_arm": False,
    }
    failed = next(r for r in results if r.check_name == "beats_buy_and_hold")
    margin = failed.metadata["margin"]
    assert getattr(margin, "value", margin) == pytest.approx(0.01 - 0.05)


def test_baseline_results_given_missing_baseline_or_nan_raises_failure_naming_it() -> None:
    table = _table((0.01,), flat=0.0, hold=0.0, random=(0.0,))
    del table["buy_and_hold"]
    with pytest.raises(Failure, match="buy_and_hold"):
        baseline_results(table)
    with pytest.raises(Failure, match="composed"):
        baseline_results(_table((float("nan"),), flat=0.0, hold=0.0, random=(0.0,)))


def test_assign_alias_given_challenger_only_and_a_better_score_returns_challenger_keeping_the_champion(
    rtopt_settings: Settings,
) -> None:
    client = MlflowClient(rtopt_settings.mlflow_tracking_uri, rtopt_settings.mlflow_registry_uri)
    versions = _scored_versions(client, rtopt_settings, "rtopt-retrain", (1.0, 2.0))

    first = assign_alias(client, "rtopt-retrain", versions[0], 1.0, challenger_only=True)
    second = assign_alias(client, "rtopt-retrain", versions[1], 2.0, challenger_only=True)

    assert first == ("champion", None) and second == ("challenger", versions[0])
    assert client.get_model_version_by_alias("rtopt-retrain", "champion").version == versions[0]
    assert client.get_model_version_by_alias("rtopt-retrain", "challenger").version == versions[1]
