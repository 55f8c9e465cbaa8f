"""Performance drift: the champion's live per-decision PnL against its backtest expectation.

The expectation is what the walk-forward backtest of the composed policy showed on data no model was
trained on: the mean and standard deviation of its per-decision net PnL, in bps of the maximum notional
(the unit of ``StepResult.net_bps``, so live and backtest numbers compare directly), over ``decisions``.

The rule is a one-sided z-test of the live mean against the backtest mean, with the backtest's own
per-decision dispersion: after ``n >= min_decisions`` live decisions the champion has drifted when

    live_mean < expected_mean - z * expected_std / sqrt(n),

i.e. when the live mean lies below the backtest's lower confidence bound for a mean of ``n`` decisions
(by the central limit theorem; ``z = 2.326`` is the 99% one-sided quantile, so a champion that performs
as backtested is flagged about once in a hundred checks of a full window). The per-decision Sharpe ratio
(``mean / std``, not annualised) of both is reported beside it; it is not the rule, since a Sharpe ratio
of a few hundred decisions is too noisy to compare on its own (A. W. Lo, "The statistics of Sharpe
ratios", Financial Analysts Journal 2002).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TAG_PREFIX = "backtest_pnl_bps_"
"""Registered-version tags holding an expectation: ``<prefix>mean``, ``<prefix>std``, ``<prefix>decisions``."""
Z_99 = 2.326
"""One-sided 99% quantile of the standard normal."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestExpectation:
    """Per-decision net PnL (bps of the maximum notional) of the champion's out-of-sample backtest."""

    mean_bps: float
    std_bps: float
    decisions: int

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean_bps):
            raise ValueError(f"mean_bps: must be finite, got {self.mean_bps}")
        if not (math.isfinite(self.std_bps) and self.std_bps >= 0.0):
            raise ValueError(f"std_bps: must be finite and >= 0, got {self.std_bps}")
        if self.decisions < 2:
            raise ValueError(f"decisions: need >= 2 for a dispersion, got {self.decisions}")

    @property
    def sharpe(self) -> float:
        """Per-decision Sharpe ratio; NaN when the backtest PnL had no dispersion."""
        return self.mean_bps / self.std_bps if self.std_bps > 0.0 else math.nan

    @classmethod
    def from_pnl(cls, pnl_bps: npt.ArrayLike) -> BacktestExpectation:
        values = np.asarray(pnl_bps, dtype=np.float64)
        if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
            raise ValueError(f"pnl_bps: need a finite 1-D series of >= 2 decisions, got shape {values.shape}")
        return cls(mean_bps=float(values.mean()), std_bps=float(values.std(ddof=1)), decisions=len(values))

    @classmethod
    def from_equity(cls, equity: npt.ArrayLike) -> BacktestExpectation:
        """From a backtest's equity curve in units of the maximum notional (``PolicyResult.equity``)."""
        return cls.from_pnl(np.diff(np.asarray(equity, dtype=np.float64)) * 1e4)

    def to_tags(self) -> dict[str, str]:
        return {
            f"{TAG_PREFIX}mean": repr(self.mean_bps),
            f"{TAG_PREFIX}std": repr(self.std_bps),
            f"{TAG_PREFIX}decisions": str(self.decisions),
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> BacktestExpectation | None:
        """None when the tags hold no expectation; a malformed one raises ``ValueError`` naming the tag."""
        keys = (f"{TAG_PREFIX}mean", f"{TAG_PREFIX}std", f"{TAG_PREFIX}decisions")
        if not any(k in tags for k in keys):
            return None
        missing = [k for k in keys if k not in tags]
        if missing:
            raise ValueError(f"tags: expectation incomplete, {missing} missing")
        try:
            mean, std, n = float(tags[keys[0]]), float(tags[keys[1]]), int(tags[keys[2]])
        except ValueError as error:
            raise ValueError(f"tags: {keys}: not numbers ({error})") from None
        return cls(mean_bps=mean, std_bps=std, decisions=n)


@dataclass(frozen=True, kw_only=True, slots=True)
class PerformanceRule:
    """When the live mean counts as below the backtest (module docstring)."""

    min_decisions: int = 500
    """Live decisions before any verdict: fewer say too little about a mean."""
    z: float = Z_99
    """Width of the lower confidence bound, in standard errors."""

    def __post_init__(self) -> None:
        if self.min_decisions < 2:
            raise ValueError(f"min_decisions: must be >= 2, got {self.min_decisions}")
        if not (math.isfinite(self.z) and self.z > 0.0):
            raise ValueError(f"z: must be a positive finite number, got {self.z}")


@dataclass(frozen=True, kw_only=True, slots=True)
class PerformanceVerdict:
    """The live champion against its expectation at one moment."""

    decisions: int
    live_mean_bps: float
    live_sharpe: float
    expected_mean_bps: float
    expected_sharpe: float
    lower_bound_bps: float
    """``expected_mean - z * expected_std / sqrt(decisions)``; NaN before the first decision."""
    drifted: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


class LivePerformance:
    """Running mean and variance of the live per-decision PnL (B. P. Welford, Technometrics 1962)."""

    def __init__(self) -> None:
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def update(self, pnl_bps: float) -> None:
        self.n += 1
        delta = pnl_bps - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (pnl_bps - self._mean)

    @property
    def mean(self) -> float:
        return self._mean if self.n else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else math.nan

    @property
    def sharpe(self) -> float:
        std = self.std
        return self._mean / std if std > 0.0 else math.nan

    def verdict(self, expected: BacktestExpectation, rule: PerformanceRule) -> PerformanceVerdict:
        n = self.n
        bound = expected.mean_bps - rule.z * expected.std_bps / math.sqrt(n) if n else math.nan
        drifted = n >= rule.min_decisions and self.mean < bound
        if n < rule.min_decisions:
            reason = f"{n} of {rule.min_decisions} live decisions"
        else:
            side = "below" if drifted else "not below"
            reason = (
                f"live mean {self.mean:.3f} bps over {n} decisions is {side} the backtest's lower bound "
                f"{bound:.3f} bps (mean {expected.mean_bps:.3f}, z {rule.z})"
            )
        return PerformanceVerdict(
            decisions=n,
            live_mean_bps=self.mean,
            live_sharpe=self.sharpe,
            expected_mean_bps=expected.mean_bps,
            expected_sharpe=expected.sharpe,
            lower_bound_bps=bound,
            drifted=drifted,
            reason=reason,
        )
