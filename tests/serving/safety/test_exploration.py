"""The exploration loss budget: golden book-keeping, the guard inside LinUCB, and the loss invariant.

Rewards in the seeded runs are multiples of 1/4 and the replenish share is 1/4, so every sum is exact in
binary floating point and the invariant is checked with ``==`` and ``<``, not within a tolerance.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from models.bandit.linucb import ContextualBanditConfig, LinUCB
from models.seeding import make_rng
from serving.safety.exploration import BudgetUpdate, ExplorationBudgetConfig, RiskBudgetGuard

ARMS = ("safe", "costly", "noisy")
GOLDEN = ExplorationBudgetConfig(initial_budget_bps=10.0, max_budget_bps=20.0, replenish_share=0.5)


def test_record_given_a_hand_made_sequence_returns_the_golden_budgets() -> None:
    guard = RiskBudgetGuard(["a"], GOLDEN)
    sequence = [(-4.0, True), (6.0, False), (-100.0, False), (30.0, False), (-25.0, True), (8.0, True), (4.0, False)]

    updates = [guard.record("a", pnl, explored=explored) for pnl, explored in sequence]

    assert [(u.spent_bps, u.replenished_bps, u.remaining_bps, u.allowed) for u in updates] == [
        (4.0, 0.0, 6.0, True),  # an exploratory loss consumes the budget
        (0.0, 3.0, 9.0, True),  # half of a greedy gain comes back
        (0.0, 0.0, 9.0, True),  # a greedy loss is not the exploration's
        (0.0, 11.0, 20.0, True),  # 15 would overshoot the 20 cap: 11 credited
        (25.0, 0.0, -5.0, False),  # overshoot by the last exploration's own loss (no reserve configured)
        (0.0, 4.0, -1.0, False),  # an exploratory gain replenishes too, but the debt comes first
        (0.0, 2.0, 1.0, True),
    ]
    assert guard.status()["a"] == {
        "remaining_bps": 1.0,
        "spent_bps": 29.0,
        "replenished_bps": 20.0,
        "exploratory_decisions": 3,
        "open_explorations": 0,
        "allowed": True,
    }


def test_record_given_an_exploratory_loss_returns_an_audit_ready_update() -> None:
    update = RiskBudgetGuard(["a"], GOLDEN).record("a", -4.0, explored=True)

    assert update == BudgetUpdate(
        arm="a", pnl_bps=-4.0, explored=True, spent_bps=4.0, replenished_bps=0.0, remaining_bps=6.0, allowed=True
    )
    assert update.to_dict()["remaining_bps"] == 6.0


def test_allowed_given_budget_changes_returns_allow_of_every_arm_after_each() -> None:
    guard = RiskBudgetGuard(["a", "b"], ExplorationBudgetConfig(initial_budget_bps=20.0, worst_loss_bps=8.0))
    seen = [guard.allowed(guard.arms)]
    guard.reserve("a")
    guard.reserve("a")
    seen.append(guard.allowed(guard.arms))
    guard.release("a")
    seen.append(guard.allowed(guard.arms))
    guard.record("b", -20.0, explored=True)
    seen.append(guard.allowed(guard.arms))
    guard.load_state_dict(RiskBudgetGuard(["a", "b"]).state_dict())
    seen.append(guard.allowed(guard.arms))

    assert [list(flags) for flags in seen] == [[True, True], [False, True], [True, True], [True, False], [True, True]]
    assert list(guard.allowed(["b"])) == [guard.allow("b")]
    with pytest.raises(KeyError, match="unknown arm 'c'"):
        guard.allowed(["a", "c"])


def test_allow_given_open_explorations_returns_false_once_their_worst_loss_would_spend_the_budget() -> None:
    guard = RiskBudgetGuard(["a"], ExplorationBudgetConfig(initial_budget_bps=20.0, worst_loss_bps=8.0))
    allowed = [guard.allow("a")]
    guard.reserve("a")
    allowed.append(guard.allow("a"))  # 20 - 8 > 8
    guard.reserve("a")
    allowed.append(guard.allow("a"))  # 20 - 16 < 8
    guard.release("a")
    allowed.append(guard.allow("a"))
    guard.record("a", -8.0, explored=True)
    allowed.append(guard.allow("a"))  # 12 > 8, nothing open
    guard.reserve("a")
    allowed.append(guard.allow("a"))  # 12 - 8 < 8

    assert allowed == [True, True, False, True, True, False]


def test_release_given_no_open_exploration_raises() -> None:
    with pytest.raises(ValueError, match="no open exploration"):
        RiskBudgetGuard(["a"]).release("a")


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial_budget_bps", -1.0), ("max_budget_bps", 1.0), ("replenish_share", 1.5), ("worst_loss_bps", np.nan)],
)
def test_config_given_an_invalid_field_raises_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ExplorationBudgetConfig(**{field: value})


def test_config_given_an_unknown_field_raises() -> None:
    with pytest.raises(TypeError):
        ExplorationBudgetConfig(budget=1.0)  # type: ignore[call-arg]


def test_allow_given_an_unknown_arm_raises() -> None:
    with pytest.raises(KeyError, match="unknown arm"):
        RiskBudgetGuard(["a"]).allow("b")


def test_load_state_dict_given_a_saved_guard_returns_the_same_budgets() -> None:
    guard = RiskBudgetGuard(["a", "b"], GOLDEN)
    guard.record("a", -4.0, explored=True)
    guard.reserve("b")
    restored = RiskBudgetGuard(["a", "b"], GOLDEN)

    restored.load_state_dict(guard.state_dict())

    assert restored.status() == guard.status()


def test_load_state_dict_given_other_arms_raises() -> None:
    state = RiskBudgetGuard(["a"]).state_dict()
    with pytest.raises(ValueError, match="arms"):
        RiskBudgetGuard(["b"]).load_state_dict(state)


def always_exploring(guard: RiskBudgetGuard) -> LinUCB:
    config = ContextualBanditConfig(exploration_rate=1.0, dim=2, seed=3, max_concurrent_strategies=1)
    return LinUCB(ARMS, config, guard=guard)


def test_select_given_a_spent_budget_never_explores_the_arm_and_gives_it_no_propensity() -> None:
    guard = RiskBudgetGuard(ARMS, ExplorationBudgetConfig(initial_budget_bps=5.0, replenish_share=0.5))
    bandit, rng = always_exploring(guard), make_rng(11)
    before = bandit.select(np.array([1.0, 0.0]))
    guard.record("costly", -5.0, explored=True)

    choices = [bandit.select(np.array([1.0, rng.uniform(-1, 1)])) for _ in range(300)]

    assert before.propensities == (1 / 3, 1 / 3, 1 / 3)
    assert {c.name for c in choices} == {"safe", "noisy"}
    assert all(c.propensities[1] == 0.0 and sum(c.propensities) == 1.0 for c in choices)
    assert all(c.propensity == c.propensities[c.arm] == 0.5 for c in choices)


def test_select_given_a_replenished_budget_explores_the_arm_again() -> None:
    guard = RiskBudgetGuard(ARMS, ExplorationBudgetConfig(initial_budget_bps=5.0, replenish_share=0.5))
    bandit = always_exploring(guard)
    guard.record("costly", -5.0, explored=True)
    guard.record("costly", 2.0, explored=False)  # good performance: 1 bps back

    choices = [bandit.select(np.array([1.0, 0.0])) for _ in range(60)]

    assert "costly" in {c.name for c in choices}
    assert all(c.propensities == (1 / 3, 1 / 3, 1 / 3) for c in choices)


def test_select_given_every_budget_spent_returns_the_greedy_arm_with_propensity_one() -> None:
    guard = RiskBudgetGuard(ARMS, ExplorationBudgetConfig(initial_budget_bps=1.0))
    for arm in ARMS:
        guard.record(arm, -1.0, explored=True)

    choice = always_exploring(guard).select(np.array([1.0, 0.5]))

    assert (choice.arm, choice.explored, choice.propensity, choice.propensities) == (0, False, 1.0, (1.0, 0.0, 0.0))


INVARIANT = ExplorationBudgetConfig(
    initial_budget_bps=20.0, max_budget_bps=40.0, replenish_share=0.25, worst_loss_bps=8.0
)


def reward(arm: str, rng: np.random.Generator) -> float:
    """Bounded, dyadic rewards: exploring ``costly`` always loses 2 to 8 bps, ``safe`` earns, ``noisy`` is even."""
    if arm == "safe":
        return 1.0 + 0.25 * int(rng.integers(-2, 3))
    if arm == "costly":
        return -2.0 * int(rng.integers(1, 5))
    return float(rng.choice([-3.0, -1.5, 0.5, 4.0]))


def run(seed: int, delay: int, steps: int = 3_000) -> tuple[RiskBudgetGuard, dict[str, dict[str, float]]]:
    """The engine's calls on a synthetic bandit, outcomes arriving ``delay`` decisions late (symbols in flight)."""
    guard = RiskBudgetGuard(ARMS, INVARIANT)
    config = ContextualBanditConfig(exploration_rate=0.2, alpha=0.5, dim=2, seed=seed, max_concurrent_strategies=1)
    bandit, rng = LinUCB(ARMS, config, guard=guard), make_rng(seed + 1)
    seen = {arm: {"explored_loss": 0.0, "gains": 0.0, "explorations": 0.0} for arm in ARMS}
    in_flight: deque[tuple[str, np.ndarray, float, bool]] = deque()
    for _ in range(steps):
        x = np.array([1.0, rng.uniform(-1.0, 1.0)])
        choice = bandit.select(x)
        if choice.explored:
            assert guard.allow(choice.name)
            guard.reserve(choice.name)
        in_flight.append((choice.name, x, reward(choice.name, rng), choice.explored))
        while len(in_flight) > delay:
            arm, context, pnl, explored = in_flight.popleft()
            guard.record(arm, pnl, explored=explored)
            bandit.update(arm, context, pnl)
            seen[arm]["explored_loss"] += max(0.0, -pnl) if explored else 0.0
            seen[arm]["explorations"] += explored
            seen[arm]["gains"] += max(0.0, pnl)
    return guard, seen


@pytest.mark.parametrize("delay", [0, 3])
def test_run_given_a_costly_arm_returns_exploration_losses_within_the_budget(delay: int) -> None:
    guard, seen = run(seed=7, delay=delay)
    status = guard.status()

    for arm in ARMS:
        spent, replenished, remaining = (status[arm][k] for k in ("spent_bps", "replenished_bps", "remaining_bps"))
        assert seen[arm]["explored_loss"] == spent
        assert spent + remaining == INVARIANT.initial_budget_bps + replenished
        assert spent < INVARIANT.initial_budget_bps + replenished
        assert replenished <= INVARIANT.replenish_share * seen[arm]["gains"]
    # costly never earns, so nothing replenishes it: a handful of explorations, then none.
    assert 1 <= seen["costly"]["explorations"] <= 6
    assert status["costly"]["replenished_bps"] == 0.0 and status["costly"]["allowed"] is False
    # noisy loses less per exploration and earns some back: it is explored longer than costly.
    assert seen["noisy"]["explorations"] > seen["costly"]["explorations"]


def test_run_given_the_same_seed_twice_returns_the_same_budgets() -> None:
    assert run(seed=5, delay=3, steps=500)[0].state_dict() == run(seed=5, delay=3, steps=500)[0].state_dict()
