"""Seeded regime-switching market simulator: labelled ground truth for detectors, drift.

Regimes follow a semi-Markov chain (a minimum duration plus a geometric tail, then a
draw from a transition matrix). Each regime sets drift, volatility, volume and spread so
the label can be recovered from the bars; a ``RegimeShift`` changes the dynamics from a
given time onward. Bars come from intra-bar sub-steps of a log-price path, so OHLC are
consistent by construction. Jumps are compound Poisson in log space (Merton 1976).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.random import Generator

from models.seeding import make_rng

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume", "bid", "ask", "regime", "shifted")


class Regime(StrEnum):
    """True market regime of a bar; its dynamics are in ``_DYNAMICS`` below."""

    TRENDING_UP = "trending_up"
    TRENDING_DOWN = "trending_down"
    SIDEWAYS = "sideways"
    HIGH_VOLATILITY = "high_volatility"
    LOW_VOLATILITY = "low_volatility"
    BREAKOUT = "breakout"
    REVERSAL = "reversal"


REGIMES: tuple[Regime, ...] = tuple(Regime)

# Rows: from-regime, columns: to-regime, both in ``REGIMES`` order (up, down, sideways,
# high vol, low vol, breakout, reversal). Breakouts are entered only from sideways or
# low-vol stretches and reversals only from trends, so each label keeps its context.
DEFAULT_TRANSITION_MATRIX: tuple[tuple[float, ...], ...] = (
    (0.00, 0.05, 0.30, 0.15, 0.10, 0.00, 0.40),
    (0.05, 0.00, 0.30, 0.15, 0.10, 0.00, 0.40),
    (0.20, 0.20, 0.00, 0.10, 0.20, 0.30, 0.00),
    (0.20, 0.20, 0.35, 0.00, 0.25, 0.00, 0.00),
    (0.15, 0.15, 0.30, 0.10, 0.00, 0.30, 0.00),
    (0.30, 0.30, 0.20, 0.20, 0.00, 0.00, 0.00),
    (0.20, 0.20, 0.35, 0.15, 0.10, 0.00, 0.00),
)

_DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
_DEFAULT_INTERVAL = timedelta(minutes=1)


class _Dynamics(NamedTuple):
    drift_units: float  # multiples of ``trend_drift``; the sign is chosen per segment
    vol_start: float  # volatility (and spread) multiplier at a segment's first bar,
    vol_end: float  # ramped linearly to this at its last bar (rising vol in breakouts)
    volume_multiplier: float
    mean_reverting: bool
    duration_scale: float  # breakouts and reversals are short bursts


_DYNAMICS: dict[Regime, _Dynamics] = {
    Regime.TRENDING_UP: _Dynamics(1.0, 1.0, 1.0, 1.0, False, 1.0),
    Regime.TRENDING_DOWN: _Dynamics(1.0, 1.0, 1.0, 1.0, False, 1.0),
    Regime.SIDEWAYS: _Dynamics(0.0, 1.0, 1.0, 0.8, True, 1.0),
    Regime.HIGH_VOLATILITY: _Dynamics(0.0, 3.0, 3.0, 2.0, False, 1.0),
    Regime.LOW_VOLATILITY: _Dynamics(0.0, 0.4, 0.4, 0.6, False, 1.0),
    Regime.BREAKOUT: _Dynamics(4.0, 1.5, 2.5, 3.0, False, 0.4),
    Regime.REVERSAL: _Dynamics(2.0, 1.3, 1.3, 1.5, False, 0.6),
}


def _in_range(
    obj: object, field: str, low: float, high: float, *, open_low: bool = False, integral: bool = False
) -> None:
    value = getattr(obj, field)
    kind: type | tuple[type, ...] = int if integral else (int, float)
    # NaN and +-inf fail the comparisons below, so no separate finiteness check.
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and (value > low if open_low else value >= low) and value <= high:
        return
    what = "an int" if integral else "a finite number"
    bracket = "(" if open_low else "["
    interval = f"{bracket}{low}, {high}]"
    raise ValueError(f"{field}: must be {what} in {interval}, got {value!r}")


def _utc(obj: object, field: str) -> None:
    value = getattr(obj, field)
    if not isinstance(value, datetime):
        raise ValueError(f"{field}: must be a datetime, got {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{field}: must be timezone-aware (UTC), got a naive datetime")
    if offset != timedelta(0):
        raise ValueError(f"{field}: must be in UTC, got UTC offset {offset}")


def _stochastic_matrix(field: str, value: tuple[tuple[float, ...], ...]) -> None:
    size = len(REGIMES)
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field}: must be a {size}x{size} table of numbers") from err
    if matrix.shape != (size, size):
        raise ValueError(f"{field}: must be {size}x{size}, got shape {matrix.shape}")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError(f"{field}: entries must be finite and >= 0")
    if not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"{field}: rows must sum to 1, got {matrix.sum(axis=1)}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeShift:
    """A structural break: from ``at`` onward the market's dynamics change."""

    at: datetime
    """First instant (tz-aware UTC) of the new dynamics; bars stamped at/after it."""
    vol_multiplier: float = 1.0
    """Factor on the diffusion volatility of shifted bars, on top of the regime's."""
    drift_per_bar: float = 0.0
    """Log-return drift added to every shifted bar."""
    spread_multiplier: float = 1.0
    """Factor on the quoted bid/ask spread of every shifted bar."""
    forced_regime: Regime | None = None
    """If set, the market stays in this regime from ``at`` to the end."""

    def __post_init__(self) -> None:
        _utc(self, "at")
        _in_range(self, "vol_multiplier", 0.0, 20.0, open_low=True)
        _in_range(self, "drift_per_bar", -0.01, 0.01)
        _in_range(self, "spread_multiplier", 0.01, 20.0)
        forced = self.forced_regime
        if forced is not None and not isinstance(forced, Regime):
            raise ValueError(f"forced_regime: must be a Regime or None, got {forced!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulatorConfig:
    """Everything that determines a simulated series; equal configs, equal frames."""

    seed: int = 0
    """Seed for ``models.seeding.make_rng``; the only source of randomness."""
    n_bars: int = 10_000
    """Number of bars to produce."""
    start: datetime = _DEFAULT_START
    """Timestamp (tz-aware UTC) of the first bar."""
    bar_interval: timedelta = _DEFAULT_INTERVAL
    """Time between consecutive bars."""
    start_price: float = 100.0
    """Open of the first bar."""
    base_vol: float = 0.001
    """Standard deviation of a bar's diffusive log return at volatility multiplier 1."""
    trend_drift: float = 0.0004
    """Log drift per bar of a trend; breakouts (4x) and reversals (2x) use multiples."""
    mean_reversion: float = 0.1
    """Ornstein-Uhlenbeck pull per bar towards the level a sideways stretch began at."""
    min_regime_bars: int = 30
    """Minimum regime duration (breakouts and reversals use a fraction of it)."""
    mean_extra_regime_bars: float = 60.0
    """Mean of the geometric number of bars a regime lasts beyond its minimum."""
    transition_matrix: tuple[tuple[float, ...], ...] = DEFAULT_TRANSITION_MATRIX
    """Row-stochastic regime transition probabilities, in ``Regime`` order both ways."""
    jump_intensity: float = 0.002
    """Expected number of price jumps per bar (Poisson arrivals)."""
    jump_size: float = 0.01
    """Standard deviation of one jump's log return (jumps are zero-mean)."""
    spread_bps: float = 2.0
    """Bid/ask spread in basis points at volatility multiplier 1; scales with it."""
    spread_noise: float = 0.25
    """Log-space std of per-bar spread noise, so a spread hints at but never pins a regime."""
    base_volume: float = 1_000.0
    """Mean volume per bar at volume multiplier 1."""
    volume_sigma: float = 0.5
    """Log-space standard deviation of the lognormal volume noise."""
    substeps: int = 8
    """Intra-bar sub-steps of the price path from which high and low are taken."""
    symbol: str = "SIM"
    """Instrument name, stored in ``DataFrame.attrs["symbol"]``."""
    shift: RegimeShift | None = None
    """Optional structural break applied from ``shift.at`` onward."""

    def __post_init__(self) -> None:
        _in_range(self, "seed", 0, 2**63 - 1, integral=True)
        _in_range(self, "n_bars", 1, 5_000_000, integral=True)
        _utc(self, "start")
        interval = self.bar_interval
        if not isinstance(interval, timedelta) or interval <= timedelta(0):
            raise ValueError(f"bar_interval: must be a timedelta > 0, got {interval!r}")
        _in_range(self, "start_price", 0.0, 1e9, open_low=True)
        _in_range(self, "base_vol", 0.0, 0.1, open_low=True)
        _in_range(self, "trend_drift", 0.0, 0.01, open_low=True)
        _in_range(self, "mean_reversion", 0.0, 1.0, open_low=True)
        _in_range(self, "min_regime_bars", 1, 1_000_000, integral=True)
        _in_range(self, "mean_extra_regime_bars", 0.0, 1e6)
        _stochastic_matrix("transition_matrix", self.transition_matrix)
        _in_range(self, "jump_intensity", 0.0, 1.0)
        _in_range(self, "jump_size", 0.0, 0.5)
        # The floor keeps bid < ask apart in float64 at 0.4x vol, a 0.01x shift and noise.
        _in_range(self, "spread_bps", 0.01, 500.0)
        _in_range(self, "spread_noise", 0.0, 0.5)
        _in_range(self, "base_volume", 0.0, 1e15, open_low=True)
        _in_range(self, "volume_sigma", 0.0, 5.0)
        _in_range(self, "substeps", 1, 1_000, integral=True)
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError(f"symbol: must be a non-empty str, got {self.symbol!r}")
        if self.shift is not None and not isinstance(self.shift, RegimeShift):
            raise ValueError(f"shift: must be a RegimeShift or None, got {self.shift}")


_NO_SHIFT = RegimeShift(at=_DEFAULT_START)
# exp() overflows past ~709.8; the margin covers the half-spread added for the ask, which
# stays far below it: 500 bps x 3 vol x 20 shift x e^1.5 noise is under 7 in log terms.
_LOG_PRICE_LIMIT = 690.0


class _Segment(NamedTuple):
    regime: Regime
    length: int
    sign: float  # direction of the drift: +1, -1, or 0 for driftless regimes


def _draw_duration(config: SimulatorConfig, regime: Regime, rng: Generator) -> int:
    scale = _DYNAMICS[regime].duration_scale
    minimum = max(1, round(config.min_regime_bars * scale))
    # numpy's geometric counts trials to the first success (>= 1); the tail starts at 0.
    extra = int(rng.geometric(1.0 / (1.0 + config.mean_extra_regime_bars * scale))) - 1
    return minimum + extra


def _segment_sign(regime: Regime, last_sign: float, rng: Generator) -> float:
    if regime is Regime.TRENDING_UP:
        return 1.0
    if regime is Regime.TRENDING_DOWN:
        return -1.0
    if regime is Regime.REVERSAL and last_sign != 0.0:
        return -last_sign
    # A breakout's direction is a coin flip, as is a reversal's with no trend before it.
    if regime in (Regime.REVERSAL, Regime.BREAKOUT):
        return float(rng.choice((-1.0, 1.0)))
    return 0.0


def _draw_segments(config: SimulatorConfig, rng: Generator, forced: Regime | None, forced_from: int) -> list[_Segment]:
    """Semi-Markov regime path; ``forced`` (if set) holds from bar ``forced_from``."""
    matrix = np.asarray(config.transition_matrix, dtype=np.float64)
    segments: list[_Segment] = []
    regime, last_sign, filled = Regime.SIDEWAYS, 0.0, 0
    while filled < config.n_bars:
        if forced is not None and filled >= forced_from:
            regime, length = forced, config.n_bars - filled
        else:
            limit = forced_from if forced is not None else config.n_bars
            length = min(_draw_duration(config, regime, rng), limit - filled)
        sign = _segment_sign(regime, last_sign, rng)
        last_sign = sign if sign != 0.0 else last_sign
        segments.append(_Segment(regime, length, sign))
        filled += length
        row = matrix[REGIMES.index(regime)]
        regime = REGIMES[int(rng.choice(len(REGIMES), p=row / row.sum()))]
    return segments


class _BarPlan(NamedTuple):
    labels: npt.NDArray[np.object_]
    drift: FloatArray
    vol_multiplier: FloatArray
    volume_multiplier: FloatArray
    mean_reverting: BoolArray
    segment_start: BoolArray


def _plan_bars(config: SimulatorConfig, segments: list[_Segment]) -> _BarPlan:
    """Expand segments into per-bar regime parameters (before any shift is applied)."""
    parts: list[tuple[np.ndarray, ...]] = []
    for seg in segments:
        dyn = _DYNAMICS[seg.regime]
        drift = dyn.drift_units * seg.sign * config.trend_drift
        parts.append(
            (
                np.full(seg.length, seg.regime.value, dtype=object),
                np.full(seg.length, drift),
                np.linspace(dyn.vol_start, dyn.vol_end, seg.length),
                np.full(seg.length, dyn.volume_multiplier),
                np.full(seg.length, dyn.mean_reverting),
                np.arange(seg.length) == 0,
            )
        )
    return _BarPlan(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def _bar_drifts(
    config: SimulatorConfig, plan: _BarPlan, drift: FloatArray, noise: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Walk the bars in order: a sideways bar's OU pull depends on the level so far."""
    level = anchor = math.log(config.start_price)
    opens, drifts = [], []
    bars = zip(drift.tolist(), noise.tolist(), plan.mean_reverting.tolist(), plan.segment_start.tolist(), strict=True)
    for base, shock, reverting, start in bars:
        anchor = level if start else anchor
        pull = config.mean_reversion * (level - anchor) if reverting else 0.0
        bar_drift = base - pull
        opens.append(level)
        drifts.append(bar_drift)
        level += bar_drift + shock
    return np.asarray(opens, dtype=np.float64), np.asarray(drifts, dtype=np.float64)


def _log_paths(
    config: SimulatorConfig, plan: _BarPlan, sigma: FloatArray, drift: FloatArray, rng: Generator
) -> tuple[FloatArray, FloatArray]:
    """Log open per bar and the (n_bars, substeps) log-price path inside each bar."""
    n, m = config.n_bars, config.substeps
    steps = rng.standard_normal((n, m)) * (sigma / math.sqrt(m))[:, None]
    # k jumps in a bar sum to one N(0, k * size^2) draw, placed at a random sub-step.
    counts = rng.poisson(config.jump_intensity, n)
    jumps = rng.standard_normal(n) * config.jump_size * np.sqrt(counts)
    steps[np.arange(n), rng.integers(0, m, n)] += jumps
    log_open, bar_drift = _bar_drifts(config, plan, drift, steps.sum(axis=1))
    path = log_open[:, None] + np.cumsum(steps + (bar_drift / m)[:, None], axis=1)
    return log_open, path


def _shift_mask(shift: RegimeShift | None, stamps: pd.DatetimeIndex) -> BoolArray:
    if shift is None:
        return np.zeros(len(stamps), dtype=np.bool_)
    return np.asarray(stamps >= pd.Timestamp(shift.at), dtype=np.bool_)


def _volumes(config: SimulatorConfig, plan: _BarPlan, rng: Generator) -> FloatArray:
    """Lognormal volume whose mean is ``base_volume`` times the regime's multiplier."""
    sigma = config.volume_sigma
    return config.base_volume * plan.volume_multiplier * rng.lognormal(-(sigma**2) / 2.0, sigma, config.n_bars)


def simulate(config: SimulatorConfig) -> pd.DataFrame:
    """Simulate ``config.n_bars`` labelled bars with columns ``COLUMNS``."""
    # Separate streams keep bars before a shift identical to the unshifted run's,
    # even when a forced regime cuts the regime path short.
    regime_rng, path_rng, volume_rng, quote_rng = make_rng(config.seed).spawn(4)
    n = config.n_bars
    stamps = pd.date_range(start=config.start, periods=n, freq=config.bar_interval)
    shifted = _shift_mask(config.shift, stamps)
    # Without a shift no bar is flagged, so the neutral shift's values never apply.
    shift = config.shift or _NO_SHIFT
    first_shifted = int(np.count_nonzero(~shifted))
    segments = _draw_segments(config, regime_rng, shift.forced_regime, first_shifted)
    plan = _plan_bars(config, segments)
    vol_factor = np.where(shifted, shift.vol_multiplier, 1.0)
    sigma = config.base_vol * plan.vol_multiplier * vol_factor
    drift = plan.drift + np.where(shifted, shift.drift_per_bar, 0.0)
    log_open, path = _log_paths(config, plan, sigma, drift, path_rng)
    _check_log_range(path)
    # Spreads follow the regime's volatility (dealers widen in turbulence); the shift
    # scales them on its own so a drift test can move spread and volatility separately.
    spread_factor = np.where(shifted, shift.spread_multiplier, 1.0)
    # Noise is clipped at 3 sd so even the validated maxima keep quotes in float64 range.
    noise = np.clip(quote_rng.standard_normal(n), -3.0, 3.0) * config.spread_noise
    spread = config.spread_bps * plan.vol_multiplier * spread_factor * np.exp(noise)
    log_close, half_spread = path[:, -1], spread * 1e-4 / 2.0
    frame = pd.DataFrame(
        {
            "timestamp": stamps,
            "open": np.exp(log_open),
            "high": np.exp(np.maximum(log_open, path.max(axis=1))),
            "low": np.exp(np.minimum(log_open, path.min(axis=1))),
            "close": np.exp(log_close),
            "volume": _volumes(config, plan, volume_rng),
            "bid": np.exp(log_close - half_spread),
            "ask": np.exp(log_close + half_spread),
            "regime": plan.labels,
            "shifted": shifted,
        }
    )
    frame.attrs["symbol"] = config.symbol
    return frame


def _check_log_range(path: FloatArray) -> None:
    """Fail loudly before exp() would overflow to inf or underflow to 0."""
    if not np.isfinite(path).all() or float(np.abs(path).max()) > _LOG_PRICE_LIMIT:
        raise ValueError(
            "config: parameters drive log prices outside float64 range; lower "
            "trend_drift, base_vol, jump_size or the shift's vol_multiplier/drift_per_bar"
        )
