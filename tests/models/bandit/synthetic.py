"""A synthetic linear bandit with a known optimum, and the loop that plays a policy on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from models.seeding import make_rng


class LinearBandit(NamedTuple):
    """Rewards ``theta_a . x_t + noise``: the expected reward of every arm in every round is known."""

    contexts: np.ndarray  # (T, d)
    means: np.ndarray  # (T, k): expected reward of each arm
    noise: np.ndarray  # (T,): the noise added to whichever arm is played


def linear_bandit(*, seed: int, dim: int, arms: int, rounds: int, noise: float) -> LinearBandit:
    rng = make_rng(seed)
    theta = rng.normal(size=(arms, dim)) / np.sqrt(dim)
    contexts = rng.normal(size=(rounds, dim)) / np.sqrt(dim)
    return LinearBandit(contexts=contexts, means=contexts @ theta.T, noise=noise * rng.normal(size=rounds))


def play(
    problem: LinearBandit, choose: Callable[[np.ndarray], int], learn: Callable[[int, np.ndarray, float], None]
) -> np.ndarray:
    """Cumulative (pseudo-)regret of a policy: best expected reward minus the chosen arm's, summed."""
    regret = np.empty(len(problem.contexts))
    for t, x in enumerate(problem.contexts):
        arm = choose(x)
        learn(arm, x, float(problem.means[t, arm] + problem.noise[t]))
        regret[t] = problem.means[t].max() - problem.means[t, arm]
    return np.cumsum(regret)
