"""train_agent's learning curve: present when episodes finished, absent (not empty) when none did."""

from __future__ import annotations

import math
from pathlib import Path

from models.env import btc_perp_replay
from serving.training.agents import AgentTrainingConfig, train_agent
from serving.training.plots import plot_curves


def test_train_agent_given_short_episodes_returns_a_curve_that_plots(tmp_path: Path) -> None:
    config = AgentTrainingConfig(total_steps=300, episode_length=50)

    trained = train_agent("ddpg", btc_perp_replay(), tmp_path, config)

    curve = trained.curves["mean_episode_return"]
    assert len(curve) >= 10 and all(math.isfinite(v) for v in curve)
    assert [p.name for p in plot_curves(trained.curves, tmp_path / "plots", model="rtopt-ddpg")] == [
        "mean_episode_return.png"
    ]


def test_train_agent_given_budget_shorter_than_an_episode_returns_no_curve(tmp_path: Path) -> None:
    config = AgentTrainingConfig(total_steps=100, episode_length=500)

    trained = train_agent("ddpg", btc_perp_replay(), tmp_path, config)

    assert trained.curves == {}
