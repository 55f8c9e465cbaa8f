"""Golden values of every metric on hand-made series, worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation import (
    METRIC_NAMES,
    bar_returns,
    compute_metrics,
    hit_rate,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    trade_count,
    turnover,
)

# returns +10%, -10%, +10%: mean 1/30, sample std sqrt(((1/15)^2 + (2/15)^2 + (1/15)^2) / 2) = sqrt(3)/15
EQUITY = [1.0, 1.1, 0.99, 1.089]
# two drawdowns: 1.2 -> 0.9 (25%) and 1.5 -> 0.75 (50%)
TWO_DRAWDOWNS = [1.0, 1.2, 0.9, 1.0, 1.5, 1.2, 1.35, 0.75]
# fills: +1, 0, -2, 0, +1, 0, +0.5
POSITIONS = [0.0, 1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 0.5]
RETURNS = [0.01, -0.02, 0.03, 0.01, -0.01, 0.0, 0.0]


def test_bar_returns_given_equity_returns_simple_returns() -> None:
    np.testing.assert_allclose(bar_returns(EQUITY), [0.1, -0.1, 0.1], rtol=1e-12)


def test_total_return_given_equity_returns_last_over_first_minus_one() -> None:
    assert total_return(EQUITY) == pytest.approx(0.089, abs=1e-12)
    assert total_return([2.0, 3.0, 1.0]) == pytest.approx(-0.5)


def test_sharpe_ratio_given_four_bars_a_year_returns_one_over_sqrt_three() -> None:
    # per bar (1/30) / (sqrt(3)/15) = 1 / (2 sqrt(3)); times sqrt(4)
    assert sharpe_ratio(bar_returns(EQUITY), bars_per_year=4.0) == pytest.approx(1.0 / math.sqrt(3.0), rel=1e-9)


def test_sharpe_ratio_given_risk_free_rate_equal_to_mean_returns_zero() -> None:
    # 100 bars a year at 1.0 a year: 0.01 a bar, exactly the mean of the returns
    assert sharpe_ratio([0.02, 0.0, 0.02, 0.0], bars_per_year=100.0, risk_free_rate=1.0) == pytest.approx(0.0)


def test_sharpe_ratio_given_constant_returns_returns_nan() -> None:
    assert math.isnan(sharpe_ratio([0.0] * 6, bars_per_year=525_600.0))
    assert math.isnan(sharpe_ratio([0.01], bars_per_year=525_600.0))


def test_sortino_ratio_given_one_losing_bar_returns_two_over_sqrt_three() -> None:
    # downside deviation sqrt((0 + 0.01 + 0) / 3) = 0.1 / sqrt(3); (1/30) / that = 1 / sqrt(3); times sqrt(4)
    assert sortino_ratio(bar_returns(EQUITY), bars_per_year=4.0) == pytest.approx(2.0 / math.sqrt(3.0), rel=1e-9)


def test_sortino_ratio_given_no_losing_bar_returns_nan() -> None:
    assert math.isnan(sortino_ratio([0.01, 0.0, 0.02], bars_per_year=4.0))


def test_max_drawdown_given_two_drawdowns_returns_the_deeper() -> None:
    assert max_drawdown(TWO_DRAWDOWNS) == pytest.approx(0.5)
    assert max_drawdown(EQUITY) == pytest.approx(0.1)
    assert max_drawdown([1.0, 1.1, 1.2]) == 0.0


def test_turnover_given_positions_returns_sum_of_absolute_changes() -> None:
    assert turnover(POSITIONS) == pytest.approx(4.5)


def test_trade_count_given_positions_returns_bars_that_changed_the_position() -> None:
    assert trade_count(POSITIONS) == 4


def test_hit_rate_given_positions_returns_share_of_exposed_bars_that_gained() -> None:
    # exposed bars: all but the 6th (flat into and out of it); gains at bars 1, 3, 4 -> 3 of 6
    assert hit_rate(RETURNS, POSITIONS) == pytest.approx(0.5)


def test_hit_rate_given_never_in_the_market_returns_nan() -> None:
    assert math.isnan(hit_rate([0.0, 0.0], [0.0, 0.0, 0.0]))


def test_compute_metrics_given_series_returns_every_golden_value() -> None:
    metrics = compute_metrics(EQUITY, [0.0, 1.0, 1.0, 0.0], bars_per_year=4.0)

    assert metrics.total_return == pytest.approx(0.089)
    assert metrics.sharpe == pytest.approx(1.0 / math.sqrt(3.0))
    assert metrics.sortino == pytest.approx(2.0 / math.sqrt(3.0))
    assert metrics.max_drawdown == pytest.approx(0.1)
    assert (metrics.turnover, metrics.trade_count, metrics.bars) == (2.0, 2, 3)
    assert metrics.hit_rate == pytest.approx(2.0 / 3.0)
    assert tuple(metrics.as_dict()) == METRIC_NAMES


@pytest.mark.parametrize(
    ("equity", "match"),
    [([1.0, 0.0, 1.0], "stay > 0"), ([1.0, math.nan], "finite"), ([[1.0, 2.0]], "1-D")],
)
def test_metrics_given_invalid_equity_returns_error(equity: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        total_return(equity)


def test_compute_metrics_given_misaligned_positions_returns_error() -> None:
    with pytest.raises(ValueError, match="one per equity point"):
        compute_metrics(EQUITY, [0.0, 1.0], bars_per_year=4.0)
