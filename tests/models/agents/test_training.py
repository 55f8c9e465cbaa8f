"""Training entry points: PPO on the BTC-PERP trading env, progress reporting, config and space checks."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
from stable_baselines3.common.monitor import Monitor

from models.agents import DDPGConfig, PPOConfig, SplitRateDDPG, TrainingProgress, make_ddpg, train_ppo
from models.env import TradingEnv, TradingEnvConfig, btc_perp_replay
from tests.models.agents.toy_env import TargetEnv, mean_return


def test_train_ppo_given_btc_perp_trading_env_returns_policy_acting_inside_the_action_space() -> None:
    replay = btc_perp_replay()
    train_env = TradingEnv(replay.slice(0, 7_000), TradingEnvConfig(episode_length=128))
    test_env = TradingEnv(
        replay.slice(7_000, len(replay)), TradingEnvConfig(episode_length=128), scaler=train_env.observations.scaler
    )
    reports: list[TrainingProgress] = []

    model = train_ppo(
        train_env, PPOConfig(n_steps=128, batch_size=32, n_epochs=2), 384, reports.append, progress_every=128
    )

    assert [r.steps for r in reports] == [128, 256, 384]
    assert reports[-1].episodes == 3
    assert math.isfinite(reports[-1].mean_return)
    obs, _ = test_env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert test_env.action_space.contains(action)
    assert math.isfinite(mean_return(model, Monitor(test_env), 2))


def test_make_ddpg_given_config_returns_split_learning_rates_and_soft_update_tau() -> None:
    model = make_ddpg(TargetEnv(), DDPGConfig(state_dim=2, hidden_dim=8, actor_lr=1e-4, critic_lr=3e-3, tau=0.01))

    model.learn(total_timesteps=120)  # learning_starts 1000 > 120: no update, but train() is exercised below
    model.train(gradient_steps=1, batch_size=8)

    assert isinstance(model, SplitRateDDPG)
    assert model.actor.optimizer.param_groups[0]["lr"] == 1e-4
    assert model.critic.optimizer.param_groups[0]["lr"] == 3e-3
    assert model.tau == 0.01
    assert [m.out_features for m in model.actor.mu if hasattr(m, "out_features")] == [8, 8, 3]


def test_make_ddpg_given_wrong_state_dim_returns_error_naming_state_dim() -> None:
    with pytest.raises(ValueError, match="state_dim"):
        make_ddpg(TargetEnv(), DDPGConfig(state_dim=30))


def test_make_ddpg_given_discrete_actions_returns_error_naming_action_dim() -> None:
    with pytest.raises(ValueError, match="action_dim"):
        make_ddpg(gym.make("CartPole-v1"), DDPGConfig(state_dim=4, action_dim=1))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DDPGConfig(tau=0.0), "tau"),
        (lambda: DDPGConfig(actor_lr=-1.0), "actor_lr"),
        (lambda: DDPGConfig(noise="pink"), "noise"),  # type: ignore[arg-type]
        (lambda: DDPGConfig(net_arch=(64, 0)), "net_arch"),
        (lambda: DDPGConfig(device="tpu"), "device"),
        (lambda: DDPGConfig(hidden_dim=True), "hidden_dim"),
        (lambda: PPOConfig(clip_range=0.0), "clip_range"),
        (lambda: PPOConfig(n_steps=1), "n_steps"),
        (lambda: PPOConfig(gae_lambda=1.5), "gae_lambda"),
    ],
)
def test_config_given_bad_value_returns_error_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()  # type: ignore[operator]


def test_ddpg_config_given_defaults_returns_the_seeds_dimensions() -> None:
    config = DDPGConfig()

    assert (config.state_dim, config.action_dim, config.hidden_dim) == (30, 3, 256)
    assert config.hidden_layers == (256, 256)
    assert DDPGConfig(net_arch=(400, 300)).hidden_layers == (400, 300)
