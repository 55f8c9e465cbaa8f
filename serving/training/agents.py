"""Train a DDPG or PPO agent on a symbol's history and score it on the validation window.

The protocol is fixed here, before any result is seen: chronological split (train, validation,
rest untouched for evaluation), the exported actor (the artifact that gets registered, not the
in-memory policy) run deterministically over the whole validation window, the score being its
equity net of costs in the env's reward units.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from stable_baselines3 import PPO, TD3

from models.agents import (
    DDPGConfig,
    PPOConfig,
    TrainingProgress,
    export_actor,
    load_actor,
    train_ddpg,
    train_ppo,
)
from models.device import DeviceManagerConfig, select_device
from models.env import MarketReplay, TradingEnv, TradingEnvConfig
from serving.monitoring.online import save_psi_reference
from serving.safety.explain import BACKGROUND_FILE, background_from_replay, save_background

log = logging.getLogger(__name__)

Algorithm = Literal["ddpg", "ppo"]
SCALER_FILE = "scaler.json"
BACKGROUND_ROWS = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentTrainingConfig:
    """Budget and protocol of one training run."""

    total_steps: int = 4_000
    episode_length: int = 500
    train_fraction: float = 0.6
    validation_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps: must be >= 1, got {self.total_steps}")
        if not 0 < self.train_fraction < 1 or not 0 < self.validation_fraction < 1 - self.train_fraction:
            raise ValueError(
                f"train_fraction/validation_fraction: need 0 < train < 1 and 0 < validation < 1 - train, "
                f"got {self.train_fraction}, {self.validation_fraction}"
            )


@dataclass(frozen=True, slots=True)
class TrainedAgent:
    algorithm: Algorithm
    actor_dir: Path
    validation_score: float
    validation_trades: int
    train_rows: tuple[int, int]
    validation_rows: tuple[int, int]
    curves: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=dict)


def torch_device() -> str:
    """The device manager's choice, as SB3 takes it (an XLA/TPU choice trains on the CPU: SB3 has no XLA path)."""
    choice = select_device(DeviceManagerConfig())
    return choice.device if choice.kind in ("cuda", "mps") else "cpu"


def split_rows(n: int, config: AgentTrainingConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """Chronological (train, validation) row ranges; the rest is left for out-of-sample evaluation."""
    train_end = int(n * config.train_fraction)
    validation_end = int(n * (config.train_fraction + config.validation_fraction))
    return (0, train_end), (train_end, validation_end)


def train_agent(
    algorithm: Algorithm,
    replay: MarketReplay,
    out_dir: Path,
    config: AgentTrainingConfig,
    progress: Callable[[TrainingProgress], None] | None = None,
) -> TrainedAgent:
    """Train on the train window, export the actor and its scaler, score it on the validation window."""
    train_rows, validation_rows = split_rows(len(replay), config)
    env = TradingEnv(replay.slice(*train_rows), TradingEnvConfig(episode_length=config.episode_length))
    curve: list[float] = []

    def record(report: TrainingProgress) -> None:
        if not math.isnan(report.mean_return):
            curve.append(report.mean_return)
        if progress is not None:
            progress(report)

    every = max(1, config.total_steps // 20)
    agent_config: DDPGConfig | PPOConfig
    model: TD3 | PPO
    device = torch_device()
    if algorithm == "ddpg":
        ddpg_config = DDPGConfig(seed=config.seed, learning_starts=min(1_000, config.total_steps // 4), device=device)
        model, agent_config = (
            train_ddpg(env, ddpg_config, config.total_steps, record, progress_every=every),
            ddpg_config,
        )
    else:
        agent_config = PPOConfig(seed=config.seed, device=device)
        model = train_ppo(env, agent_config, config.total_steps, record, progress_every=every)
    actor_dir = out_dir / algorithm
    export_actor(model, actor_dir)
    (actor_dir / SCALER_FILE).write_text(env.observations.scaler.to_json())
    # The fixed SHAP background of this actor: observations of its own training data.
    sample = background_from_replay(env.replay, env.observations.scaler, BACKGROUND_ROWS, config.seed)
    save_background(actor_dir / BACKGROUND_FILE, sample)
    # The online PSI's pre-binned reference (serving.monitoring.online): the raw features it was trained on.
    save_psi_reference(actor_dir, env.replay.features, env.replay.feature_names)
    score, trades = validation_score(actor_dir, replay.slice(*validation_rows), env)
    params = {f"agent.{k}": v for k, v in asdict(agent_config).items()} | {
        f"run.{k}": v for k, v in asdict(config).items()
    }
    if not curve:
        log.warning("%s: no episode finished in %d steps, so no learning curve", algorithm, config.total_steps)
    curves = {"mean_episode_return": curve} if curve else {}
    return TrainedAgent(algorithm, actor_dir, score, trades, train_rows, validation_rows, curves, params)


def validation_score(actor_dir: Path, validation: MarketReplay, train_env: TradingEnv) -> tuple[float, int]:
    """Equity (net of costs) of the exported actor over the whole validation window, and its trade count."""
    length = len(validation) - 1 - validation.first_valid
    env = TradingEnv(
        validation,
        TradingEnvConfig(episode_length=length, execution=train_env.config.execution, reward=train_env.config.reward),
        scaler=train_env.observations.scaler,
    )
    actor = load_actor(actor_dir)
    obs, _ = env.reset(options={"start": validation.first_valid})
    equity, trades, done = 0.0, 0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(np.asarray(actor(obs), dtype=np.float32))
        equity = float(info["equity"])
        trades += int(float(info["filled"]) != 0.0)
        done = terminated or truncated
    return equity, trades


def read_scaler(actor_dir: Path) -> dict[str, list[float]]:
    data: dict[str, list[float]] = json.loads((actor_dir / SCALER_FILE).read_text())
    return data
