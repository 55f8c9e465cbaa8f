"""A one-step continuous env with a known optimum, shaped like the trading env's action space."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy

from models.env import ACTION_HIGH, ACTION_LOW

Array = np.ndarray


def optimal_action(obs: Array) -> Array:
    """The unique maximiser of the reward, inside the action bounds for every observation."""
    return np.array([0.8 * obs[0], 0.5 + 0.4 * obs[1], 0.5 - 0.4 * obs[1]], dtype=np.float32)


class TargetEnv(gym.Env[Array, Array]):
    """obs ~ U[-1, 1]^2; reward = -sum((action - optimal_action(obs))^2); every episode is one step.

    The optimum is a mean reward of 0; a uniformly random policy scores about -0.55.
    """

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(ACTION_LOW, ACTION_HIGH, dtype=np.float32)
        self._obs = np.zeros(2, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Array, dict[str, Any]]:
        super().reset(seed=seed)
        self._obs = self.np_random.uniform(-1.0, 1.0, size=2).astype(np.float32)
        return self._obs.copy(), {}

    def step(self, action: Array) -> tuple[Array, float, bool, bool, dict[str, Any]]:
        error = np.asarray(action, dtype=np.float64) - optimal_action(self._obs)
        return self._obs.copy(), -float(np.sum(error**2)), True, False, {}


def mean_return(model: BaseAlgorithm, env: gym.Env[Array, Array], episodes: int) -> float:
    """Mean return of the deterministic policy over ``episodes`` episodes (SB3's ``evaluate_policy``)."""
    mean, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True)
    assert isinstance(mean, float)
    return mean
