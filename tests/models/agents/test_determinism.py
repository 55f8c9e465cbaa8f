"""Same seed, same actions: DDPG and PPO trained twice from one config act identically."""

from __future__ import annotations

import dataclasses

import numpy as np

from models.agents import DDPGConfig, PPOConfig, TrainingProgress, train_ddpg, train_ppo
from models.seeding import make_rng
from tests.models.agents.toy_env import TargetEnv

OBSERVATIONS = make_rng(0).uniform(-1.0, 1.0, size=(32, 2)).astype(np.float32)
DDPG_SMALL = DDPGConfig(state_dim=2, hidden_dim=16, batch_size=16, learning_starts=50, seed=5)
PPO_SMALL = PPOConfig(state_dim=2, hidden_dim=16, n_steps=64, batch_size=16, n_epochs=2, seed=5)


def _quiet(progress: TrainingProgress) -> None:
    del progress


def test_train_ddpg_given_same_seed_twice_returns_identical_actions() -> None:
    first, second = (train_ddpg(TargetEnv(), DDPG_SMALL, 200, _quiet) for _ in range(2))

    np.testing.assert_array_equal(
        first.predict(OBSERVATIONS, deterministic=True)[0], second.predict(OBSERVATIONS, deterministic=True)[0]
    )


def test_train_ddpg_given_other_seed_returns_different_actions() -> None:
    first = train_ddpg(TargetEnv(), DDPG_SMALL, 200, _quiet)
    other = train_ddpg(TargetEnv(), dataclasses.replace(DDPG_SMALL, seed=6), 200, _quiet)

    assert not np.array_equal(
        first.predict(OBSERVATIONS, deterministic=True)[0], other.predict(OBSERVATIONS, deterministic=True)[0]
    )


def test_train_ppo_given_same_seed_twice_returns_identical_actions() -> None:
    first, second = (train_ppo(TargetEnv(), PPO_SMALL, 128, _quiet) for _ in range(2))

    np.testing.assert_array_equal(
        first.predict(OBSERVATIONS, deterministic=True)[0], second.predict(OBSERVATIONS, deterministic=True)[0]
    )
