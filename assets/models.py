"""Model assets: each one an MLflow run and a registered version; aliases move on validation."""

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from mlflow.models import infer_signature

from assets.features import offline_features
from assets.model_checks import baseline_check_specs, baseline_results
from assets.resources import MarketDataResource, MlflowResource
from models.bandit import context_layout
from models.env import OBSERVATION_NAMES, MarketReplay, regime_codes
from models.features import compute_features, events_frame
from models.marketdata.schema import TIME, DataKind
from serving.features.feast_repo import FEATURE_SERVICE
from serving.registry.bandit_artifact import save_bandit
from serving.registry.mlflow_registry import RegisteredVersion, TrainingRecord, log_and_register
from serving.training.agents import AgentTrainingConfig, Algorithm, train_agent
from serving.training.bandit import BanditTrainingConfig, train_bandit
from serving.training.evaluation import evaluate_champions
from serving.training.regime import champion_regimes, fit_and_score_regime

GROUP = "models"
TRIGGER_TAG = "rtopt/trigger"
"""Set by the sensors on the runs they request; a triggered retraining registers challengers only."""


class TrainingConfig(Config):
    """Run config of the training assets (small defaults: the demo trains in minutes on 2 cores)."""

    symbol: str = "BTC-PERP"
    total_steps: int = 4_000
    seed: int = 0
    challenger_only: bool = False
    """Register the new versions as ``challenger`` only, whatever their validation score (runs a sensor
    triggered, tag ``rtopt/trigger``, always do: the shadow gate, not a score on another window, promotes)."""


def _challenger_only(context: AssetExecutionContext, requested: bool) -> bool:
    return requested or context.run.tags.get(TRIGGER_TAG) is not None


def _bars(market_data: MarketDataResource, symbol: str) -> pd.DataFrame:
    return market_data.store().read_curated(DataKind.BARS, symbol)


def _metadata(registered: RegisteredVersion, score: float, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "registered_model": registered.name,
        "version": registered.version,
        "alias": registered.alias,
        "previous_champion": registered.previous_champion or "none",
        "mlflow_run_id": registered.run_id,
        "validation_score": score,
        **extra,
    }


def _train_and_register(
    algorithm: Algorithm,
    context: AssetExecutionContext,
    config: TrainingConfig,
    bars: pd.DataFrame,
    mlflow_res: MlflowResource,
) -> MaterializeResult:
    mlflow_res.activate()
    # The regime block the actor is served (the champion detector's regime, as the bandit and the evaluation see it).
    regimes = regime_codes(pd.Series(champion_regimes(bars)))
    replay = MarketReplay.from_bars(bars, DataKind.BARS, regime=regimes)
    run_config = AgentTrainingConfig(total_steps=config.total_steps, seed=config.seed)
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_agent(
            algorithm,
            replay,
            Path(tmp),
            run_config,
            progress=lambda p: context.log.info(
                f"{p.algorithm} {p.steps}/{p.total_steps} steps, mean return {p.mean_return:.2f}"
            ),
        )
        example = pd.DataFrame(np.zeros((1, len(OBSERVATION_NAMES)), dtype=np.float32), columns=list(OBSERVATION_NAMES))
        signature = infer_signature(
            example, pd.DataFrame({"position": [0.0], "entry_factor": [0.0], "exit_factor": [0.0]})
        )
        ts = bars[TIME]
        mlflow_res.activate()
        registered = log_and_register(
            TrainingRecord(
                registered_name=f"rtopt-{algorithm}",
                kind="actor",
                params={**trained.params, "symbol": config.symbol},
                metrics={"validation_trades": float(trained.validation_trades)},
                validation_score=trained.validation_score,
                artifacts={"actor": trained.actor_dir},
                signature=signature,
                feature_service=FEATURE_SERVICE,
                data_start=ts.iloc[trained.train_rows[0]].isoformat(),
                data_end=ts.iloc[trained.validation_rows[1] - 1].isoformat(),
                curves=trained.curves,
            ),
            mlflow_res.experiment,
            mlflow_res.artifact_root,
            challenger_only=_challenger_only(context, config.challenger_only),
        )
    return MaterializeResult(metadata=_metadata(registered, trained.validation_score, {"symbol": config.symbol}))


class RegimeTrainingConfig(Config):
    """The detector is fitted on labelled simulated markets, then applied to real data."""

    symbol: str = "BTC-PERP"
    n_bars: int = 10_000
    use_quotes: bool = False
    challenger_only: bool = False
    """As ``TrainingConfig.challenger_only``."""


@asset(group_name=GROUP, deps=[offline_features], kinds={"mlflow", "sklearn"})
def regime_model(
    context: AssetExecutionContext,
    config: RegimeTrainingConfig,
    market_data: MarketDataResource,
    mlflow: MlflowResource,
) -> MaterializeResult:
    """Market regime detector (7 regimes), fitted on simulated seeds, registered as rtopt-regime."""
    with tempfile.TemporaryDirectory() as tmp:
        scored = fit_and_score_regime(Path(tmp), config.n_bars, config.use_quotes, _bars(market_data, config.symbol))
        context.log.info(
            f"regime detector: validation {scored.validation.accuracy:.3f}, test {scored.test.accuracy:.3f}"
        )
        mlflow.activate()
        registered = log_and_register(
            scored.record(config.symbol, FEATURE_SERVICE),
            mlflow.experiment,
            mlflow.artifact_root,
            challenger_only=_challenger_only(context, config.challenger_only),
        )
    extra = {
        "test_accuracy": scored.test.accuracy,
        "real_data_shares": MetadataValue.json(scored.shares),
        "confusion_test": MetadataValue.md(scored.report_md),
    }
    return MaterializeResult(metadata=_metadata(registered, scored.validation.accuracy, extra))


