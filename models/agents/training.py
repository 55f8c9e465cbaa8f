"""Train DDPG and PPO with Stable-Baselines3 from a frozen config, with an injectable progress hook.

``train_ddpg`` / ``train_ppo`` seed everything (``models.seeding.seed_everything`` plus SB3's own seed),
check the env's spaces against the config, run SB3's ``learn`` and return the model. Progress reaches a
``ProgressHook`` every ``progress_every`` steps and at the end; the default hook logs through ``logging``,
and an asset can pass one that records metrics instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DDPG, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.utils import update_learning_rate

from models.agents.config import DDPGConfig, PPOConfig
from models.seeding import seed_everything

logger = logging.getLogger(__name__)


class TrainingProgress(NamedTuple):
    """A progress report: where training is and how well the recent episodes went."""

    algorithm: str
    steps: int
    total_steps: int
    episodes: int
    mean_return: float
    """Mean return of the last (up to 100) finished episodes; NaN before the first one ends."""
    steps_per_s: float


ProgressHook = Callable[[TrainingProgress], None]


def log_progress(progress: TrainingProgress) -> None:
    """The default hook: one INFO line per report."""
    logger.info(
        "%s %d/%d steps (%.0f%%), %d episodes, mean return %.3f, %.0f steps/s",
        progress.algorithm,
        progress.steps,
        progress.total_steps,
        100.0 * progress.steps / max(progress.total_steps, 1),
        progress.episodes,
        progress.mean_return,
        progress.steps_per_s,
    )


class _ProgressCallback(BaseCallback):
    """Bridges SB3's callback protocol to a ``ProgressHook``."""

    def __init__(self, algorithm: str, hook: ProgressHook, every: int, total_steps: int) -> None:
        super().__init__()
        self.algorithm, self.hook, self.every, self.total_steps = algorithm, hook, every, total_steps
        self.episodes = 0
        self.started = time.perf_counter()

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        self.episodes += int(np.sum(self.locals.get("dones", 0)))
        if self.num_timesteps % self.every == 0:
            self._report()
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps % self.every != 0:
            self._report()

    def _report(self) -> None:
        returns = [float(info["r"]) for info in self.model.ep_info_buffer or ()]
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.hook(
            TrainingProgress(
                algorithm=self.algorithm,
                steps=self.num_timesteps,
                total_steps=self.total_steps,
                episodes=self.episodes,
                mean_return=float(np.mean(returns)) if returns else math.nan,
                steps_per_s=self.num_timesteps / elapsed,
            )
        )


class SplitRateDDPG(DDPG):
    """SB3's DDPG with separate actor and critic learning rates (SB3 drives both from one schedule).

    Lillicrap et al. (2016) train the actor at 1e-4 and the critic at 1e-3; SB3 calls
    ``_update_learning_rate`` at the start of every ``train``, so overriding it is enough.
    """

    actor_lr: float = 1e-4
    critic_lr: float = 1e-3

    def _update_learning_rate(self, optimizers: list[torch.optim.Optimizer] | torch.optim.Optimizer) -> None:
        self.logger.record("train/actor_learning_rate", self.actor_lr)
        self.logger.record("train/critic_learning_rate", self.critic_lr)
        update_learning_rate(self.actor.optimizer, self.actor_lr)
        update_learning_rate(self.critic.optimizer, self.critic_lr)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_spaces(env: gym.Env[np.ndarray, np.ndarray], state_dim: int, action_dim: int) -> None:
    """Fail loudly when the env does not match the config's dimensions."""
    obs_space, action_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or obs_space.shape != (state_dim,):
        raise ValueError(f"state_dim: config says {state_dim}, the env observes {obs_space}")
    if not isinstance(action_space, gym.spaces.Box) or action_space.shape != (action_dim,):
        raise ValueError(f"action_dim: config says {action_dim}, the env acts in {action_space}")


def _action_noise(config: DDPGConfig) -> ActionNoise | None:
    mean, sigma = np.zeros(config.action_dim), np.full(config.action_dim, config.noise_std)
    if config.noise == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    if config.noise == "ornstein_uhlenbeck":
        return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)
    return None


def make_ddpg(env: gym.Env[np.ndarray, np.ndarray], config: DDPGConfig) -> SplitRateDDPG:
    """An untrained DDPG for ``env``, seeded; ``train_ddpg`` and ``OnlineDDPG`` start from it."""
    check_spaces(env, config.state_dim, config.action_dim)
    seed_everything(config.seed)
    model = SplitRateDDPG(
        "MlpPolicy",
        env,
        learning_rate=config.critic_lr,
        buffer_size=config.buffer_size,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        train_freq=config.train_freq,
        gradient_steps=config.gradient_steps,
        action_noise=_action_noise(config),
        policy_kwargs={"net_arch": list(config.hidden_layers)},
        seed=config.seed,
        device=config.device,
    )
    model.actor_lr, model.critic_lr = config.actor_lr, config.critic_lr
    return model


def make_ppo(env: gym.Env[np.ndarray, np.ndarray], config: PPOConfig) -> PPO:
    """An untrained PPO for ``env``, seeded."""
    check_spaces(env, config.state_dim, config.action_dim)
    seed_everything(config.seed)
    layers = list(config.hidden_layers)
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={"net_arch": {"pi": layers, "vf": layers}, "log_std_init": config.log_std_init},
        seed=config.seed,
        device=config.device,
    )


def _check_budget(total_steps: int, progress_every: int) -> None:
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps: must be an int >= 1, got {total_steps!r}")
    if not isinstance(progress_every, int) or progress_every < 1:
        raise ValueError(f"progress_every: must be an int >= 1, got {progress_every!r}")


def train_ddpg(
    env: gym.Env[np.ndarray, np.ndarray],
    config: DDPGConfig,
    total_steps: int,
    callback: ProgressHook | None = None,
    *,
    progress_every: int = 1_000,
) -> SplitRateDDPG:
    """Train DDPG on ``env`` for ``total_steps`` env steps; ``callback`` receives progress reports."""
    _check_budget(total_steps, progress_every)
    with torch_threads(config.torch_threads):
        model = make_ddpg(env, config)
        progress = _ProgressCallback("ddpg", callback or log_progress, progress_every, total_steps)
        model.learn(total_timesteps=total_steps, callback=progress)
    return model


def train_ppo(
    env: gym.Env[np.ndarray, np.ndarray],
    config: PPOConfig,
    total_steps: int,
    callback: ProgressHook | None = None,
    *,
    progress_every: int = 1_000,
) -> PPO:
    """Train PPO on ``env`` for at least ``total_steps`` env steps (whole rollouts of ``n_steps``)."""
    _check_budget(total_steps, progress_every)
    with torch_threads(config.torch_threads):
        model = make_ppo(env, config)
        progress = _ProgressCallback("ppo", callback or log_progress, progress_every, total_steps)
        model.learn(total_timesteps=total_steps, callback=progress)
    return model
