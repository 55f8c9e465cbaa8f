"""The compiled decision path against the Python reference: context, choice, propensities, top arms, estimate.

``_reference_select`` is ``LinUCB.select`` as it was written in Python before the kernel (scores, stable
ranking, guard, one exploration draw, propensities, top arms); the kernel must reproduce it exactly on the
same bandit state and the same RNG stream, for every mask, guard, epsilon and ``max_concurrent_strategies``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import pytest

from models.bandit import (
    AllowAll,
    ArmPnlTracker,
    Choice,
    CompiledContext,
    ContextConfig,
    ContextualBanditConfig,
    LinUCB,
    build_context,
    context_dim,
)
from models.bandit._kernels import build_context as build_context_kernel
from models.bandit._kernels import context_select
from models.features import FEATURE_NAMES
from models.marketdata.simulator import REGIMES
from models.seeding import make_rng

ARMS = ("momentum", "mean_reversion", "market_making", "pairs", "arbitrage", "breakout")
DIM = context_dim(len(ARMS))
_RESOLVED = CompiledContext.resolve(ContextConfig(), FEATURE_NAMES)
assert _RESOLVED is not None, "the default context reads features the vector has"
COMPILED: CompiledContext = _RESOLVED


class DenyEach:
    """A guard answering one ``allow`` per arm (no ``allowed``); records the arms it was asked about."""

    def __init__(self, denied: set[str]) -> None:
        self.denied = denied
        self.asked: list[str] = []

    def allow(self, arm: str) -> bool:
        self.asked.append(arm)
        return arm not in self.denied


class DenyAll:
    """A guard answering for every arm at once (the risk budget's ``allowed``)."""

    def __init__(self, denied: set[str]) -> None:
        self.denied = denied

    def allow(self, arm: str) -> bool:
        return arm not in self.denied

    def allowed(self, arms: Sequence[str]) -> tuple[bool, ...]:
        return tuple(arm not in self.denied for arm in arms)


def _reference_select(bandit: LinUCB, x: np.ndarray, mask: list[bool]) -> Choice:
    """The Python select: the kernel's scores, everything else as the pre-kernel code computed it."""
    k, epsilon = len(bandit.arms), bandit.config.exploration_rate
    scores = bandit.scores(x).tolist()
    candidates = [a for a in range(k) if mask[a]]
    ranked = sorted(candidates, key=scores.__getitem__, reverse=True)
    greedy = ranked[0]
    explorable = [a for a in candidates if bandit.guard.allow(bandit.arms[a])]
    arm = greedy
    if epsilon > 0.0:
        u = bandit._rng.random()
        if u < epsilon and explorable:
            arm = explorable[min(int(u / epsilon * len(explorable)), len(explorable) - 1)]
    p = [0.0] * k
    if explorable:
        for a in explorable:
            p[a] = epsilon / len(explorable)
        p[greedy] += 1.0 - epsilon
    else:
        p[greedy] = 1.0
    m = bandit.config.max_concurrent_strategies
    top = (arm, *[a for a in ranked if a != arm][: m - 1])
    return Choice(arm, bandit.arms[arm], p[arm], tuple(p), tuple(scores), greedy, arm != greedy, top)


def _trained(config: ContextualBanditConfig, rounds: int = 60) -> LinUCB:
    bandit = LinUCB(ARMS, config)
    rng = make_rng(3)
    for _ in range(rounds):
        x = rng.normal(size=DIM)
        bandit.update(int(rng.integers(len(ARMS))), x, float(rng.normal() * 5.0))
    return bandit


def _features(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=len(FEATURE_NAMES))
    # spread, vol and Amihud large enough that some slots clip; Amihud > -1 (log1p)
    vector[FEATURE_NAMES.index("rvol_15")] = abs(rng.normal()) * 0.01
    vector[FEATURE_NAMES.index("spread_bps")] = rng.normal() * 60.0
    vector[FEATURE_NAMES.index("amihud_30")] = abs(rng.normal()) * 200.0
    return vector


def _select_features(bandit: LinUCB, vector: np.ndarray, regime: int, pnl: np.ndarray, mask: list[bool]):  # type: ignore[no-untyped-def]
    x = np.empty(DIM)
    a_inv, theta, out, order = bandit.compiled_args()
    config = bandit.config
    greedy = context_select(
        vector,
        COMPILED.index,
        COMPILED.scales,
        regime,
        pnl,
        a_inv,
        theta,
        x,
        config.alpha,
        config.exploration_rate,
        bandit.mask_flags(mask),
        out,
        order,
    )
    return greedy, x


def test_build_context_kernel_given_random_vectors_and_pnl_returns_python_builder_bit_for_bit() -> None:
    rng = make_rng(11)
    for t in range(2_000):
        vector = _features(rng)
        pnl = rng.normal(size=len(ARMS)) * (1.0 if t % 2 else 80.0)
        regime = REGIMES[t % len(REGIMES)]
        expected = build_context(dict(zip(FEATURE_NAMES, vector.tolist(), strict=True)), regime, pnl.tolist())
        x = np.full(DIM, np.nan)
        assert build_context_kernel(vector, COMPILED.index, COMPILED.scales, t % len(REGIMES), pnl, x)
        assert x.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ["rvol_15", "tod_sin", "spread_bps", "amihud_30"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_build_context_kernel_given_undefined_feature_returns_false_where_python_raises(name: str, bad: float) -> None:
    vector = _features(make_rng(1))
    vector[FEATURE_NAMES.index(name)] = bad
    pnl = np.zeros(len(ARMS))

    assert not build_context_kernel(vector, COMPILED.index, COMPILED.scales, 0, pnl, np.empty(DIM))
    with pytest.raises(ValueError, match=name):
        build_context(dict(zip(FEATURE_NAMES, vector.tolist(), strict=True)), REGIMES[0], pnl.tolist())


def test_context_select_given_nan_pnl_or_amihud_below_minus_one_returns_minus_two_and_draws_nothing() -> None:
    bandit = _trained(ContextualBanditConfig(dim=DIM, exploration_rate=0.5))
    state = bandit.state_dict()["rng"]
    vector = _features(make_rng(2))

    assert _select_features(bandit, vector, 0, np.array([0.0, math.nan, 0, 0, 0, 0]), [True] * 6)[0] == -2
    vector[FEATURE_NAMES.index("amihud_30")] = -1.0
    assert _select_features(bandit, vector, 0, np.zeros(6), [True] * 6)[0] == -2
    assert bandit.state_dict()["rng"] == state


def test_select_given_nan_context_raises_and_draws_nothing() -> None:
    bandit = _trained(ContextualBanditConfig(dim=DIM, exploration_rate=0.5))
    state = bandit.state_dict()["rng"]
    x = np.ones(DIM)
    x[3] = math.nan

    with pytest.raises(ValueError, match="not finite"):
        bandit.select(x)
    assert bandit.state_dict()["rng"] == state


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("most", [1, 2, 3, 6])
@pytest.mark.parametrize("guard", ["none", "each", "all"])
def test_compiled_select_given_masks_guards_and_exploration_returns_python_reference(
    epsilon: float, most: int, guard: str
) -> None:
    config = ContextualBanditConfig(dim=DIM, exploration_rate=epsilon, max_concurrent_strategies=most, seed=5)
    bandit = _trained(config)
    denied = {"pairs", "breakout"}
    bandit.guard = {"none": AllowAll(), "each": DenyEach(denied), "all": DenyAll(denied)}[guard]
    reference, by_select = copy.deepcopy(bandit), copy.deepcopy(bandit)
    reference.guard = DenyEach(denied) if guard != "none" else AllowAll()
    rng = make_rng(17)
    tracker = ArmPnlTracker(ARMS)
    for t in range(400):
        vector = _features(rng)
        regime = int(rng.integers(len(REGIMES)))
        mask = (rng.random(len(ARMS)) < 0.6).tolist()
        if t % 7 == 0:
            mask = [a in (3, 5) for a in range(len(ARMS))]  # only denied arms: nothing explorable
        mask[int(rng.integers(len(ARMS)))] = True
        greedy, x = _select_features(bandit, vector, regime, tracker.array, mask)
        assert greedy >= 0
        choice, mean, width = bandit.compiled_choice(greedy)
        context = build_context(
            dict(zip(FEATURE_NAMES, vector.tolist(), strict=True)), REGIMES[regime], tracker.as_list()
        )
        assert x.tobytes() == context.tobytes()
        expected = _reference_select(reference, context, mask)
        assert choice == expected
        assert by_select.select(context, mask) == expected
        assert (mean, width) == bandit.estimate(choice.arm, context)
        assert mean == pytest.approx(float(bandit.theta[choice.arm] @ context), rel=1e-12, abs=1e-15)
        assert width == pytest.approx(math.sqrt(float(context @ bandit.a_inv(choice.arm) @ context)), rel=1e-12)
        reward = float(rng.normal() * 5.0)
        tracker.update(choice.arm, reward)
        for learner in (bandit, reference, by_select):
            learner.update(choice.arm, context, reward)


def test_mask_flags_given_each_guard_asks_only_the_allowed_arms_in_order() -> None:
    bandit = LinUCB(ARMS, ContextualBanditConfig(dim=DIM))
    guard = DenyEach({"pairs"})
    bandit.guard = guard

    flags = bandit.mask_flags([False, True, False, True, True, False])

    assert guard.asked == ["mean_reversion", "pairs", "arbitrage"]
    assert flags.tolist() == [0, 3, 0, 1, 3, 0]
    with pytest.raises(ValueError, match="every arm is vetoed"):
        bandit.mask_flags([False] * 6)


def test_tracker_array_given_updates_copies_and_state_loads_follows_the_list() -> None:
    tracker = ArmPnlTracker(ARMS)
    tracker.update(1, 12.5)
    copied = copy.deepcopy(tracker)
    copied.update(2, -4.0)
    assert tracker.array.tolist() == tracker.as_list()
    assert copied.array.tolist() == copied.as_list() != tracker.as_list()
    tracker.load_state_dict(copied.state_dict())
    assert tracker.array.tolist() == copied.as_list()
    tracker.reset()
    assert tracker.array.tolist() == [0.0] * len(ARMS)
    with pytest.raises(ValueError):
        tracker.array[0] = 1.0
