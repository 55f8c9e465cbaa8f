"""LinUCB's contract: propensities, masks, the exploration guard, state carry-over, validation, latency."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from models.bandit import ContextualBanditConfig, LinUCB, bandit_select_update_latency_us
from models.seeding import make_rng

DIM = 8
NAMES = ["momentum", "mean_reversion", "market_making", "pairs", "arbitrage", "breakout"]


class DenyArms:
    """A guard that vetoes exploration of the named arms, as a risk budget would."""

    def __init__(self, *denied: str) -> None:
        self.denied = set(denied)

    def allow(self, arm: str) -> bool:
        return arm not in self.denied


def _trained(epsilon: float, rounds: int = 300, max_concurrent: int = 3) -> tuple[LinUCB, np.ndarray]:
    """A bandit trained on a fixed linear problem, and a fresh context to query it with."""
    rng = make_rng(1)
    theta = rng.normal(size=(len(NAMES), DIM))
    config = ContextualBanditConfig(dim=DIM, exploration_rate=epsilon, seed=2, max_concurrent_strategies=max_concurrent)
    bandit = LinUCB(NAMES, config)
    for x in rng.normal(size=(rounds, DIM)):
        arm = int(rng.integers(len(NAMES)))
        bandit.update(arm, x, float(theta[arm] @ x))
    return bandit, rng.normal(size=DIM)


def test_select_given_epsilon_returns_propensities_summing_to_one_with_greedy_share() -> None:
    bandit, x = _trained(epsilon=0.3)

    choice = bandit.select(x)

    assert sum(choice.propensities) == pytest.approx(1.0, abs=1e-15)
    assert choice.propensities[choice.greedy_arm] == pytest.approx(0.3 / 6 + 0.7)
    assert all(p == pytest.approx(0.05) for a, p in enumerate(choice.propensities) if a != choice.greedy_arm)
    assert choice.propensity == choice.propensities[choice.arm]
    assert choice.greedy_arm == int(np.argmax(choice.scores))


def test_select_given_fixed_state_returns_choice_frequencies_matching_propensities() -> None:
    bandit, x = _trained(epsilon=0.4)
    mask = [True, True, False, True, True, True]
    bandit.guard = DenyArms("pairs")
    draws = 20_000

    counts = Counter(bandit.select(x, mask).arm for _ in range(draws))

    propensities = bandit.select(x, mask).propensities
    assert propensities[2] == 0.0
    assert sum(propensities) == pytest.approx(1.0)
    for arm, p in enumerate(propensities):
        assert counts[arm] / draws == pytest.approx(p, abs=0.012)


def test_select_given_mask_returns_only_allowed_arms_and_zero_propensity_for_vetoed() -> None:
    bandit, x = _trained(epsilon=0.5)
    best = int(np.argmax(bandit.scores(x)))
    mask = np.ones(len(NAMES), dtype=bool)
    mask[best] = False

    choices = [bandit.select(x, mask) for _ in range(200)]

    assert all(c.arm != best for c in choices)
    assert all(c.propensities[best] == 0.0 for c in choices)
    assert choices[0].propensities[choices[0].greedy_arm] == pytest.approx(0.5 / 5 + 0.5)


def test_select_given_guard_denies_all_other_arms_returns_greedy_with_propensity_one() -> None:
    bandit, x = _trained(epsilon=0.9)
    greedy = bandit.select(x).greedy_arm
    bandit.guard = DenyArms(*(name for i, name in enumerate(NAMES) if i != greedy))

    choices = [bandit.select(x) for _ in range(100)]

    assert {c.arm for c in choices} == {greedy}
    assert choices[0].propensity == pytest.approx(1.0)
    assert not any(c.explored for c in choices)


def test_select_given_every_arm_masked_returns_error_naming_mask() -> None:
    bandit, x = _trained(epsilon=0.1)

    with pytest.raises(ValueError, match="mask"):
        bandit.select(x, [False] * len(NAMES))


def test_select_given_tied_scores_returns_lowest_index() -> None:
    bandit = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, exploration_rate=0.0, max_concurrent_strategies=3))

    choice = bandit.select(np.ones(DIM), mask=[False, True, True, True, True, True])

    assert choice.arm == 1
    assert choice.top_arms == (1, 2, 3)
    assert choice.name == "mean_reversion"


def test_select_given_max_concurrent_returns_top_arms_by_score() -> None:
    bandit, x = _trained(epsilon=0.0, max_concurrent=4)

    choice = bandit.select(x)

    expected = tuple(int(a) for a in np.argsort(-np.asarray(choice.scores), kind="stable")[:4])
    assert choice.top_arms == expected


def test_select_given_nan_context_returns_error_and_leaves_state_unchanged() -> None:
    bandit, x = _trained(epsilon=0.1)
    before = bandit.state_dict()
    x[3] = np.nan

    with pytest.raises(ValueError, match="context"):
        bandit.select(x)
    with pytest.raises(ValueError, match="context"):
        bandit.update(0, x, 1.0)
    assert bandit.state_dict() == before


def test_update_given_wrong_shape_or_unknown_arm_returns_errors() -> None:
    bandit, x = _trained(epsilon=0.1)

    with pytest.raises(ValueError, match="shape"):
        bandit.update(0, np.ones(DIM + 1), 1.0)
    with pytest.raises(KeyError, match="unknown arm"):
        bandit.update("nope", x, 1.0)
    with pytest.raises(IndexError):
        bandit.update(len(NAMES), x, 1.0)
    with pytest.raises(ValueError, match="reward"):
        bandit.update(0, x, float("inf"))


def test_load_state_dict_given_json_round_trip_returns_identical_future_choices() -> None:
    bandit, _ = _trained(epsilon=0.3)
    restored = LinUCB(NAMES, ContextualBanditConfig(dim=DIM, exploration_rate=0.3, seed=99))

    restored.load_state_dict(json.loads(json.dumps(bandit.state_dict())))

    rng = make_rng(4)
    for x in rng.normal(size=(200, DIM)):
        original, copy = bandit.select(x), restored.select(x)
        assert copy == original
        bandit.update(original.arm, x, float(x.sum()))
        restored.update(copy.arm, x, float(x.sum()))
    np.testing.assert_array_equal(restored.theta, bandit.theta)


def test_load_state_dict_given_other_arms_returns_error() -> None:
    bandit, _ = _trained(epsilon=0.1)
    other = LinUCB(NAMES[:5], ContextualBanditConfig(dim=DIM))

    with pytest.raises(ValueError, match="arms"):
        other.load_state_dict(bandit.state_dict())


def test_reset_given_trained_bandit_returns_prior_state() -> None:
    bandit, _ = _trained(epsilon=0.1)

    bandit.reset()

    assert bandit.counts == (0,) * len(NAMES)
    np.testing.assert_array_equal(bandit.a_inv("pairs"), np.eye(DIM))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exploration_rate", 1.5),
        ("max_concurrent_strategies", 0),
        ("alpha", -0.1),
        ("dim", 0),
        ("ridge_lambda", 0.0),
        ("seed", -1),
    ],
)
def test_config_given_invalid_field_returns_error_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ContextualBanditConfig(**{field: value})  # type: ignore[arg-type]


def test_latency_helper_given_d20_and_6_arms_returns_one_positive_time_per_round() -> None:
    elapsed = bandit_select_update_latency_us(5000)

    assert elapsed.shape == (5000,)
    assert (elapsed > 0).all()
    p50, p99 = np.percentile(elapsed, [50, 99])
    print(f"LinUCB d=20, 6 arms, select+update: p50 {p50:.1f} us, p99 {p99:.1f} us")


def test_select_given_list_mask_returns_the_same_choices_as_an_array_mask() -> None:
    by_list, _ = _trained(epsilon=0.5)
    by_array, _ = _trained(epsilon=0.5)
    by_list.guard = by_array.guard = DenyArms("pairs")
    rng = make_rng(6)

    for x in rng.normal(size=(300, DIM)):
        mask = (rng.random(len(NAMES)) < 0.6).tolist()
        mask[int(rng.integers(len(NAMES)))] = True
        from_list, from_array = by_list.select(x, mask), by_array.select(x, np.asarray(mask))
        assert from_list == from_array
        allowed = [a for a in range(len(NAMES)) if mask[a]]
        assert from_list.greedy_arm == max(allowed, key=lambda a: from_list.scores[a])
        by_list.update(from_list.arm, x, float(x.sum()))
        by_array.update(from_array.arm, x, float(x.sum()))


def test_estimate_given_trained_bandit_returns_the_matrix_products_and_bitwise_the_scores_terms() -> None:
    bandit, _ = _trained(epsilon=0.1)

    for x in make_rng(7).normal(size=(100, DIM)):
        scores = bandit.scores(x)
        for arm in range(len(NAMES)):
            mean, width = bandit.estimate(arm, x)
            # BLAS sums in another order: equal to the last bits only
            assert mean == pytest.approx(float(bandit.theta[arm] @ x), rel=1e-12, abs=1e-15)
            assert width == pytest.approx(np.sqrt(float(x @ bandit.a_inv(arm) @ x)), rel=1e-12)
            # the score select ranks is built from the very same sums
            assert scores[arm] == mean + bandit.config.alpha * width
