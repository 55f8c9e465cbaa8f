"""The statistical promotion gate: after N shadow decisions, promote the challenger only on evidence (issue 7).

Champion and challenger decide on the same bars in shadow mode, so their per-decision PnL series are paired;
the gate reads the difference ``d_t = challenger_t - champion_t`` (bps). Conditions, checked in this order;
the first that fails is the reason, and its name starts the reason string:

1. ``too_few_decisions (n < min_decisions)``: too few paired shadow decisions to judge.
2. ``challenger_worse``: the whole confidence interval of ``mean(d)`` lies below zero.
3. ``ci_includes_zero``: the interval contains zero: no statistical support for an improvement.
4. ``delta_below_min``: the improvement is real but smaller than ``min_delta_bps``, not worth a swap.
5. ``ope_missing`` / ``ope_disagrees``: the bandit's IPS and DR estimates of the challenger from the logged
   propensities (``models.evaluation.off_policy``) are required and absent, or do not both beat the champion.
6. ``promote``.

The interval is a percentile interval of the stationary bootstrap (D. N. Politis and J. P. Romano, "The
stationary bootstrap", JASA 1994): resamples are glued from blocks of geometric length with mean
``block_length``, starting at uniform positions of the series taken circularly, so the autocorrelation of
per-decision PnL (positions held over several decisions, volatility clusters) survives inside blocks. An iid
bootstrap would understate the variance of the mean and promote on noise. When ``block_length`` is not given
it is chosen by the automatic rule of D. N. Politis and H. White, "Automatic block-length selection for the
dependent bootstrap", Econometric Reviews 2004, with the correction of A. Patton, D. N. Politis and H. White,
Econometric Reviews 2009 (the ``b_opt,SB`` of their section 3).

The deflated Sharpe ratio of ``d`` (D. H. Bailey and M. Lopez de Prado, "The deflated Sharpe ratio", Journal
of Portfolio Management 2014) is reported with every decision, deflated for ``n_trials`` challengers tried
against this champion; it is evidence for the reader, not a condition, because it assumes iid decisions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from models.env.config import check_int, check_number
from models.evaluation.off_policy import OffPolicyEvidence
from models.seeding import make_rng

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EULER_MASCHERONI = 0.5772156649015329
_STANDARD_NORMAL = NormalDist()
_CELLS_PER_CHUNK = 2_000_000
"""Bootstrap index cells drawn at once (16 MB per array, about six alive): bounds memory for long series."""


def _series(values: npt.ArrayLike, name: str, min_length: int = 2) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < min_length:
        raise ValueError(f"{name}: expected a 1-D series of at least {min_length} values, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: must be finite (first bad value at {int(np.argmin(np.isfinite(array)))})")
    return array


def _paired(champion_bps: npt.ArrayLike, challenger_bps: npt.ArrayLike, min_length: int = 2) -> FloatArray:
    champion = _series(champion_bps, "champion_bps", min_length)
    challenger = _series(challenger_bps, "challenger_bps", min_length)
    if champion.shape != challenger.shape:
        raise ValueError(
            f"challenger_bps: must pair with champion_bps ({len(champion)} decisions), got {len(challenger)}"
        )
    difference: FloatArray = challenger - champion
    return difference


def _insignificant_lag(abs_rho: FloatArray, run: int, threshold: float) -> int | None:
    """Smallest ``m`` with ``|rho(m + 1..m + run)|`` all under ``threshold`` (Politis and White's ``m_hat``)."""
    small = abs_rho < threshold
    for m in range(len(abs_rho) - run):
        if small[m + 1 : m + run + 1].all():
            return m
    return None


def optimal_block_length(values: npt.ArrayLike) -> float:
    """Expected block length of the stationary bootstrap for the mean of ``values`` (Politis and White 2004).

    ``b = (2 G^2 / D)^(1/3) n^(1/3)`` with ``G = sum_k lambda(k/M) |k| R(k)``, ``D = 2 (sum_k lambda(k/M) R(k))^2``,
    ``R`` the sample autocovariances, ``lambda`` the flat-top window and ``M = 2 m_hat`` (Patton, Politis and White
    2009). Clamped to ``[1, min(3 sqrt(n), n / 3)]``; 1 for a constant series.
    """
    x = _series(values, "values")
    n = len(x)
    eps = x - x.mean()
    gamma0 = float(eps @ eps) / n
    if gamma0 == 0.0:
        return 1.0
    run = max(5, math.ceil(math.sqrt(math.log10(n))))
    m_max = min(math.ceil(math.sqrt(n)) + run, n - 1)
    acov = np.array([float(eps[k:] @ eps[: n - k]) / n for k in range(m_max + 1)])
    m_hat = _insignificant_lag(np.abs(acov / gamma0), run, 2.0 * math.sqrt(math.log10(n) / n))
    big_m = m_max if m_hat is None else min(2 * max(m_hat, 1), m_max)
    k = np.arange(1, big_m + 1)
    window = np.where(k / big_m <= 0.5, 1.0, 2.0 * (1.0 - k / big_m))
    g = 2.0 * float(np.sum(window * k * acov[1 : big_m + 1]))
    long_run = gamma0 + 2.0 * float(np.sum(window * acov[1 : big_m + 1]))
    b_max = math.ceil(min(3.0 * math.sqrt(n), n / 3.0))
    if long_run <= 0.0:
        return float(b_max)
    b = (2.0 * g**2 / (2.0 * long_run**2)) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return float(min(max(b, 1.0), b_max))


def _stationary_indices(rng: np.random.Generator, n: int, rows: int, block_length: float) -> IntArray:
    """``rows`` stationary-bootstrap resamples of positions ``0..n-1`` (Politis and Romano 1994, section 2)."""
    starts = rng.integers(0, n, size=(rows, n))
    new_block = rng.random((rows, n)) < 1.0 / block_length
    new_block[:, 0] = True
    t = np.arange(n)
    block_start = np.maximum.accumulate(np.where(new_block, t, 0), axis=1)
    origin = np.take_along_axis(starts, block_start, axis=1)
    indices: IntArray = (origin + t - block_start) % n
    return indices


@dataclass(frozen=True, kw_only=True, slots=True)
class BootstrapResult:
    """Paired stationary-bootstrap inference on the mean per-decision difference, challenger - champion."""

    mean_difference: float
    """Observed ``mean(challenger - champion)``, bps per decision."""
    ci_low: float
    ci_high: float
    """Percentile confidence interval of the mean difference at ``confidence``."""
    share_at_or_below_zero: float
    """Share of resampled means <= 0: a one-sided bootstrap p-value-like measure of "no improvement"."""
    confidence: float
    n_resamples: int
    block_length: float
    """Mean block length used (given, or chosen by ``optimal_block_length``)."""
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def _resampled_means(d: FloatArray, n_resamples: int, block_length: float, seed: int) -> FloatArray:
    """Means of ``n_resamples`` stationary-bootstrap resamples of ``d``, drawn in chunks to bound memory."""
    n = len(d)
    if not (isinstance(n_resamples, int) and n_resamples >= 1):
        raise ValueError(f"n_resamples: must be an int >= 1, got {n_resamples!r}")
    if not 1.0 <= block_length <= n:
        raise ValueError(f"block_length: must lie in [1, {n}] (the series length), got {block_length}")
    rng = make_rng(seed)
    rows = max(1, _CELLS_PER_CHUNK // n)
    chunks = [
        d[_stationary_indices(rng, n, min(rows, n_resamples - i), block_length)].mean(axis=1)
        for i in range(0, n_resamples, rows)
    ]
    return np.concatenate(chunks)


def paired_bootstrap(
    champion_bps: npt.ArrayLike,
    challenger_bps: npt.ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    block_length: float | None = None,
    seed: int = 0,
) -> BootstrapResult:
    """Stationary bootstrap (Politis and Romano 1994) of the mean paired difference, resampling whole pairs.

    Resampling the pairs with shared indices is resampling ``d = challenger - champion``; ``block_length`` is
    the mean block length (``None``: Politis and White's automatic choice, see ``optimal_block_length``).
    With strong autocorrelation and a few hundred decisions the interval runs narrow: the block bootstrap's
    variance estimate is biased down by ``O(1 / block_length)`` and is itself noisy (S. N. Lahiri, "Resampling
    methods for dependent data", Springer 2003, ch. 3). For AR(1) differences with coefficient 0.5 and 500
    decisions a nominal 90% interval covers about 85% of the time (see the coverage test); raise ``confidence``
    or ``min_decisions`` to compensate.
    """
    d = _paired(champion_bps, challenger_bps)
    n = len(d)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must lie in (0, 1), got {confidence}")
    length = optimal_block_length(d) if block_length is None else block_length
    means = _resampled_means(d, n_resamples, length, seed)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return BootstrapResult(
        mean_difference=float(d.mean()),
        ci_low=float(low),
        ci_high=float(high),
        share_at_or_below_zero=float(np.mean(means <= 0.0)),
        confidence=confidence,
        n_resamples=n_resamples,
        block_length=float(length),
        n=n,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class DeflatedSharpeResult:
    """Bailey and Lopez de Prado's probabilistic and deflated Sharpe ratios of one return series."""

    sharpe: float
    """Annualized Sharpe ratio ``mean / std (ddof 1) * sqrt(annualization)``; NaN for a constant series."""
    skewness: float
    kurtosis: float
    """Non-excess kurtosis (3 for normal returns); population moments, as in the paper."""
    n: int
    n_trials: int
    expected_max_sharpe: float
    """Annualized ``SR_0``: the expected maximum Sharpe ratio of ``n_trials`` skill-less trials."""
    psr: float
    """``P(true Sharpe > sr_benchmark)``: the probabilistic Sharpe ratio."""
    dsr: float
    """``P(true Sharpe > SR_0)``: the deflated Sharpe ratio; equals ``psr`` for one trial."""

    def to_dict(self) -> dict[str, float | int]:
        """The result as a dict (NaN where the series is constant)."""
        return asdict(self)


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``E[max SR]`` of ``n_trials`` skill-less trials whose Sharpe estimates have variance ``sharpe_variance``.

    Bailey and Lopez de Prado 2014, eq. 2 (false strategy theorem), ``gamma`` the Euler-Mascheroni constant:
    ``sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``; 0 for a single trial.
    """
    if not (isinstance(n_trials, int) and n_trials >= 1):
        raise ValueError(f"n_trials: must be an int >= 1, got {n_trials!r}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0.0):
        raise ValueError(f"sharpe_variance: must be a finite number >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    quantile = _STANDARD_NORMAL.inv_cdf
    spread = (1.0 - EULER_MASCHERONI) * quantile(1.0 - 1.0 / n_trials) + EULER_MASCHERONI * quantile(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * spread


def probabilistic_sharpe(sharpe: float, benchmark: float, n: int, skewness: float, kurtosis: float) -> float:
    """``Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``, Sharpe ratios per period.

    Bailey and Lopez de Prado 2014, eq. 3 (from Mertens 2002's variance of the Sharpe estimator); NaN when the
    Sharpe ratio is NaN or the variance term is not positive (two-point returns only).
    """
    variance_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not (math.isfinite(variance_term) and variance_term > 0.0):
        return math.nan
    return _STANDARD_NORMAL.cdf((sharpe - benchmark) * math.sqrt(n - 1) / math.sqrt(variance_term))


def deflated_sharpe(
    returns: npt.ArrayLike,
    *,
    n_trials: int,
    annualization: float,
    sr_benchmark: float = 0.0,
    trials_sharpe_variance: float | None = None,
) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio: ``PSR(SR_0)`` with ``SR_0 = sr_benchmark + E[max SR of n_trials]`` (eq. 2 and 3).

    ``sr_benchmark`` and ``trials_sharpe_variance`` (the variance of the trials' Sharpe ratios) are annualized
    with ``annualization`` periods a year; without the variance, the sampling variance of a per-period Sharpe
    estimate of skill-less iid returns, ``1 / (n - 1)``, stands in for it.
    """
    x = _series(returns, "returns")
    if not (math.isfinite(annualization) and annualization > 0.0):
        raise ValueError(f"annualization: must be a positive finite number, got {annualization}")
    n, scale = len(x), math.sqrt(annualization)
    per_period_variance = 1.0 / (n - 1) if trials_sharpe_variance is None else trials_sharpe_variance / annualization
    sr0 = sr_benchmark / scale + expected_max_sharpe(n_trials, per_period_variance)
    std, centred = float(x.std(ddof=1)), x - x.mean()
    population_std = math.sqrt(float(np.mean(centred**2)))
    if std == 0.0:
        sharpe = skewness = kurtosis = math.nan
    else:
        sharpe = float(x.mean()) / std
        skewness = float(np.mean(centred**3)) / population_std**3
        kurtosis = float(np.mean(centred**4)) / population_std**4
    return DeflatedSharpeResult(
        sharpe=sharpe * scale,
        skewness=skewness,
        kurtosis=kurtosis,
        n=n,
        n_trials=n_trials,
        expected_max_sharpe=sr0 * scale,
        psr=probabilistic_sharpe(sharpe, sr_benchmark / scale, n, skewness, kurtosis),
        dsr=probabilistic_sharpe(sharpe, sr0, n, skewness, kurtosis),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class GateConfig:
    """When a shadow challenger replaces the champion; frozen and keyword-only, validated on construction."""

    min_decisions: int = 500
    """Paired shadow decisions needed before the gate judges at all."""
    confidence: float = 0.95
    """Two-sided confidence of the bootstrap interval of the mean PnL difference."""
    min_delta_bps: float = 0.0
    """Smallest mean improvement per decision (bps) worth a swap, once the interval excludes zero."""
    require_ope_agreement: bool = True
    """Also require the bandit's IPS and DR estimates of the challenger to beat the champion."""
    n_resamples: int = 2000
    """Bootstrap resamples; with 2000 the 2.5% quantile's tail share is 2.5% +- 0.35 points (sqrt(p(1-p)/2000))."""
    block_length: float | None = None
    """Mean block length of the stationary bootstrap; ``None``: Politis and White's automatic choice."""
    seed: int = 0
    """Seed of the bootstrap (``models.seeding.make_rng``): the same shadow run gets the same decision."""
    n_trials: int = 1
    """Challengers tried against this champion; deflates the reported Sharpe ratio (not a condition)."""

    def __post_init__(self) -> None:
        check_int(self, "min_decisions", 2)
        check_number(self, "confidence", 0.0, 1.0, open_low=True)
        if self.confidence >= 1.0:
            raise ValueError(f"confidence: must be below 1, got {self.confidence}")
        check_number(self, "min_delta_bps", 0.0, 1e6)
        if not isinstance(self.require_ope_agreement, bool):
            raise ValueError(f"require_ope_agreement: must be a bool, got {self.require_ope_agreement!r}")
        check_int(self, "n_resamples", 100)
        if self.block_length is not None:
            check_number(self, "block_length", 1.0)
        check_int(self, "seed", 0)
        check_int(self, "n_trials", 1)


def _json_ready(value: object) -> object:
    """NaN and infinities become None: JSON has no such numbers."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class GateDecision:
    """The gate's verdict with every statistic behind it; immutable, for the audit log and MLflow."""

    promote: bool
    reason: str
    """``promote``, or the first failing condition with its numbers, e.g. ``too_few_decisions (120 < 500)``."""
    n_decisions: int
    config: GateConfig
    bootstrap: BootstrapResult | None = None
    """None when the gate stopped at ``too_few_decisions``."""
    deflated_sharpe: DeflatedSharpeResult | None = None
    """Of the per-decision difference, annualization 1 (per decision); None with too few decisions."""
    ope: OffPolicyEvidence | None = None

    @property
    def condition(self) -> str:
        """The reason's name without its numbers (``ci_includes_zero``, ``promote``, ...)."""
        return self.reason.split(" ", 1)[0]

    def to_dict(self) -> dict[str, object]:
        """Verdict, config and statistics as a JSON-ready dict (NaN as None)."""
        result = {
            "promote": self.promote,
            "reason": self.reason,
            "condition": self.condition,
            "n_decisions": self.n_decisions,
            "config": asdict(self.config),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(),
            "deflated_sharpe": None if self.deflated_sharpe is None else self.deflated_sharpe.to_dict(),
            "ope": None if self.ope is None else self.ope.to_dict(),
        }
        return {key: _json_ready(value) for key, value in result.items()}


def _failed_condition(boot: BootstrapResult, ope: OffPolicyEvidence | None, config: GateConfig) -> str:
    interval = f"ci [{boot.ci_low:.4g}, {boot.ci_high:.4g}] bps at {config.confidence:g}"
    if boot.ci_high < 0.0:
        return f"challenger_worse ({interval})"
    if boot.ci_low <= 0.0:
        return f"ci_includes_zero ({interval})"
    if boot.mean_difference < config.min_delta_bps:
        return f"delta_below_min ({boot.mean_difference:.4g} < {config.min_delta_bps:g} bps)"
    if config.require_ope_agreement:
        if ope is None:
            return "ope_missing (require_ope_agreement is set and no off-policy evidence was given)"
        if not ope.agrees:
            values = f"ips {ope.ips.value:.4g}, dr {ope.dr.value:.4g}"
            return f"ope_disagrees ({values} vs champion {ope.champion_value:.4g})"
    return "promote"


def gate_decision(
    champion_bps: npt.ArrayLike,
    challenger_bps: npt.ArrayLike,
    ope: OffPolicyEvidence | None,
    config: GateConfig,
) -> GateDecision:
    """Promote the challenger or archive it with the reason; see the module docstring for the conditions.

    ``champion_bps[t]`` and ``challenger_bps[t]`` are the PnL (bps) of the same shadow decision ``t``.
    """
    d = _paired(champion_bps, challenger_bps, min_length=0)
    n = len(d)
    if n < config.min_decisions:
        reason = f"too_few_decisions ({n} < {config.min_decisions})"
        return GateDecision(promote=False, reason=reason, n_decisions=n, config=config, ope=ope)
    boot = paired_bootstrap(
        champion_bps,
        challenger_bps,
        n_resamples=config.n_resamples,
        confidence=config.confidence,
        block_length=config.block_length,
        seed=config.seed,
    )
    reason = _failed_condition(boot, ope, config)
    return GateDecision(
        promote=reason == "promote",
        reason=reason,
        n_decisions=n,
        config=config,
        bootstrap=boot,
        deflated_sharpe=deflated_sharpe(d, n_trials=config.n_trials, annualization=1.0),
        ope=ope,
    )
