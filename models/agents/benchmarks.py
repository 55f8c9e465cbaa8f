"""Throughput and latency measurements of the agents, for ``bench/`` to record.

- ``ppo_pendulum_steps_per_s`` / ``ppo_env_train_steps_per_s``: SB3 PPO training throughput (env steps per
  second of ``learn``, rollouts and updates together) on Pendulum-v1 and on the trading env, with the same
  ``PPOConfig`` and one torch thread, so their ratio isolates the env's cost (target >= 0.8).
- ``actor_infer_latency_us``: batch-1 latency of the exported DDPG actor (default 30-256-256-3) through
  ``load_actor`` (numpy by default; target p99 <= 30 us).
"""

from __future__ import annotations

import tempfile
import time
from typing import NamedTuple

import gymnasium as gym
import numpy as np

from models.agents.config import DDPGConfig, PPOConfig
from models.agents.export import Backend, export_actor, load_actor
from models.agents.training import make_ddpg, make_ppo, torch_threads
from models.env import TradingEnv, btc_perp_replay
from models.seeding import make_rng


class LatencyStats(NamedTuple):
    p50_us: float
    p99_us: float
    mean_us: float
    n: int


def _ppo_steps_per_s(env: gym.Env[np.ndarray, np.ndarray], n: int, config: PPOConfig) -> float:
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    with torch_threads(1):
        model = make_ppo(env, config)
        started = time.perf_counter()
        model.learn(total_timesteps=n)
        elapsed = time.perf_counter() - started
    return model.num_timesteps / elapsed


def ppo_pendulum_steps_per_s(n: int, *, seed: int = 0) -> float:
    """SB3 PPO (default ``PPOConfig``) training steps per second on Pendulum-v1, one torch thread."""
    env = gym.make("Pendulum-v1")
    return _ppo_steps_per_s(env, n, PPOConfig(state_dim=3, action_dim=1, seed=seed))


def ppo_env_train_steps_per_s(n: int, *, seed: int = 0) -> float:
    """The same on the trading env over the BTC-PERP sample."""
    return _ppo_steps_per_s(TradingEnv(btc_perp_replay()), n, PPOConfig(seed=seed))


def actor_infer_latency_us(n: int, *, backend: Backend = "numpy", warmup: int = 1_000, seed: int = 0) -> LatencyStats:
    """Per-call latency of the exported default DDPG actor at batch 1, timed call by call."""
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    env = TradingEnv(btc_perp_replay())
    model = make_ddpg(env, DDPGConfig(buffer_size=1, seed=seed))
    with tempfile.TemporaryDirectory() as folder:
        export_actor(model, folder)
        actor = load_actor(folder, backend)
    low, high = env.observations.bounds()
    observations = make_rng(seed).uniform(low, high, size=(n + warmup, len(low))).astype(np.float32)
    for obs in observations[:warmup]:
        actor(obs)
    timings = np.empty(n, dtype=np.float64)
    clock = time.perf_counter_ns
    for k, obs in enumerate(observations[warmup:]):
        started = clock()
        actor(obs)
        timings[k] = clock() - started
    timings /= 1e3
    return LatencyStats(
        p50_us=float(np.percentile(timings, 50)),
        p99_us=float(np.percentile(timings, 99)),
        mean_us=float(timings.mean()),
        n=n,
    )
