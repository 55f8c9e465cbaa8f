"""Learning tests: DDPG finds a known optimum on a toy env, and solves Pendulum-v1 (expensive)."""

from __future__ import annotations

import gymnasium as gym
import pytest
from stable_baselines3.common.monitor import Monitor

from models.agents import DDPGConfig, train_ddpg
from tests.models.agents.toy_env import TargetEnv, mean_return


def test_train_ddpg_given_toy_env_with_known_optimum_returns_near_optimal_policy() -> None:
    config = DDPGConfig(
        state_dim=2, hidden_dim=32, actor_lr=2e-3, critic_lr=2e-3, batch_size=32, learning_starts=100, seed=0
    )

    model = train_ddpg(TargetEnv(), config, 1_000)

    # optimum 0, a random policy about -0.8: near-optimal means within 0.05 of the optimum
    mean_reward = mean_return(model, Monitor(TargetEnv()), 200)
    assert mean_reward >= -0.05


@pytest.mark.expensive
def test_train_ddpg_given_pendulum_and_rl_zoo_settings_returns_mean_return_above_minus_250() -> None:
    # rl-baselines3-zoo hyperparams/ddpg.yml, Pendulum-v1: gamma 0.98, buffer 200k, learning_starts 10k,
    # Gaussian noise 0.1, lr 1e-3, net [400, 300]; the zoo trains 20k steps, here 15k. Seeds 0-4, 20 seeded
    # evaluation episodes: 11k steps about -1200 each, 12k -420 to -710, 13k about -165, 15k -136 to -140,
    # 20k -121 to -124. 15k leaves 2k steps past where every seed crossed -250 and halves the gradient
    # steps. About a minute on 2 CPU cores.
    config = DDPGConfig(
        state_dim=3,
        action_dim=1,
        net_arch=(400, 300),
        actor_lr=1e-3,
        critic_lr=1e-3,
        gamma=0.98,
        buffer_size=200_000,
        learning_starts=10_000,
        noise="normal",
        noise_std=0.1,
        seed=0,
    )

    model = train_ddpg(gym.make("Pendulum-v1"), config, 15_000, progress_every=5_000)

    assert mean_return(model, Monitor(gym.make("Pendulum-v1")), 20) >= -250.0
