"""Performance drift: the live mean against the backtest's lower bound, after enough decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.monitoring.performance import BacktestExpectation, LivePerformance, PerformanceRule
from models.seeding import make_rng

EXPECTED = BacktestExpectation(mean_bps=0.5, std_bps=10.0, decisions=5_000)
RULE = PerformanceRule(min_decisions=400)


def _live(values: np.ndarray) -> LivePerformance:
    live = LivePerformance()
    for v in values:
        live.update(float(v))
    return live


def test_live_performance_given_series_returns_numpy_mean_std_and_sharpe() -> None:
    values = make_rng(3).normal(1.0, 4.0, 1_000)

    live = _live(values)

    assert live.mean == pytest.approx(values.mean())
    assert live.std == pytest.approx(values.std(ddof=1))
    assert live.sharpe == pytest.approx(values.mean() / values.std(ddof=1))


def test_verdict_given_live_pnl_as_backtested_returns_not_drifted() -> None:
    live = _live(make_rng(1).normal(EXPECTED.mean_bps, EXPECTED.std_bps, 2_000))

    verdict = live.verdict(EXPECTED, RULE)

    assert not verdict.drifted
    assert verdict.lower_bound_bps == pytest.approx(0.5 - 2.326 * 10.0 / math.sqrt(2_000))


def test_verdict_given_live_mean_two_bps_lower_returns_drifted_with_reason() -> None:
    live = _live(make_rng(2).normal(EXPECTED.mean_bps - 2.0, EXPECTED.std_bps, 2_000))

    verdict = live.verdict(EXPECTED, RULE)

    assert verdict.drifted
    assert "below the backtest's lower bound" in verdict.reason


def test_verdict_given_fewer_decisions_than_minimum_returns_not_drifted_however_bad() -> None:
    live = _live(np.full(399, -50.0))

    verdict = live.verdict(EXPECTED, RULE)

    assert not verdict.drifted
    assert verdict.reason == "399 of 400 live decisions"


def test_expectation_given_equity_curve_returns_per_decision_bps() -> None:
    equity = 1.0 + np.cumsum(np.r_[0.0, [1e-4, -2e-4, 3e-4]])

    expectation = BacktestExpectation.from_equity(equity)

    assert expectation.mean_bps == pytest.approx(2.0 / 3.0)
    assert expectation.decisions == 3


def test_expectation_given_tags_round_trip_returns_equal_and_none_without_tags() -> None:
    assert BacktestExpectation.from_tags(EXPECTED.to_tags()) == EXPECTED
    assert BacktestExpectation.from_tags({"other": "1"}) is None


def test_expectation_given_incomplete_tags_raises_naming_missing_tag() -> None:
    tags = EXPECTED.to_tags()
    del tags["backtest_pnl_bps_std"]

    with pytest.raises(ValueError, match="backtest_pnl_bps_std"):
        BacktestExpectation.from_tags(tags)


def test_expectation_given_one_decision_raises_naming_field() -> None:
    with pytest.raises(ValueError, match="decisions"):
        BacktestExpectation(mean_bps=0.0, std_bps=1.0, decisions=1)
