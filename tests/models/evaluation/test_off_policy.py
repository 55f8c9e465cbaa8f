"""Off-policy estimates on hand-made logs and on a simulated logged bandit with a known target-policy value."""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from models.evaluation import (
    direct_method_estimate,
    doubly_robust_estimate,
    ips_estimate,
    off_policy_evidence,
)
from models.seeding import make_rng

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Three arms, two context features: q(x, a) = BASE[a] + x . THETA[a]. The common base of ~1 is what makes plain
# IPS noisy (every weight multiplies it) and what a reward model removes.
BASE = np.array([1.0, 1.1, 0.9])
THETA = np.array([[0.5, -0.2], [-0.3, 0.4], [0.1, 0.1]])
LOGGING_SCORES = np.array([[0.2, 0.0], [0.0, 0.2], [-0.1, -0.1]])
"""The champion ranks arms by a poor linear score; the challenger by the true expected reward."""
NOISE = 0.5


def _q(x: FloatArray) -> FloatArray:
    return BASE + x @ THETA.T


def _epsilon_greedy(scores: FloatArray, epsilon: float) -> FloatArray:
    """Arm probabilities of epsilon-greedy on ``scores``, as LinUCB logs them."""
    probabilities = np.full(scores.shape, epsilon / scores.shape[1])
    probabilities[np.arange(len(scores)), scores.argmax(axis=1)] += 1.0 - epsilon
    return probabilities


def _target(x: FloatArray) -> FloatArray:
    return _epsilon_greedy(_q(x), 0.1)


class Log(NamedTuple):
    x: FloatArray
    logged: FloatArray
    """The logging policy's probabilities of every arm, (n, arms)."""
    arms: IntArray
    rewards: FloatArray


def _simulate(seed: int, n: int) -> Log:
    rng = make_rng(seed)
    x = rng.normal(size=(n, 2))
    logged = _epsilon_greedy(x @ LOGGING_SCORES.T, 0.3)
    arms = np.minimum((rng.random(n)[:, None] > logged.cumsum(axis=1)).sum(axis=1), 2)
    rewards = _q(x)[np.arange(n), arms] + rng.normal(0.0, NOISE, size=n)
    return Log(x, logged, arms, rewards)


def _fitted_model(log: Log) -> FloatArray:
    """A decent reward model: per-arm least squares on the log itself, predicted for every arm."""
    design = np.column_stack([np.ones(len(log.x)), log.x])
    coefficients = [np.linalg.lstsq(design[log.arms == a], log.rewards[log.arms == a])[0] for a in range(3)]
    return np.column_stack([design @ c for c in coefficients])


@cache
def _true_value() -> float:
    """The target policy's value per decision, by Monte Carlo over contexts (standard error ~0.0015)."""
    x = make_rng(999).normal(size=(200_000, 2))
    return float(np.mean(np.sum(_target(x) * _q(x), axis=1)))


def _ips_and_dr(n_seeds: int = 200, n: int = 500) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    ips, dr, ips_se, dr_se = [], [], [], []
    for seed in range(n_seeds):
        log = _simulate(seed, n)
        target = _target(log.x)
        rows = np.arange(n)
        ips_result = ips_estimate(log.rewards, log.logged[rows, log.arms], target[rows, log.arms])
        dr_result = doubly_robust_estimate(
            log.rewards, log.logged[rows, log.arms], target, _fitted_model(log), log.arms
        )
        ips.append(ips_result.value)
        dr.append(dr_result.value)
        ips_se.append(ips_result.standard_error)
        dr_se.append(dr_result.standard_error)
    return np.array(ips), np.array(dr), np.array(ips_se), np.array(dr_se)


@pytest.fixture(scope="module")
def estimates() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    return _ips_and_dr()


