"""Performance metrics of a backtest: pure functions of an equity curve and the positions held.

Conventions (every function below follows them):

- ``equity`` has one point per bar, the first being the starting value; it must stay > 0.
- ``returns`` are simple per-bar returns of the account, ``equity[t + 1] / equity[t] - 1``.
- ``positions[t]`` is the position held after bar ``t``'s fills, a signed fraction of the maximum position,
  aligned with ``equity`` (``positions[0]`` is the starting position).
- A ratio whose denominator is zero (no variance, no downside, no bar in the market) is NaN: undefined,
  not a plausible number. The flat policy's Sharpe ratio is NaN, not 0.

Definitions:

- total return: ``equity[-1] / equity[0] - 1``.
- annualized Sharpe ratio (W. F. Sharpe, "The Sharpe ratio", J. Portfolio Management 1994): mean excess
  return over its sample standard deviation (ddof 1), times ``sqrt(bars_per_year)``. The square-root rule
  assumes returns independent across bars (A. W. Lo, "The statistics of Sharpe ratios", FAJ 2002).
- annualized Sortino ratio (F. Sortino and L. Price, J. Investing 1994), target 0 excess return: mean excess
  return over the downside deviation ``sqrt(mean(min(excess, 0) ** 2))`` taken over all bars, times
  ``sqrt(bars_per_year)``.
- max drawdown: the largest fall from a running peak, ``max(1 - equity / cummax(equity))``, a fraction >= 0.
- turnover: ``sum |positions[t + 1] - positions[t]|``, in multiples of the maximum position (opening a full
  long and closing it again is 2).
- trade count: bars whose fills changed the position (each fill that moved it counts once).
- hit rate: the fraction of bars with market exposure (a position held into the bar or opened in it:
  ``positions[t] != 0 or positions[t + 1] != 0``) whose net return is > 0. Bars spent flat do not count.

The excess return per bar is ``return - risk_free_rate / bars_per_year`` (an annual rate spread evenly).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _vector(values: npt.ArrayLike, name: str, min_length: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < min_length:
        raise ValueError(f"{name}: expected a 1-D series of at least {min_length} values, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: must be finite (first bad value at {int(np.argmin(np.isfinite(array)))})")
    return array


def _equity(equity: npt.ArrayLike) -> FloatArray:
    curve = _vector(equity, "equity", 1)
    if (curve <= 0.0).any():
        # returns of a wiped-out account are meaningless; say so instead of reporting them
        raise ValueError(f"equity: must stay > 0, reaches {curve.min()} at bar {int(np.argmin(curve))}")
    return curve


def bar_returns(equity: npt.ArrayLike) -> FloatArray:
    """Simple per-bar returns of an equity curve (one fewer than its points)."""
    curve = _equity(equity)
    returns: FloatArray = curve[1:] / curve[:-1] - 1.0
    return returns


def total_return(equity: npt.ArrayLike) -> float:
    """``equity[-1] / equity[0] - 1``."""
    curve = _equity(equity)
    return float(curve[-1] / curve[0] - 1.0)


def _excess(returns: npt.ArrayLike, bars_per_year: float, risk_free_rate: float) -> FloatArray:
    if not (math.isfinite(bars_per_year) and bars_per_year > 0.0):
        raise ValueError(f"bars_per_year: must be a positive finite number, got {bars_per_year}")
    excess: FloatArray = _vector(returns, "returns", 0) - risk_free_rate / bars_per_year
    return excess


def sharpe_ratio(returns: npt.ArrayLike, bars_per_year: float, risk_free_rate: float = 0.0) -> float:
    """Annualized Sharpe ratio of per-bar returns; NaN with fewer than 2 returns or no variance."""
    excess = _excess(returns, bars_per_year, risk_free_rate)
    if len(excess) < 2:
        return math.nan
    std = float(excess.std(ddof=1))
    if std == 0.0:
        return math.nan
    return float(excess.mean()) / std * math.sqrt(bars_per_year)


def sortino_ratio(returns: npt.ArrayLike, bars_per_year: float, risk_free_rate: float = 0.0) -> float:
    """Annualized Sortino ratio (target 0 excess return); NaN without any losing bar."""
    excess = _excess(returns, bars_per_year, risk_free_rate)
    if len(excess) == 0:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return math.nan
    return float(excess.mean()) / downside * math.sqrt(bars_per_year)


def max_drawdown(equity: npt.ArrayLike) -> float:
    """The largest fall from a running peak, as a fraction of the peak (0 for a curve that never falls)."""
    curve = _equity(equity)
    return float(np.max(1.0 - curve / np.maximum.accumulate(curve)))


def turnover(positions: npt.ArrayLike) -> float:
    """Sum of absolute position changes, in multiples of the maximum position."""
    return float(np.abs(np.diff(_vector(positions, "positions", 1))).sum())


def trade_count(positions: npt.ArrayLike) -> int:
    """Bars whose fills changed the position."""
    return int(np.count_nonzero(np.diff(_vector(positions, "positions", 1))))


def hit_rate(returns: npt.ArrayLike, positions: npt.ArrayLike) -> float:
    """Fraction of bars with market exposure whose net return is > 0; NaN when never in the market."""
    r = _vector(returns, "returns", 0)
    p = _vector(positions, "positions", 1)
    if len(p) != len(r) + 1:
        raise ValueError(f"positions: expected {len(r) + 1} points for {len(r)} returns, got {len(p)}")
    exposed = (p[:-1] != 0.0) | (p[1:] != 0.0)
    if not exposed.any():
        return math.nan
    return float(np.mean(r[exposed] > 0.0))


@dataclass(frozen=True, kw_only=True, slots=True)
class Metrics:
    """Every metric of one equity curve (definitions in the module docstring)."""

    total_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    turnover: float
    hit_rate: float
    trade_count: int
    bars: int
    """Decisions scored (returns in the curve)."""

    def as_dict(self) -> dict[str, float]:
        """Name -> value, for MLflow metrics and Dagster metadata."""
        return {name: float(value) for name, value in asdict(self).items()}


METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "turnover",
    "hit_rate",
    "trade_count",
    "bars",
)


def compute_metrics(
    equity: npt.ArrayLike, positions: npt.ArrayLike, *, bars_per_year: float, risk_free_rate: float = 0.0
) -> Metrics:
    """All metrics of an equity curve and the positions aligned with it."""
    curve = _equity(equity)
    held = _vector(positions, "positions", 1)
    if len(held) != len(curve):
        raise ValueError(f"positions: expected one per equity point ({len(curve)}), got {len(held)}")
    returns = bar_returns(curve)
    return Metrics(
        total_return=total_return(curve),
        sharpe=sharpe_ratio(returns, bars_per_year, risk_free_rate),
        sortino=sortino_ratio(returns, bars_per_year, risk_free_rate),
        max_drawdown=max_drawdown(curve),
        turnover=turnover(held),
        hit_rate=hit_rate(returns, held),
        trade_count=trade_count(held),
        bars=len(returns),
    )