@asset(group_name=GROUP, deps=[offline_features, regime_model], kinds={"mlflow", "pytorch"})
def ddpg_agent(
    context: AssetExecutionContext, config: TrainingConfig, market_data: MarketDataResource, mlflow: MlflowResource
) -> MaterializeResult:
    """DDPG position sizer (SB3), trained on the symbol's history, registered as rtopt-ddpg."""
    return _train_and_register("ddpg", context, config, _bars(market_data, config.symbol), mlflow)


@asset(group_name=GROUP, deps=[offline_features, regime_model], kinds={"mlflow", "pytorch"})
def ppo_agent(
    context: AssetExecutionContext, config: TrainingConfig, market_data: MarketDataResource, mlflow: MlflowResource
) -> MaterializeResult:
    """PPO position sizer (SB3), trained on the symbol's history, registered as rtopt-ppo."""
    return _train_and_register("ppo", context, config, _bars(market_data, config.symbol), mlflow)


@asset(group_name=GROUP, deps=[offline_features, regime_model], kinds={"mlflow"})
def strategy_bandit(
    context: AssetExecutionContext, config: TrainingConfig, market_data: MarketDataResource, mlflow: MlflowResource
) -> MaterializeResult:
    """LinUCB over the strategy arms, trained by replaying history through them; registered as rtopt-bandit."""
    bars = _bars(market_data, config.symbol)
    events = events_frame(bars, DataKind.BARS)
    features = compute_features(events)
    split = int(len(features) * 0.6)
    end = int(len(features) * 0.8)
    mlflow.activate()
    regimes = champion_regimes(bars)
    run_config = BanditTrainingConfig(seed=config.seed)
    bandit, train, validation = train_bandit(
        features.iloc[:end], events["close"].to_numpy()[:end], regimes[:end], run_config, split
    )
    context.log.info(f"bandit: {len(train.arms)} training decisions, {len(validation.arms)} validation decisions")
    layout = context_layout(bandit.arms)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_bandit(bandit, Path(tmp) / "bandit.json")
        mlflow.activate()
        registered = log_and_register(
            TrainingRecord(
                registered_name="rtopt-bandit",
                kind="bandit",
                params={
                    "symbol": config.symbol,
                    "horizon": run_config.horizon,
                    "alpha": run_config.alpha,
                    "fee_bps": run_config.fee_bps,
                },
                metrics={"train_mean_reward_bps": train.mean_reward_bps, "decisions": float(len(validation.arms))},
                validation_score=validation.mean_reward_bps,
                artifacts={"bandit": path},
                signature=infer_signature(
                    pd.DataFrame(np.zeros((1, len(layout))), columns=list(layout)),
                    pd.DataFrame({"arm": [bandit.arms[0]]}),
                ),
                feature_service=FEATURE_SERVICE,
                data_start=events[TIME].iloc[0].isoformat(),
                data_end=events[TIME].iloc[end - 1].isoformat(),
                curves={"reward_bps_ewma": _ewma(train.rewards + validation.rewards)},
            ),
            mlflow.experiment,
            mlflow.artifact_root,
            challenger_only=_challenger_only(context, config.challenger_only),
        )
    arm_counts = np.bincount(np.asarray(validation.arms, dtype=np.int64), minlength=len(bandit.arms)).tolist()
    extra = {"arm_counts_validation": MetadataValue.json(dict(zip(bandit.arms, arm_counts, strict=True)))}
    return MaterializeResult(metadata=_metadata(registered, validation.mean_reward_bps, extra))


def _ewma(values: tuple[float, ...], alpha: float = 0.01, every: int = 50) -> list[float]:
    out, level = [], 0.0
    for i, v in enumerate(values):
        level = (1 - alpha) * level + alpha * v
        if i % every == 0:
            out.append(level)
    return out


model_assets = [regime_model, ddpg_agent, ppo_agent, strategy_bandit]


class EvaluationConfig(Config):
    symbol: str = "BTC-PERP"
    agent: str = "ppo"


@asset(
    group_name=GROUP,
    deps=[regime_model, ddpg_agent, ppo_agent, strategy_bandit],
    kinds={"mlflow"},
    check_specs=baseline_check_specs("model_evaluation"),
)
def model_evaluation(
    context: AssetExecutionContext, config: EvaluationConfig, market_data: MarketDataResource, mlflow: MlflowResource
) -> MaterializeResult:
    """Walk-forward out-of-sample backtest of the composed policy beside flat, buy-and-hold, each arm, random."""
    mlflow.activate()
    folder = Path(tempfile.mkdtemp(prefix="rtopt-eval-"))
    outcome = evaluate_champions(
        _bars(market_data, config.symbol), config.agent, folder, mlflow.experiment, mlflow.artifact_root
    )
    composed = outcome.table.get("composed[seed=0]", {})
    context.log.info(f"composed policy on the test window: {composed}")
    return MaterializeResult(
        metadata={
            "mlflow_run_id": outcome.run_id,
            "report": MetadataValue.md(outcome.markdown),
            "equity_plot": MetadataValue.path(str(outcome.plot)),
            "composed_total_return": composed.get("total_return", float("nan")),
            "buy_and_hold_total_return": outcome.table.get("buy_and_hold", {}).get("total_return", float("nan")),
        },
        check_results=baseline_results(outcome.table),
    )


model_assets = [*model_assets, model_evaluation]
