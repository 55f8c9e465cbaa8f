"""The backtester on the env's fills: flat, buy-and-hold against the price path, costs, causality, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.env import ExecutionConfig, MarketReplay
from models.evaluation import EvaluationProtocol, backtest, compute_metrics, market_view
from models.strategies import Momentum

START = 500
BARS = 400


def test_backtest_given_flat_targets_returns_zero_return_and_zero_trades(btc_replay: MarketReplay) -> None:
    result = backtest(btc_replay, np.zeros(BARS), start=START)

    metrics = compute_metrics(result.equity, result.positions, bars_per_year=525_600.0)
    assert (result.equity == 1.0).all()
    assert (metrics.total_return, metrics.trade_count, metrics.turnover) == (0.0, 0, 0.0)
    assert result.cost_bps.sum() == 0.0


def test_backtest_given_buy_and_hold_returns_price_path_minus_one_entry_cost(btc_replay: MarketReplay) -> None:
    config = ExecutionConfig()

    result = backtest(btc_replay, np.ones(BARS), start=START)

    # The buy is decided at the close c0 of the first bar: a limit at the ask (c0 plus half the fallback
    # spread), slipped by impact (full position) and volatility, then the fee on the filled notional.
    close = btc_replay.close[START : START + BARS + 1]
    c0, vol0 = close[0], btc_replay.volatility[START]
    ask = c0 * (1.0 + config.fallback_spread_bps * 1e-4 / 2.0)
    fill = ask * (1.0 + config.impact_bps * 1e-4 + config.volatility_slippage * vol0)
    entry_cost = (fill - c0) + fill * config.fee_bps * 1e-4
    expected = 1.0 + (close - c0) / c0 - entry_cost / c0
    expected[0] = 1.0
    np.testing.assert_allclose(result.equity, expected, rtol=0.0, atol=1e-12)
    assert result.positions[0] == 0.0 and (result.positions[1:] == 1.0).all()
    assert compute_metrics(result.equity, result.positions, bars_per_year=525_600.0).trade_count == 1


def test_backtest_given_higher_fee_bps_returns_monotonically_lower_return(btc_replay: MarketReplay) -> None:
    view = market_view(btc_replay, range(START, START + BARS + 1), [Momentum()])
    targets = view.targets[:-1, 0]
    assert np.count_nonzero(np.diff(targets)) > 10  # the strategy trades: costs have something to bite on

    returns = [
        backtest(
            btc_replay, targets, start=START, protocol=EvaluationProtocol(execution=ExecutionConfig(fee_bps=fee))
        ).equity[-1]
        for fee in (0.0, 1.0, 2.0, 5.0, 10.0)
    ]

    assert all(a > b for a, b in itertools.pairwise(returns)), returns


def test_backtest_given_truncated_future_returns_the_same_equity_prefix(btc_replay: MarketReplay) -> None:
    targets = np.sign(np.sin(np.arange(BARS) / 7.0))
    full = backtest(btc_replay, targets, start=START)

    short = backtest(btc_replay.slice(0, START + 201), targets[:200], start=START)

    np.testing.assert_array_equal(short.equity, full.equity[:201])
    np.testing.assert_array_equal(short.positions, full.positions[:201])


def test_backtest_given_changed_later_targets_returns_unchanged_earlier_equity(btc_replay: MarketReplay) -> None:
    targets = np.full(BARS, 0.5)
    changed = targets.copy()
    changed[100:] = -1.0

    a = backtest(btc_replay, targets, start=START)
    b = backtest(btc_replay, changed, start=START)

    np.testing.assert_array_equal(a.equity[:101], b.equity[:101])  # decision 100 first shows at point 101
    assert a.equity[101] != b.equity[101]


@pytest.mark.parametrize(("targets", "match"), [([0.0, 1.5], r"\[-1, 1\]"), ([np.nan], "finite"), ([], "non-empty")])
def test_backtest_given_invalid_targets_returns_error(
    btc_replay: MarketReplay, targets: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        backtest(btc_replay, targets, start=START)


def test_backtest_given_window_in_feature_warm_up_returns_error(btc_replay: MarketReplay) -> None:
    with pytest.raises(ValueError, match="warm-up"):
        backtest(btc_replay, np.zeros(10), start=10)


def test_backtest_given_result_returns_read_only_arrays(btc_replay: MarketReplay) -> None:
    result = backtest(btc_replay, np.ones(5), start=START)

    with pytest.raises(ValueError, match="read-only"):
        result.equity[0] = 2.0
