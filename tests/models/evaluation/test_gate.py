"""The promotion gate: bootstrap coverage on autocorrelated PnL, deflated Sharpe golden values, every reason."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import numpy.typing as npt
import pytest

from models.evaluation import (
    GateConfig,
    OffPolicyEstimate,
    OffPolicyEvidence,
    deflated_sharpe,
    expected_max_sharpe,
    gate_decision,
    optimal_block_length,
    paired_bootstrap,
)
from models.evaluation.gate import _stationary_indices
from models.seeding import make_rng

FloatArray = npt.NDArray[np.float64]

EULER_MASCHERONI = 0.5772156649015329


def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int], burn_in: int = 200) -> FloatArray:
    """Rows of a stationary AR(1) with unit innovations: ``x_t = phi x_{t-1} + e_t``."""
    e = rng.normal(size=(shape[0], shape[1] + burn_in))
    x = np.zeros_like(e)
    for t in range(1, e.shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x[:, burn_in:]


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _evidence(ips: float, dr: float, champion: float = 0.0) -> OffPolicyEvidence:
    def estimate(name: str, value: float) -> OffPolicyEstimate:
        return OffPolicyEstimate(estimator=name, value=value, standard_error=0.1, n=600, effective_sample_size=300.0)

    return OffPolicyEvidence(champion_value=champion, ips=estimate("ips", ips), dr=estimate("dr", dr))


AGREEING = _evidence(ips=0.5, dr=0.4)


def _improved(delta: float, n: int = 600, seed: int = 0, noise: float = 1.0) -> tuple[FloatArray, FloatArray]:
    """A champion with autocorrelated PnL and a challenger ``delta`` bps better per decision on average."""
    rng = make_rng(seed)
    champion = 3.0 * _ar1(rng, 0.5, (1, n))[0]
    challenger = champion + delta + noise * _ar1(rng, 0.5, (1, n))[0]
    return champion, challenger


# --- stationary bootstrap -------------------------------------------------------------------------------------


def _coverage(phi: float, block_length: float | None, n_experiments: int = 200, n: int = 500) -> float:
    """Share of seeded experiments whose 90% interval covers the true mean difference 0.3 bps."""
    rng = make_rng(7)
    common = _ar1(rng, phi, (n_experiments, n))
    champion = common + _ar1(rng, phi, (n_experiments, n))
    challenger = common + 0.3 + _ar1(rng, phi, (n_experiments, n))
    covered = 0
    for i in range(n_experiments):
        result = paired_bootstrap(
            champion[i], challenger[i], n_resamples=300, confidence=0.9, block_length=block_length, seed=i
        )
        covered += result.ci_low <= 0.3 <= result.ci_high
    return covered / n_experiments


def test_paired_bootstrap_given_ar1_differences_covers_true_mean_near_nominal_rate() -> None:
    # The stationary bootstrap's interval runs narrow on a few hundred autocorrelated decisions: its variance
    # estimate is biased down by O(1 / block length) and is itself noisy (Lahiri 2003, ch. 3). Over 1000 such
    # experiments this setting covered 84.5% (the same within a point for block lengths 10, 20 and 30), so the
    # expectation is ~0.85, not 0.90. With 200 experiments the binomial standard error is 0.025: the band is
    # 0.85 - 3 standard errors up to the nominal 0.90 + 2 standard errors.
    coverage = _coverage(phi=0.5, block_length=None)
    assert 0.775 <= coverage <= 0.95
    # An iid bootstrap ignores the autocorrelation: variance understated by (1 + phi) / (1 - phi) = 3, so its
    # nominal 90% interval covers only about 66% of the time. The blocks are what makes the interval honest.
    iid_coverage = _coverage(phi=0.5, block_length=1.0)
    assert iid_coverage < 0.75
    assert coverage - iid_coverage > 0.1


def test_stationary_indices_given_block_length_returns_blocks_of_that_mean_length() -> None:
    indices = _stationary_indices(make_rng(0), n=1000, rows=50, block_length=8.0)
    breaks = np.diff(indices, axis=1) % 1000 != 1
    # blocks are geometric with mean 8 (a new block may also continue its predecessor by chance: 1 / n)
    assert indices.shape == (50, 1000)
    assert 1000 / (breaks.sum(axis=1).mean() + 1) == pytest.approx(8.0, rel=0.08)


def test_paired_bootstrap_given_identical_series_returns_zero_delta_and_zero_width() -> None:
    champion, _ = _improved(0.0)
    result = paired_bootstrap(champion, champion.copy(), n_resamples=200, seed=0)
    assert result.mean_difference == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.share_at_or_below_zero == 1.0
    assert result.block_length == 1.0


def test_paired_bootstrap_given_same_seed_returns_same_result() -> None:
    champion, challenger = _improved(0.5)
    first = paired_bootstrap(champion, challenger, n_resamples=300, seed=3)
    assert paired_bootstrap(champion, challenger, n_resamples=300, seed=3) == first
    assert paired_bootstrap(champion, challenger, n_resamples=300, seed=4).ci_low != first.ci_low


def test_paired_bootstrap_given_unpaired_or_bad_inputs_raises() -> None:
    with pytest.raises(ValueError, match="challenger_bps: must pair"):
        paired_bootstrap([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="champion_bps: must be finite"):
        paired_bootstrap([1.0, math.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="block_length"):
        paired_bootstrap([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], block_length=5.0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], confidence=1.0)


def test_optimal_block_length_given_ar1_returns_politis_white_rate() -> None:
    # For AR(1), G / g(0) = 2 phi / ((1 - phi)(1 + phi)), so b_opt = (G / g(0))^(2/3) n^(1/3) (Politis-White 2004).
    n = 5000
    lengths = {}
    for phi in (0.0, 0.5, 0.8):
        x = _ar1(make_rng(11), phi, (1, n))[0]
        lengths[phi] = optimal_block_length(x)
    assert lengths[0.0] < 3.0
    for phi in (0.5, 0.8):
        theory = (2.0 * phi / ((1.0 - phi) * (1.0 + phi))) ** (2.0 / 3.0) * n ** (1.0 / 3.0)
        assert lengths[phi] == pytest.approx(theory, rel=0.3)
    assert lengths[0.0] < lengths[0.5] < lengths[0.8]
    assert optimal_block_length([2.0] * 50) == 1.0


# --- deflated Sharpe ratio ------------------------------------------------------------------------------------


def test_deflated_sharpe_given_two_point_returns_matches_hand_computed_psr() -> None:
    # 0, 2, 0, 2, ... (n 10): mean 1, sample std sqrt(10 / 9), so SR = sqrt(0.9); skew 0, kurtosis 1, so the
    # variance term 1 - g3 SR + (g4 - 1) / 4 SR^2 is exactly 1 and PSR(0) = Phi(SR sqrt(n - 1)) = Phi(3 sqrt(0.9)).
    result = deflated_sharpe([0.0, 2.0] * 5, n_trials=1, annualization=1.0)
    assert result.sharpe == pytest.approx(math.sqrt(0.9), rel=1e-12)
    assert (result.skewness, result.kurtosis) == (pytest.approx(0.0, abs=1e-12), pytest.approx(1.0, rel=1e-12))
    assert result.psr == pytest.approx(_normal_cdf(3.0 * math.sqrt(0.9)), rel=1e-12)
    assert result.dsr == result.psr
    assert result.expected_max_sharpe == 0.0


def test_deflated_sharpe_given_normal_returns_reduces_to_psr_with_normal_variance() -> None:
    # Normal returns: skew 0 and kurtosis 3, so the variance term is 1 + SR^2 / 2 (Lo 2002).
    returns = make_rng(5).normal(0.05, 1.0, size=20_000)
    result = deflated_sharpe(returns, n_trials=1, annualization=1.0)
    assert result.skewness == pytest.approx(0.0, abs=0.05)
    assert result.kurtosis == pytest.approx(3.0, abs=0.1)
    sr = float(returns.mean() / returns.std(ddof=1))
    normal_psr = _normal_cdf(sr * math.sqrt(len(returns) - 1) / math.sqrt(1.0 + sr**2 / 2.0))
    assert result.psr == pytest.approx(normal_psr, abs=1e-3)


def test_deflated_sharpe_given_skewed_returns_matches_direct_scipy_computation() -> None:
    stats = pytest.importorskip("scipy.stats")
    returns = make_rng(9).lognormal(0.0, 0.5, size=400) - 1.1
    n_trials, annualization, benchmark = 25, 252.0, 0.5
    result = deflated_sharpe(returns, n_trials=n_trials, annualization=annualization, sr_benchmark=benchmark)
    sr = returns.mean() / returns.std(ddof=1)
    g3, g4 = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    sr0 = benchmark / math.sqrt(annualization) + math.sqrt(1.0 / (len(returns) - 1)) * (
        (1 - EULER_MASCHERONI) * stats.norm.ppf(1 - 1 / n_trials)
        + EULER_MASCHERONI * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    scale = math.sqrt(len(returns) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert (result.skewness, result.kurtosis) == (pytest.approx(g3, rel=1e-9), pytest.approx(g4, rel=1e-9))
    assert result.sharpe == pytest.approx(sr * math.sqrt(annualization), rel=1e-12)
    assert result.expected_max_sharpe == pytest.approx(sr0 * math.sqrt(annualization), rel=1e-9)
    assert result.dsr == pytest.approx(stats.norm.cdf((sr - sr0) * scale), rel=1e-9)
    assert result.psr == pytest.approx(stats.norm.cdf((sr - benchmark / math.sqrt(annualization)) * scale), rel=1e-9)


def test_expected_max_sharpe_given_many_trials_approximates_monte_carlo_maximum() -> None:
    # The false strategy theorem is an approximation of E[max of N standard normals]: within 2% at N = 100.
    draws = make_rng(2).standard_normal(size=(20_000, 100))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(float(draws.max(axis=1).mean()), rel=0.02)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2.0 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(1, 1.0) == 0.0


def test_deflated_sharpe_given_more_trials_returns_lower_dsr() -> None:
    returns = make_rng(4).normal(0.1, 1.0, size=500)
    dsrs = [deflated_sharpe(returns, n_trials=k, annualization=1.0).dsr for k in (1, 10, 100, 1000)]
    assert dsrs == sorted(dsrs, reverse=True)
    assert dsrs[0] > 0.95 > dsrs[-1]


def test_deflated_sharpe_given_constant_returns_returns_nan() -> None:
    result = deflated_sharpe([0.0] * 10, n_trials=3, annualization=1.0)
    assert math.isnan(result.sharpe) and math.isnan(result.psr) and math.isnan(result.dsr)


# --- the gate -------------------------------------------------------------------------------------------------

CONFIG = GateConfig(n_resamples=500)


def test_gate_decision_given_too_few_decisions_returns_reason_with_counts() -> None:
    champion, challenger = _improved(5.0, n=120)
    decision = gate_decision(champion, challenger, AGREEING, CONFIG)
    assert not decision.promote
    assert decision.reason == "too_few_decisions (120 < 500)"
    assert decision.bootstrap is None and decision.deflated_sharpe is None


def test_gate_decision_given_identical_series_returns_zero_delta_and_no_promotion() -> None:
    champion, _ = _improved(0.0)
    decision = gate_decision(champion, champion.copy(), AGREEING, CONFIG)
    assert not decision.promote
    assert decision.condition == "ci_includes_zero"
    assert decision.bootstrap is not None and decision.bootstrap.mean_difference == 0.0
    # the Sharpe ratio of a constant difference is undefined: NaN in the result, null in the JSON
    stats = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert stats["deflated_sharpe"]["dsr"] is None


def test_gate_decision_given_clear_improvement_and_agreeing_ope_promotes() -> None:
    champion, challenger = _improved(1.0)
    decision = gate_decision(champion, challenger, AGREEING, CONFIG)
    assert decision.promote and decision.reason == "promote"
    assert decision.bootstrap is not None and decision.bootstrap.ci_low > 0.0
    assert decision.deflated_sharpe is not None and decision.deflated_sharpe.dsr > 0.99


def test_gate_decision_given_worse_challenger_returns_challenger_worse() -> None:
    champion, challenger = _improved(-1.0)
    assert gate_decision(champion, challenger, AGREEING, CONFIG).condition == "challenger_worse"


def test_gate_decision_given_noise_only_challenger_returns_ci_includes_zero() -> None:
    champion, challenger = _improved(0.0, seed=1)
    decision = gate_decision(champion, challenger, AGREEING, CONFIG)
    assert decision.condition == "ci_includes_zero"
    assert decision.reason.startswith("ci_includes_zero (ci [")


def test_gate_decision_given_small_real_improvement_returns_delta_below_min() -> None:
    champion, challenger = _improved(0.5, noise=0.2)
    decision = gate_decision(champion, challenger, AGREEING, GateConfig(n_resamples=500, min_delta_bps=1.0))
    assert decision.condition == "delta_below_min"
    assert decision.reason.endswith("< 1 bps)")


def test_gate_decision_given_no_ope_when_required_returns_ope_missing() -> None:
    champion, challenger = _improved(1.0)
    assert gate_decision(champion, challenger, None, CONFIG).condition == "ope_missing"
    not_required = GateConfig(n_resamples=500, require_ope_agreement=False)
    assert gate_decision(champion, challenger, None, not_required).promote


def test_gate_decision_given_dr_below_champion_returns_ope_disagrees() -> None:
    champion, challenger = _improved(1.0)
    decision = gate_decision(champion, challenger, _evidence(ips=0.5, dr=-0.1), CONFIG)
    assert not decision.promote
    assert decision.reason == "ope_disagrees (ips 0.5, dr -0.1 vs champion 0)"


def test_gate_decision_to_dict_returns_json_ready_statistics() -> None:
    champion, challenger = _improved(1.0)
    decision = gate_decision(champion, challenger, AGREEING, CONFIG)
    stats = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert stats["promote"] is True and stats["condition"] == "promote"
    assert stats["config"]["n_resamples"] == 500
    assert stats["bootstrap"]["ci_low"] == decision.bootstrap.ci_low  # type: ignore[union-attr]
    assert stats["ope"]["agrees"] is True
    assert gate_decision(champion, challenger, AGREEING, CONFIG).to_dict() == decision.to_dict()
    with pytest.raises(FrozenInstanceError):
        decision.promote = False  # type: ignore[misc]


def test_gate_config_given_bad_fields_raises_naming_the_field() -> None:
    with pytest.raises(ValueError, match="confidence"):
        GateConfig(confidence=1.0)
    with pytest.raises(ValueError, match="block_length"):
        GateConfig(block_length=0.5)
    with pytest.raises(ValueError, match="min_decisions"):
        GateConfig(min_decisions=1)
    with pytest.raises(TypeError):
        GateConfig(unknown=1)  # type: ignore[call-arg]
