"""Learning tests on a synthetic linear bandit, and agreement with a textbook LinUCB written here.

The reference inverts ``A`` with ``numpy.linalg.inv`` on every query, exactly as Algorithm 1 of Li et al.
(2010) is printed; the implementation under test never inverts and keeps ``A^{-1}`` by Sherman-Morrison.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.bandit import ContextualBanditConfig, LinUCB
from models.seeding import make_rng
from tests.models.bandit.synthetic import LinearBandit, linear_bandit, play

DIM, ARMS, ROUNDS = 20, 6, 5000
NAMES = [f"arm_{i}" for i in range(ARMS)]


class TextbookLinUCB:
    """Li et al. 2010, Algorithm 1: ``A_a`` (``self.a``) and ``b_a`` per arm, ``A_a`` inverted at every query."""

    def __init__(self, arms: int, dim: int, alpha: float, ridge: float = 1.0) -> None:
        self.alpha = alpha
        self.a = [ridge * np.eye(dim) for _ in range(arms)]
        self.b = [np.zeros(dim) for _ in range(arms)]

    def choose(self, x: np.ndarray) -> int:
        p = []
        for a, b in zip(self.a, self.b, strict=True):
            a_inv = np.linalg.inv(a)
            theta = a_inv @ b
            p.append(theta @ x + self.alpha * np.sqrt(x @ a_inv @ x))
        return int(np.argmax(p))

    def learn(self, arm: int, x: np.ndarray, reward: float) -> None:
        self.a[arm] += np.outer(x, x)
        self.b[arm] += reward * x


@pytest.fixture(scope="module")
def problem() -> LinearBandit:
    return linear_bandit(seed=7, dim=DIM, arms=ARMS, rounds=ROUNDS, noise=0.1)


def _play_linucb(problem: LinearBandit, alpha: float, epsilon: float) -> np.ndarray:
    bandit = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, alpha=alpha, exploration_rate=epsilon, seed=3))
    return play(problem, lambda x: bandit.select(x).arm, bandit.update)


@pytest.fixture(scope="module")
def regrets(problem: LinearBandit) -> dict[str, np.ndarray]:
    rng = make_rng(11)
    uniform = play(problem, lambda x: int(rng.integers(ARMS)), lambda a, x, r: None)
    result = {
        "linucb": _play_linucb(problem, alpha=0.5, epsilon=0.0),
        "epsilon_greedy": _play_linucb(problem, alpha=0.0, epsilon=0.1),
        "random": uniform,
    }
    for name, curve in result.items():
        quarter = curve[ROUNDS // 4 - 1] / (ROUNDS // 4)
        print(f"{name:15s} regret(T)={curve[-1]:8.2f}  regret(T)/T={curve[-1] / ROUNDS:.4f}  at T/4: {quarter:.4f}")
    return result


def test_regret_given_linear_bandit_returns_linucb_below_epsilon_greedy_and_random(
    regrets: dict[str, np.ndarray],
) -> None:
    assert regrets["linucb"][-1] < 0.5 * regrets["epsilon_greedy"][-1]
    assert regrets["epsilon_greedy"][-1] < regrets["random"][-1]


def test_regret_given_linear_bandit_returns_sublinear_growth_for_linucb(regrets: dict[str, np.ndarray]) -> None:
    curve = regrets["linucb"]
    per_round_at_quarter = curve[ROUNDS // 4 - 1] / (ROUNDS // 4)
    per_round_at_end = curve[-1] / ROUNDS

    assert per_round_at_end < 0.5 * per_round_at_quarter


def test_select_given_same_data_and_alpha_returns_the_textbook_choices(problem: LinearBandit) -> None:
    rounds, alpha = 2000, 0.5
    bandit = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, alpha=alpha, exploration_rate=0.0))
    reference = TextbookLinUCB(ARMS, DIM, alpha)
    ours, theirs = [], []
    for t, x in enumerate(problem.contexts[:rounds]):
        arm, expected = bandit.select(x).arm, reference.choose(x)
        ours.append(arm)
        theirs.append(expected)
        # Both learn from the arm the reference chose, so a single divergence cannot snowball.
        reward = float(problem.means[t, expected] + problem.noise[t])
        bandit.update(expected, x, reward)
        reference.learn(expected, x, reward)

    assert ours == theirs
    assert len(set(theirs)) == ARMS


def test_update_given_many_rounds_returns_sherman_morrison_inverse_equal_to_inv_a(problem: LinearBandit) -> None:
    bandit = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, ridge_lambda=0.5, exploration_rate=0.0))
    a = np.stack([0.5 * np.eye(DIM)] * ARMS)
    b = np.zeros((ARMS, DIM))
    for t, x in enumerate(problem.contexts[:3000]):
        arm = t % ARMS
        bandit.update(arm, x, float(problem.means[t, arm]))
        a[arm] += np.outer(x, x)
        b[arm] += problem.means[t, arm] * x

    for arm in range(ARMS):
        np.testing.assert_allclose(bandit.a_inv(arm), np.linalg.inv(a[arm]), rtol=0, atol=1e-9)
        np.testing.assert_allclose(bandit.theta[arm], np.linalg.solve(a[arm], b[arm]), rtol=0, atol=1e-9)
    assert bandit.counts == (500,) * ARMS


def test_select_given_same_seed_returns_same_choices_with_exploration(problem: LinearBandit) -> None:
    def run() -> list[int]:
        bandit = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, exploration_rate=0.2, seed=5))
        arms = []
        for t, x in enumerate(problem.contexts[:500]):
            arm = bandit.select(x).arm
            bandit.update(arm, x, float(problem.means[t, arm]))
            arms.append(arm)
        return arms

    assert run() == run()
