"""Train the LinUCB meta-controller by replaying history through the strategy arms.

At each bar every arm sees the features and states its target position; the bandit picks one
of the active arms from the context (regime, volatility, time of day, liquidity, recent arm
PnL). The reward of the chosen arm is its position times the log return over the next
``horizon`` bars, in bps, net of the fee on its position change. Recent arm PnL enters the
context only once realized (``horizon`` bars later), so the replay is causal. Market making
quotes are not filled in this replay (its target is flat): its reward here is 0.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.bandit import ArmPnlTracker, ContextualBanditConfig, LinUCB, build_context, context_dim
from models.features import FEATURE_NAMES, PAIR_FEATURE_NAMES
from models.strategies import Strategy, build_strategies


@dataclass(frozen=True, kw_only=True, slots=True)
class BanditTrainingConfig:
    horizon: int = 5
    fee_bps: float = 2.0
    alpha: float = 0.5
    exploration_rate: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon: must be >= 1, got {self.horizon}")
        if self.fee_bps < 0:
            raise ValueError(f"fee_bps: must be >= 0, got {self.fee_bps}")


@dataclass(frozen=True, slots=True)
class BanditReplay:
    """What one replay did: the arm chosen at each decision, its propensity and its reward."""

    arms: tuple[int, ...]
    propensities: tuple[float, ...]
    rewards: tuple[float, ...]

    @property
    def mean_reward_bps(self) -> float:
        return float(np.mean(self.rewards)) if self.rewards else 0.0


def make_bandit(arm_names: Sequence[str], config: BanditTrainingConfig) -> LinUCB:
    bandit_config = ContextualBanditConfig(
        alpha=config.alpha, exploration_rate=config.exploration_rate, dim=context_dim(len(arm_names)), seed=config.seed
    )
    return LinUCB(arm_names, bandit_config)


def replay_bandit(
    features: pd.DataFrame,
    close: np.ndarray,
    regimes: Sequence[str],
    bandit: LinUCB,
    strategies: Sequence[Strategy],
    config: BanditTrainingConfig,
) -> BanditReplay:
    """Run rows with complete features through the arms and the bandit, learning as it goes."""
    h, names = config.horizon, list(FEATURE_NAMES)
    values = features[names].to_numpy(dtype=np.float64)
    tracker = ArmPnlTracker(bandit.arms)
    pending: deque[np.ndarray] = deque()
    previous = np.zeros(len(strategies))
    arms, props, rewards = [], [], []
    for t in range(len(values) - h):
        if not np.isfinite(values[t]).all():
            continue
        row = dict(zip(names, values[t].tolist(), strict=True)) | {n: math.nan for n in PAIR_FEATURE_NAMES}
        signals = [s.on_features(row) for s in strategies]
        positions = np.array([s.target_position for s in signals])
        forward = math.log(close[t + h] / close[t]) * 1e4
        arm_pnl = positions * forward - config.fee_bps * np.abs(positions - previous)
        previous = positions
        context = build_context(row, regimes[t], tracker.values)
        mask = np.array([s.active for s in signals])
        pending.append(arm_pnl)
        if len(pending) > h:
            for i, pnl in enumerate(pending.popleft()):
                tracker.update(i, float(pnl))
        if not mask.any():
            continue
        choice = bandit.select(context, mask)
        bandit.update(choice.arm, context, float(arm_pnl[choice.arm]))
        arms.append(choice.arm)
        props.append(choice.propensity)
        rewards.append(float(arm_pnl[choice.arm]))
    return BanditReplay(tuple(arms), tuple(props), tuple(rewards))


def train_bandit(
    features: pd.DataFrame, close: np.ndarray, regimes: Sequence[str], config: BanditTrainingConfig, split: int
) -> tuple[LinUCB, BanditReplay, BanditReplay]:
    """Learn on rows [0, split), then keep learning online on [split, end) as it would live: that is the score."""
    strategies = build_strategies()
    bandit = make_bandit([s.name for s in strategies], config)
    train = replay_bandit(features.iloc[:split], close[:split], regimes[:split], bandit, strategies, config)
    validation = replay_bandit(features.iloc[split:], close[split:], regimes[split:], bandit, strategies, config)
    return bandit, train, validation
