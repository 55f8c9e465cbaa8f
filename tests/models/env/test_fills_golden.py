"""Golden values of fills, fees, slippage and reward on a hand-made 6-bar series, worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from models.env import (
    ActionInterpreter,
    ExecutionConfig,
    ExecutionModel,
    MarketReplay,
    RewardConfig,
    TradingEnv,
    TradingEnvConfig,
)
from models.features import FEATURE_NAMES

# close, high, low, bid, ask, ewma_vol of each bar
BARS = [
    (100.0, 100.5, 99.5, 99.9, 100.1, 0.001),
    (101.0, 101.5, 99.8, 100.9, 101.1, 0.002),
    (100.0, 101.2, 99.0, 99.9, 100.1, 0.001),
    (99.0, 100.2, 98.8, 98.9, 99.1, 0.001),
    (99.5, 99.8, 99.0, 99.4, 99.6, 0.001),
    (99.0, 99.6, 98.9, 98.9, 99.1, 0.001),
]
EXECUTION = ExecutionConfig(fee_bps=10.0, impact_bps=20.0, volatility_slippage=0.5, min_trade=0.01)
REWARD = RewardConfig(reward_scale=1e4, inventory_penalty=0.5, volatility_penalty=0.05, time_decay=0.1)


def hand_replay(bars: Sequence[tuple[float, ...]] = BARS) -> MarketReplay:
    close, high, low, bid, ask, vol = (np.array(column) for column in zip(*bars, strict=True))
    n = len(bars)
    return MarketReplay(
        timestamps_ns=np.arange(n, dtype=np.int64) * 60_000_000_000,
        features=np.zeros((n, len(FEATURE_NAMES))),
        close=close,
        high=high,
        low=low,
        bid=bid,
        ask=ask,
        volume=np.ones(n),
        volatility=vol,
        regime=np.zeros((n, 7), dtype=np.float32),
    )


def hand_env() -> TradingEnv:
    config = TradingEnvConfig(episode_length=4, execution=EXECUTION, reward=REWARD)
    env = TradingEnv(hand_replay(), config)
    env.reset(options={"start": 0})
    return env


def test_step_given_aggressive_buy_from_flat_returns_hand_computed_fill_and_reward() -> None:
    env = hand_env()

    obs, reward, _, _, info = env.step(np.array([0.5, 1.0, 0.0], dtype=np.float32))

    # buy limit = bid + 1.0 * spread = 100.1 >= next low 99.8: fills; slip = 20bps * 0.5 + 0.5 * 10bps = 15bps
    price = 100.1 * 1.0015
    fee = 0.5 * price * 1e-3
    pnl, cost = 0.5 * (101.0 - 100.0), 0.5 * (price - 100.0) + fee  # mid 100.0, close 101
    risk, decay = 0.5 * 0.25 + 0.05 * 1e4 * 0.5 * 0.001, 0.1 * 0.5
    assert info["position"] == 0.5
    assert info["pnl"] == pytest.approx(pnl * 100.0, rel=1e-12)  # 1e4 / notional (close[0] = 100)
    assert info["cost"] == pytest.approx(cost * 100.0, rel=1e-12)
    assert reward == pytest.approx(100.0 * (pnl - cost) - risk - decay, rel=1e-12)
    assert reward == pytest.approx(32.0549925, rel=1e-9)
    assert obs[len(FEATURE_NAMES)] == 0.5
    assert obs[len(FEATURE_NAMES) + 1] == pytest.approx(100.0 * (101.0 / price - 1.0), rel=1e-6)


def test_step_given_flip_long_to_short_returns_two_legs_priced_by_exit_and_entry_factors() -> None:
    env = hand_env()
    env.step(np.array([0.5, 1.0, 0.0], dtype=np.float32))

    _, reward, _, _, info = env.step(np.array([-0.5, 0.0, 0.5], dtype=np.float32))

    # exit: sell 0.5 at ask - 0.5 spread = 101.0; entry: sell 0.5 at the ask 101.1; high 101.2 reaches both.
    # slip = 20bps * 0.5 + 0.5 * 20bps = 20bps per leg
    exit_price, entry_price = 101.0 * 0.998, 101.1 * 0.998
    fees = 0.5 * exit_price * 1e-3 + 0.5 * entry_price * 1e-3
    pnl = 0.5 * (100.0 - 101.0) - 1.0 * (100.0 - 101.0)  # held 0.5 through the bar, sold 1.0 from mid 101
    cost = -0.5 * (exit_price - 101.0) - 0.5 * (entry_price - 101.0) + fees
    assert info["position"] == -0.5
    assert info["cost"] == pytest.approx(cost * 100.0, rel=1e-12)
    assert reward == pytest.approx(100.0 * (pnl - cost) - (0.125 + 0.5) - 0.05, rel=1e-12)
    assert reward == pytest.approx(24.03021, rel=1e-9)


def test_step_given_passive_limit_below_next_low_returns_no_fill() -> None:
    env = hand_env()
    for action in ([0.5, 1.0, 0.0], [-0.5, 0.0, 0.5], [-0.5, 0.0, 0.0]):
        env.step(np.array(action, dtype=np.float32))

    _, reward, terminated, truncated, info = env.step(np.array([0.5, 0.0, 0.0], dtype=np.float32))

    # buy limits at the bid 98.9 < next low 99.0: nothing fills, the short rides 99.0 -> 99.5
    assert info["filled"] == 0.0
    assert info["position"] == -0.5
    assert info["cost"] == 0.0
    assert reward == pytest.approx(-0.5 * 0.5 * 100.0 - 0.375 - 0.05, rel=1e-12)
    assert (terminated, truncated) == (False, True)


def test_equity_given_an_episode_returns_sum_of_pnl_minus_cost() -> None:
    env = hand_env()
    actions = ([0.5, 1.0, 0.0], [-0.5, 0.0, 0.5], [-0.5, 0.0, 0.0], [0.5, 0.0, 0.0])

    infos = [env.step(np.array(a, dtype=np.float32))[4] for a in actions]

    # equity (cash + position * close) from the fills by hand: cash after the buy and the flip, marked at 99.5
    buy = 100.1 * 1.0015
    sells = 101.0 * 0.998 + 101.1 * 0.998
    cash = -0.5 * buy * 1.001 + 0.5 * sells - 0.5 * (101.0 * 0.998 + 101.1 * 0.998) * 1e-3
    equity = cash - 0.5 * 99.5
    assert infos[-1]["equity"] == pytest.approx(equity * 100.0, rel=1e-9)
    assert math.fsum(i["pnl"] - i["cost"] for i in infos) == pytest.approx(infos[-1]["equity"], rel=1e-12)


@pytest.mark.parametrize(
    ("qty", "factor", "expected"),
    [(1.0, 0.0, 99.9), (1.0, 1.0, 100.1), (1.0, 0.25, 99.95), (-1.0, 0.0, 100.1), (-1.0, 1.0, 99.9)],
)
def test_limit_price_given_side_and_factor_returns_documented_mapping(
    qty: float, factor: float, expected: float
) -> None:
    assert ExecutionModel.limit_price(qty, factor, 99.9, 100.1) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("position", "target", "legs"),
    [
        (0.0, 0.5, (0.0, 0.5)),
        (0.5, 0.8, (0.0, 0.30000000000000004)),
        (0.5, 0.2, (-0.3, 0.0)),
        (0.5, -0.5, (-0.5, -0.5)),
        (-0.4, 0.6, (0.4, 0.6)),
        (0.5, 0.505, (0.0, 0.0)),
    ],
)
def test_split_given_position_and_target_returns_exit_and_entry_legs(
    position: float, target: float, legs: tuple[float, float]
) -> None:
    exit_qty, entry_qty = ActionInterpreter(min_trade=0.01).split(position, target)

    assert (exit_qty, entry_qty) == pytest.approx(legs, abs=1e-15)
    assert position + exit_qty + entry_qty == pytest.approx(target if legs != (0.0, 0.0) else position)


def test_interpret_given_out_of_range_action_returns_clipped_orders() -> None:
    orders = ActionInterpreter(min_trade=0.0).interpret(np.array([3.0, -1.0, 1.5]), 0.0)

    assert (orders.target, orders.entry_factor, orders.exit_factor) == (1.0, 0.0, 1.0)
    assert (orders.exit_qty, orders.entry_qty) == (0.0, 1.0)


def test_interpret_given_nan_action_returns_error_naming_action() -> None:
    with pytest.raises(ValueError, match="action: must be finite"):
        ActionInterpreter(min_trade=0.0).interpret(np.array([0.5, np.nan, 0.0]), 0.0)


def test_quotes_given_bars_without_bid_ask_returns_fallback_spread_around_close() -> None:
    model = ExecutionModel(ExecutionConfig(fallback_spread_bps=2.0))
    close = np.array([100.0, 200.0])

    bid, ask = model.quotes(close, np.array([np.nan, 199.0]), np.array([np.nan, 201.0]))

    np.testing.assert_allclose(bid, [99.99, 199.0], rtol=1e-15)
    np.testing.assert_allclose(ask, [100.01, 201.0], rtol=1e-15)
