"""The trading environment: market replay + observation builder + action interpreter + fills + reward.

One step is one decision at the close of bar t: the observation holds row t (features known at its close,
the position, the regime), the action becomes limit orders that can fill in bar t+1, and the reward scores
the move from t to t+1 (``models.env.reward``). The next observation is row t+1. Nothing of row t+2 or later
is read, so the observation and reward of a step never depend on the future (tested).

An episode is ``episode_length`` steps over a random window of the replay (the training period), drawn
from the env's seeded generator (``reset(seed=...)``); ``reset(options={"start": row})`` pins a window.
Everything the step reads is precomputed as Python lists or one float32 block: no pandas in the step.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from models.env.config import TradingEnvConfig
from models.env.execution import ActionInterpreter, ExecutionModel, LegFill
from models.env.observation import FeatureScaler, ObservationBuilder
from models.env.replay import Float32Array, MarketReplay
from models.env.reward import RewardModel
from models.marketdata.samples import SAMPLES
from models.seeding import make_rng

ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)
ACTION_NAMES = ("size", "entry_factor", "exit_factor")


class TradingEnv(gym.Env[Float32Array, Float32Array]):
    """Gymnasium env over a ``MarketReplay``; ``scaler`` defaults to one fitted on ``replay`` itself.

    Pass the training replay (``replay.slice(...)``) and, for evaluation on later data, the training
    scaler, so that no statistic of the evaluation period leaks into the observations.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(
        self, replay: MarketReplay, config: TradingEnvConfig | None = None, *, scaler: FeatureScaler | None = None
    ) -> None:
        super().__init__()
        self.config = config or TradingEnvConfig()
        self.replay = replay
        length = self.config.episode_length
        self._first_start = replay.first_valid
        self._last_start = len(replay) - 1 - length
        if self._last_start < self._first_start:
            raise ValueError(
                f"episode_length: {length} steps need {length + 1} rows after the warm-up "
                f"({self._first_start} rows); the replay has {len(replay)}"
            )
        fitted = scaler or FeatureScaler.fit(replay.features[self._first_start :])
        self.observations = ObservationBuilder(
            fitted, clip=self.config.observation_clip, feature_names=replay.feature_names
        )
        self.interpreter = ActionInterpreter(self.config.execution.min_trade)
        self.execution = ExecutionModel(self.config.execution)
        self.rewards = RewardModel(self.config.reward)
        low, high = self.observations.bounds()
        self.observation_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = gym.spaces.Box(low=ACTION_LOW, high=ACTION_HIGH, dtype=np.float32)
        self._static = self.observations.static_block(replay)
        bid, ask = self.execution.quotes(replay.close, replay.bid, replay.ask)
        self._bid, self._ask = bid.tolist(), ask.tolist()
        self._close, self._high, self._low = replay.close.tolist(), replay.high.tolist(), replay.low.tolist()
        self._volatility = replay.volatility.tolist()
        self._row = self._start = self._steps = 0
        self._position = self._entry_price = self._notional = self._equity = 0.0

    @property
    def position(self) -> float:
        return self._position

    @property
    def row(self) -> int:
        """Replay row of the current observation."""
        return self._row

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Float32Array, dict[str, Any]]:
        super().reset(seed=seed)
        start = (options or {}).get("start")
        if start is None:
            start = int(self.np_random.integers(self._first_start, self._last_start + 1))
        elif not (isinstance(start, int) and 0 <= start <= self._last_start):
            raise ValueError(f"start: must be an int in [0, {self._last_start}], got {start!r}")
        self._row = self._start = start
        self._steps = 0
        self._position = self._entry_price = self._equity = 0.0
        self._notional = self._close[start]
        return self._observe(start), {"row": start}

    def step(self, action: Float32Array) -> tuple[Float32Array, float, bool, bool, dict[str, Any]]:
        """Decide at the current row, fill in the next bar, score the move; never ``terminated``.

        ``info``: the new ``row``, ``position`` and the ``filled`` change, the reward terms ``pnl``, ``cost``,
        ``risk_penalty`` and ``time_decay`` (reward units), and ``equity``, the episode's cumulative
        ``pnl - cost`` (mark-to-market equity change in reward units).
        """
        i = self._row
        p0 = self._position
        orders = self.interpreter.interpret(action, p0)
        bid, ask, volatility = self._bid[i], self._ask[i], self._volatility[i]
        next_low, next_high = self._low[i + 1], self._high[i + 1]
        exit_leg = self.execution.fill(orders.exit_qty, orders.exit_factor, bid, ask, next_low, next_high, volatility)
        entry_leg = self.execution.fill(
            orders.entry_qty, orders.entry_factor, bid, ask, next_low, next_high, volatility
        )
        parts = self.rewards.score(
            position_before=p0,
            fills=(exit_leg, entry_leg),
            mid=0.5 * (bid + ask),
            close_before=self._close[i],
            close_after=self._close[i + 1],
            volatility=volatility,
            notional=self._notional,
        )
        p1 = max(-1.0, min(1.0, p0 + exit_leg.qty + entry_leg.qty))
        self._entry_price = _entry_price(p0, p1, self._entry_price, entry_leg)
        self._position = p1
        self._equity += parts.pnl - parts.cost
        self._row = i + 1
        self._steps += 1
        info = {
            "row": i + 1,
            "position": p1,
            "filled": p1 - p0,
            "pnl": parts.pnl,
            "cost": parts.cost,
            "risk_penalty": parts.risk,
            "time_decay": parts.decay,
            "equity": self._equity,
        }
        return self._observe(i + 1), parts.reward, False, self._steps >= self.config.episode_length, info

    def _observe(self, row: int) -> Float32Array:
        obs: Float32Array = self._static[row].copy()
        obs[self.observations.position_index] = self._position
        obs[self.observations.unrealized_index] = self.observations.unrealized_return(
            self._position, self._entry_price, self._close[row]
        )
        return obs


def _entry_price(p0: float, p1: float, entry_price: float, entry_leg: LegFill) -> float:
    """Average entry price of the position after a step (0 when flat)."""
    if p1 == 0.0:
        return 0.0
    if p0 * p1 <= 0.0:
        # the position opened or crossed zero: only the entry leg can have taken it there
        return entry_leg.price
    if abs(p1) > abs(p0):
        return (abs(p0) * entry_price + (abs(p1) - abs(p0)) * entry_leg.price) / abs(p1)
    return entry_price


def env_steps_per_s(n: int, *, replay: MarketReplay | None = None, seed: int = 0) -> float:
    """Raw ``TradingEnv.step`` throughput over ``n`` steps of pre-drawn random actions (resets included).

    Defaults to the BTC-PERP sample (one week of 1-minute bars) with the default config.
    """
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    env = TradingEnv(replay or btc_perp_replay())
    actions = _random_actions(n, seed)
    env.reset(seed=seed)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return n / (time.perf_counter() - started)


def _random_actions(n: int, seed: int) -> list[Float32Array]:
    draws: npt.NDArray[np.float32] = make_rng(seed).uniform(ACTION_LOW, ACTION_HIGH, size=(n, 3)).astype(np.float32)
    return list(draws)


def btc_perp_replay() -> MarketReplay:
    """Replay of the shipped BTC-PERP 1-minute bars (no quotes: the fallback spread applies)."""
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    return MarketReplay.from_bars(sample.load().frame, sample.kind)