def test_ips_estimate_given_simulated_logged_bandit_is_unbiased(
    estimates: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> None:
    ips, _, ips_se, _ = estimates
    # 4 standard errors of the mean over 200 seeds: an unbiased estimator fails this with probability < 1e-4.
    assert abs(ips.mean() - _true_value()) < 4.0 * ips.std(ddof=1) / math.sqrt(len(ips))
    # the reported standard error is calibrated: it matches the spread of the estimate across seeds
    assert ips_se.mean() == pytest.approx(ips.std(ddof=1), rel=0.15)


def test_doubly_robust_estimate_given_decent_reward_model_has_lower_variance_than_ips(
    estimates: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> None:
    ips, dr, ips_se, dr_se = estimates
    assert dr.var(ddof=1) < 0.5 * ips.var(ddof=1)
    assert dr_se.mean() < 0.75 * ips_se.mean()
    assert abs(dr.mean() - _true_value()) < 4.0 * dr.std(ddof=1) / math.sqrt(len(dr))


@pytest.mark.parametrize("on_policy", [False, True])
def test_doubly_robust_estimate_given_perfect_model_equals_direct_method(on_policy: bool) -> None:
    # deterministic rewards and a perfect model: every correction term r - q(x, a) is 0, whatever the weights
    log = _simulate(3, 300)
    target = log.logged if on_policy else _target(log.x)
    rows = np.arange(300)
    rewards = _q(log.x)[rows, log.arms]
    dr = doubly_robust_estimate(rewards, log.logged[rows, log.arms], target, _q(log.x), log.arms)
    dm = direct_method_estimate(target, _q(log.x))
    assert dr.value == pytest.approx(dm.value, rel=1e-12)
    assert dr.standard_error == pytest.approx(dm.standard_error, rel=1e-9)


# Hand-made log: weights w = target / logged = 2, 0, 2, 1; w r = 2, 0, 4, 1.
REWARDS = [1.0, 0.0, 2.0, 1.0]
LOGGED = [0.5, 0.5, 0.25, 1.0]
TARGET = [1.0, 0.0, 0.5, 1.0]


def test_ips_estimate_given_hand_made_log_returns_hand_computed_values() -> None:
    ips = ips_estimate(REWARDS, LOGGED, TARGET)
    assert ips.value == pytest.approx(7.0 / 4.0)
    # sample std of (2, 0, 4, 1): mean 7/4, squared deviations sum 1/16 + 49/16 + 81/16 + 9/16 = 35/4
    assert ips.standard_error == pytest.approx(math.sqrt(35.0 / 12.0) / 2.0)
    assert ips.effective_sample_size == pytest.approx(25.0 / 9.0)
    snips = ips_estimate(REWARDS, LOGGED, TARGET, self_normalized=True)
    assert (snips.estimator, snips.value) == ("snips", pytest.approx(7.0 / 5.0))
    clipped = ips_estimate(REWARDS, LOGGED, TARGET, clip=1.5)  # w = 1.5, 0, 1.5, 1
    assert (clipped.estimator, clipped.value) == ("clipped_ips", pytest.approx(5.5 / 4.0))


def test_ips_estimate_given_shifted_rewards_snips_shifts_and_ips_does_not() -> None:
    shifted = [r + 10.0 for r in REWARDS]
    snips = ips_estimate(REWARDS, LOGGED, TARGET, self_normalized=True).value
    assert ips_estimate(shifted, LOGGED, TARGET, self_normalized=True).value == pytest.approx(snips + 10.0)
    # plain IPS adds 10 * mean(w) = 12.5: the weights do not average 1 on this small log
    assert ips_estimate(shifted, LOGGED, TARGET).value == pytest.approx(7.0 / 4.0 + 12.5)


def test_off_policy_evidence_given_better_and_worse_challengers_returns_agreement_accordingly() -> None:
    log = _simulate(1, 2000)
    rows = np.arange(2000)
    model = _fitted_model(log)
    better = off_policy_evidence(log.rewards, log.logged[rows, log.arms], _target(log.x), model, log.arms)
    assert better.champion_value == pytest.approx(log.rewards.mean())
    assert better.agrees
    worse_target = _epsilon_greedy(-_q(log.x), 0.1)
    worse = off_policy_evidence(log.rewards, log.logged[rows, log.arms], worse_target, model, log.arms)
    assert not worse.agrees
    assert worse.to_dict()["agrees"] is False


def test_off_policy_estimates_given_bad_logs_raise() -> None:
    with pytest.raises(ValueError, match="logged_propensities"):
        ips_estimate(REWARDS, [0.5, 0.0, 0.25, 1.0], TARGET)
    with pytest.raises(ValueError, match="SNIPS is undefined"):
        ips_estimate(REWARDS, LOGGED, [0.0] * 4, self_normalized=True)
    with pytest.raises(ValueError, match="rewards"):
        ips_estimate(REWARDS[:3], LOGGED, TARGET)
    table = [[0.5, 0.5], [0.5, 0.5]]
    with pytest.raises(ValueError, match="probability distribution"):
        direct_method_estimate([[0.5, 0.6], [0.5, 0.5]], table)
    with pytest.raises(ValueError, match="chosen_arms"):
        doubly_robust_estimate([1.0, 0.0], [0.5, 0.5], table, table, [0, 2])
