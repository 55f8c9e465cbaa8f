"""Disjoint LinUCB over the strategy arms, with guarded epsilon-greedy exploration and logged propensities.

L. Li, W. Chu, J. Langford and R. E. Schapire, "A contextual-bandit approach to personalized news article
recommendation", WWW 2010, Algorithm 1 (disjoint linear models). Each arm ``a`` keeps a ridge regression
of reward on context, ``A_a = lambda I + sum x x^T`` and ``b_a = sum r x``; its score is

    p_a = theta_a^T x + alpha sqrt(x^T A_a^{-1} x),   theta_a = A_a^{-1} b_a.

``A_a^{-1}`` is kept directly and updated by Sherman-Morrison (O(d^2) per update),

    A^{-1} <- A^{-1} - (A^{-1} x)(A^{-1} x)^T / (1 + x^T A^{-1} x),

so no query ever inverts a matrix. On top of the UCB choice, an epsilon-greedy hook explores: with
probability ``exploration_rate`` the arm is drawn uniformly from the arms the mask allows *and* the
``ExplorationGuard`` lets through (the safety layer plugs a risk budget in there). Every ``Choice``
carries the exact probability the policy had of making it, for off-policy evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.bandit._kernels import arm_estimate, select_arm, sherman_morrison, ucb_scores
from models.seeding import make_rng

FloatArray = npt.NDArray[np.float64]
_FLOAT64 = np.dtype(np.float64)
_FLAG_CACHE_SIZE = 4096
"""Distinct (mask, guard answer) pairs kept by ``LinUCB._flags``: 2^k masks times the guard's answers."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextualBanditConfig:
    """The meta-controller's settings (the seed's ``exploration_rate`` and ``max_concurrent_strategies`` kept)."""

    exploration_rate: float = 0.1
    """epsilon: the probability of a uniform draw among the explorable arms instead of the UCB arm."""
    max_concurrent_strategies: int = 3
    """Length of ``Choice.top_arms``: the chosen arm and the next best, for callers that run several."""
    alpha: float = 1.0
    """Width of the confidence bonus; 0 makes the UCB choice greedy on the ridge estimate."""
    dim: int = 18
    """Context dimension (``models.bandit.context.context_dim(6)`` for the six default arms)."""
    ridge_lambda: float = 1.0
    """Ridge prior: every ``A_a`` starts as ``lambda I``."""
    seed: int = 0
    """Seeds the exploration draws (``models.seeding.make_rng``)."""

    def __post_init__(self) -> None:
        owner = "ContextualBanditConfig"
        if not 0.0 <= self.exploration_rate <= 1.0:
            raise ValueError(f"{owner}.exploration_rate: must lie in [0, 1], got {self.exploration_rate}")
        if self.max_concurrent_strategies < 1:
            raise ValueError(f"{owner}.max_concurrent_strategies: must be >= 1, got {self.max_concurrent_strategies}")
        if not (math.isfinite(self.alpha) and self.alpha >= 0.0):
            raise ValueError(f"{owner}.alpha: must be a finite number >= 0, got {self.alpha}")
        if self.dim < 1:
            raise ValueError(f"{owner}.dim: must be >= 1, got {self.dim}")
        if not (math.isfinite(self.ridge_lambda) and self.ridge_lambda > 0.0):
            raise ValueError(f"{owner}.ridge_lambda: must be a positive finite number, got {self.ridge_lambda}")
        if self.seed < 0:
            raise ValueError(f"{owner}.seed: must be >= 0, got {self.seed}")


@runtime_checkable
class ExplorationGuard(Protocol):
    """Decides whether an arm may be chosen by exploration (the greedy arm never asks)."""

    def allow(self, arm: str) -> bool: ...


class AllowAll:
    """The default guard: every arm may be explored."""

    def allow(self, arm: str) -> bool:
        return True


class Choice(NamedTuple):
    """One decision of the meta-controller, immutable for the audit log and off-policy evaluation.

    A NamedTuple rather than a frozen dataclass because it is built on every tick: a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) cost 2.8 us here against 0.8 us for a NamedTuple.
    """

    arm: int
    name: str
    propensity: float
    """Probability the policy had of choosing ``arm`` in this context (``propensities[arm]``)."""
    propensities: tuple[float, ...]
    """Probability of every arm; 0 for masked arms; sums to 1."""
    scores: tuple[float, ...]
    """UCB score of every arm, masked ones included."""
    greedy_arm: int
    """The highest-scoring allowed arm (lowest index on ties)."""
    explored: bool
    """True when exploration chose an arm other than ``greedy_arm``."""
    top_arms: tuple[int, ...]
    """``arm`` first, then the best-scoring other allowed arms, at most ``max_concurrent_strategies``."""


class LinUCB:
    """Disjoint LinUCB (Li et al. 2010) with Sherman-Morrison updates and a guarded epsilon-greedy hook."""

    def __init__(
        self,
        arms: Sequence[str],
        config: ContextualBanditConfig | None = None,
        guard: ExplorationGuard | None = None,
    ) -> None:
        self.config = config or ContextualBanditConfig()
        self.arms = tuple(arms)
        self.guard: ExplorationGuard = guard or AllowAll()
        if not self.arms or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms: must be non-empty and unique, got {self.arms!r}")
        k, d = len(self.arms), self.config.dim
        self._index = {name: i for i, name in enumerate(self.arms)}
        self._shape = (d,)
        self._all_allowed = np.ones(k, dtype=np.bool_)
        self._a_inv = np.empty((k, d, d))
        self._b = np.empty((k, d))
        self._theta = np.empty((k, d))
        self._counts = [0] * k  # a list: one += per update, cheaper than a numpy element's
        self._arm_range = list(range(k))
        self._k = k
        self._all_arms = (True,) * k
        # Scratch buffers of the hot path, allocated once (``select_arm``'s ``out`` and ``order``).
        self._u = np.empty(d)
        self._out = np.empty(4 * k)
        self._order = np.empty(2 * k + 2, dtype=np.int64)
        self._flag_cache: dict[tuple[Any, ...], npt.NDArray[np.uint8]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything learned: every arm back to the ridge prior, the RNG back to its seed."""
        eye = np.eye(self.config.dim) / self.config.ridge_lambda
        self._a_inv[:] = eye
        self._b.fill(0.0)
        self._theta.fill(0.0)
        self._counts = [0] * len(self.arms)
        self._rng = make_rng(self.config.seed)

    def scores(self, context: FloatArray) -> FloatArray:
        """UCB score of every arm for ``context`` (a fresh array)."""
        x, scores = self._vector(context), np.empty(len(self.arms))
        if ucb_scores(self._a_inv, self._theta, x, self.config.alpha, self._all_allowed, scores) < 0:
            raise ValueError("context: the scores are not finite (a NaN or inf in the context?)")
        return scores

    def select(self, context: FloatArray, mask: npt.ArrayLike | None = None) -> Choice:
        """Choose an arm for ``context``; ``mask`` (True = allowed) vetoes arms, and at least one must remain.

        One compiled call (``select_arm``) scores every arm, ranks the allowed ones and writes the
        propensities; only the exploration draw and the ``Choice`` are Python.
        """
        x = self._vector(context)
        flags = self.mask_flags(mask)
        greedy = select_arm(
            self._a_inv, self._theta, x, self.config.alpha, self.config.exploration_rate, flags, self._out, self._order
        )
        if greedy < 0:
            raise ValueError("context: the scores are not finite (a NaN or inf in the context?)")
        return self.compiled_choice(greedy)[0]

    def compiled_args(self) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """(A^-1 per arm, theta, out, order): what a caller's own kernel passes to ``context_select`` or
        ``select_arm`` before ``compiled_choice`` (``models.bandit._kernels`` documents ``out`` and ``order``).

        The arrays are updated in place and never rebound (``reset`` and ``load_state_dict`` write into them),
        so a caller may keep them for the bandit's lifetime; it must not write into the first two.
        """
        return self._a_inv, self._theta, self._out, self._order

    def compiled_choice(self, greedy: int) -> tuple[Choice, float, float]:
        """The ``Choice`` from the buffers a kernel just wrote for ``greedy`` (>= 0), with the chosen arm's
        (mean, width): the exploration draw happens here, after the kernel found every score finite.

        One uniform draw decides both whether to explore and which arm: given u < epsilon, u / epsilon is
        again uniform on [0, 1), so the RNG stream does not depend on the explorable set.
        """
        k = self._k
        values = self._out.tolist()
        order = self._order.tolist()
        arm = greedy
        epsilon = self.config.exploration_rate
        if epsilon > 0.0:
            u = self._rng.random()
            m = order[1]
            if u < epsilon and m:
                arm = order[2 + k + min(int(u / epsilon * m), m - 1)]
        n, most = order[0], self.config.max_concurrent_strategies
        # the greedy arm heads the ranking, so its top arms are the ranking's head (``_top_arms``'s first case)
        top = (
            tuple(order[2 : 2 + (n if n < most else most)]) if arm == greedy else self._top_arms(arm, order[2 : 2 + n])
        )
        propensities = tuple(values[k : 2 * k])
        # positional: keyword arguments to a NamedTuple cost a dict per call
        # (arm, name, propensity, propensities, scores, greedy_arm, explored, top_arms)
        choice = Choice(
            arm, self.arms[arm], propensities[arm], propensities, tuple(values[:k]), greedy, arm != greedy, top
        )
        return choice, values[2 * k + arm], values[3 * k + arm]

    def update(self, arm: int | str, context: FloatArray, reward: float) -> None:
        """Fold the reward observed for ``arm`` in ``context`` into that arm's model (O(d^2)).

        ``reward`` is the chosen strategy's PnL over the decision horizon, net of costs, in the units the
        caller fixed for the whole run (bps in the platform).
        """
        a = self._arm_index(arm)
        if not math.isfinite(reward):
            raise ValueError(f"reward: must be finite, got {reward}")
        x = self._vector(context)
        if not sherman_morrison(self._a_inv, self._b, self._theta, a, x, float(reward), self._u):
            raise ValueError("context: not finite (a NaN or inf in the context?)")
        self._counts[a] += 1

    def estimate(self, arm: int | str, context: FloatArray) -> tuple[float, float]:
        """The arm's ridge estimate ``theta^T x`` and its confidence width ``sqrt(x^T A^-1 x)`` (no copies).

        The compiled ``arm_estimate``: the same sums, in the same order, as the scores ``select`` ranks and the
        (mean, width) ``compiled_choice`` returns, so an explanation's estimate is the decision's bit for bit.
        """
        a = arm if type(arm) is int and 0 <= arm < len(self._arm_range) else self._arm_index(arm)
        mean, width = arm_estimate(self._a_inv, self._theta, self._vector(context), a)
        return mean, width

    def a_inv(self, arm: int | str) -> FloatArray:
        """A copy of the arm's ``A^{-1}``."""
        a_inv: FloatArray = self._a_inv[self._arm_index(arm)].copy()
        return a_inv

    @property
    def theta(self) -> FloatArray:
        """A copy of the per-arm ridge estimates, shape (arms, dim)."""
        return self._theta.copy()

    @property
    def counts(self) -> tuple[int, ...]:
        """Updates received per arm."""
        return tuple(self._counts)

    def state_dict(self) -> dict[str, Any]:
        """Everything learned, as JSON-serialisable lists, to carry over a model hot-swap."""
        return {
            "arms": list(self.arms),
            "dim": self.config.dim,
            "a_inv": self._a_inv.tolist(),
            "b": self._b.tolist(),
            # theta = A^{-1} b is stored too: recomputing it would differ in the last bit from the
            # incrementally kept one, and a hot-swapped bandit should choose exactly as before.
            "theta": self._theta.tolist(),
            "counts": list(self._counts),
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict`` written for the same arms and dimension, bit for bit."""
        if list(state["arms"]) != list(self.arms) or state["dim"] != self.config.dim:
            raise ValueError(f"state: written for arms {state['arms']} and dim {state['dim']}, not {self.arms}")
        k, d = len(self.arms), self.config.dim
        shapes = {"a_inv": (k, d, d), "b": (k, d), "theta": (k, d), "counts": (k,)}
        arrays = {key: np.asarray(state[key], dtype=np.int64 if key == "counts" else np.float64) for key in shapes}
        for key, shape in shapes.items():
            if arrays[key].shape != shape or not np.isfinite(arrays[key]).all():
                raise ValueError(f"state: {key} must be finite with shape {shape}, got shape {arrays[key].shape}")
        if (arrays["counts"] < 0).any():
            raise ValueError(f"state: counts must be >= 0, got {arrays['counts'].tolist()}")
        self._a_inv[:], self._b[:], self._theta[:] = arrays["a_inv"], arrays["b"], arrays["theta"]
        self._counts = arrays["counts"].tolist()
        self._rng.bit_generator.state = dict(state["rng"])

    def _vector(self, context: FloatArray) -> FloatArray:
        if type(context) is np.ndarray and context.dtype is _FLOAT64 and context.shape == self._shape:
            return context  # the decision path's context: nothing to convert or check
        x = np.asarray(context, dtype=np.float64)
        if x.shape != (self.config.dim,):
            raise ValueError(f"context: expected shape ({self.config.dim},), got {x.shape}")
        return x

    def mask_flags(self, mask: npt.ArrayLike | None) -> npt.NDArray[np.uint8]:
        """The kernels' ``flags`` (bit 0 allowed by ``mask``, bit 1 also explorable); raises when ``mask`` vetoes
        every arm. Cached per (mask, guard answer): the same few masks recur on every decision, and one dict
        lookup is cheaper than building the array. The guard is asked as before: ``allowed(arms)`` once, or
        ``allow(arm)`` for each allowed arm in index order.
        """
        if mask is None:
            allowed: tuple[Any, ...] = self._all_arms
        elif isinstance(mask, list) and len(mask) == len(self._arm_range):
            allowed = tuple(mask)  # the engine's mask: read by each element's truth value
        else:
            allowed = self._mask(mask)
        guard = self.guard
        if type(guard) is AllowAll:
            answer: tuple[Any, ...] | None = None
        else:
            ok = getattr(guard, "allowed", None)
            if ok is None:
                answer = tuple(
                    [bool(ok_a) and guard.allow(name) for ok_a, name in zip(allowed, self.arms, strict=True)]
                )
            else:
                answer = tuple(ok(self.arms))
        key = (allowed, answer)
        try:
            flags = self._flag_cache.get(key)
        except TypeError:  # an unhashable element: no caching
            return self._make_flags(allowed, answer)
        if flags is None:
            flags = self._make_flags(allowed, answer)
            if len(self._flag_cache) >= _FLAG_CACHE_SIZE:
                self._flag_cache.clear()
            self._flag_cache[key] = flags
        return flags

    def _make_flags(self, allowed: tuple[Any, ...], answer: tuple[Any, ...] | None) -> npt.NDArray[np.uint8]:
        truth = [bool(ok) for ok in allowed]
        if not any(truth):
            raise ValueError("mask: every arm is vetoed; the caller must decide what no strategy means")
        explorable = (
            truth if answer is None else [ok and bool(guard_ok) for ok, guard_ok in zip(truth, answer, strict=True)]
        )
        flags = np.asarray(
            [int(ok) | (2 if ex else 0) for ok, ex in zip(truth, explorable, strict=True)], dtype=np.uint8
        )
        flags.flags.writeable = False
        return flags

    def _mask(self, mask: npt.ArrayLike) -> tuple[bool, ...]:
        """A mask other than the engine's list, as one bool per arm (numpy's bool conversion)."""
        allowed = np.asarray(mask, dtype=np.bool_)
        if allowed.shape != (len(self.arms),):
            raise ValueError(f"mask: expected {len(self.arms)} booleans, got shape {allowed.shape}")
        return tuple(allowed.tolist())

    def _top_arms(self, arm: int, ranked: list[int]) -> tuple[int, ...]:
        """``arm``, then the best-scoring other allowed arms (``ranked``: allowed arms best first)."""
        m = self.config.max_concurrent_strategies
        if m == 1:
            return (arm,)
        if ranked[0] == arm:
            return (arm, *ranked[1:m])
        return (arm, *[a for a in ranked if a != arm][: m - 1])

    def _arm_index(self, arm: int | str) -> int:
        if isinstance(arm, str):
            if arm not in self._index:
                raise KeyError(f"arm: unknown arm {arm!r}, arms are {self.arms}")
            return self._index[arm]
        if not 0 <= arm < len(self.arms):
            raise IndexError(f"arm: index {arm} out of range for {len(self.arms)} arms")
        return int(arm)


def bandit_select_update_latency_us(
    n: int, *, dim: int = 20, n_arms: int = 6, warmup: int = 500, seed: int = 0
) -> FloatArray:
    """Wall time of ``n`` select + update rounds, in microseconds each, on random unit-scale contexts.

    For the ``bandit_select_update_p99_us`` benchmark (d=20, 6 arms). ``warmup`` untimed rounds come first
    so first-call costs (allocations, caches) do not land in the tail.
    """
    if n < 1 or warmup < 0:
        raise ValueError(f"n: must be >= 1 and warmup >= 0, got n={n}, warmup={warmup}")
    rng = make_rng(seed)
    contexts = rng.normal(size=(warmup + n, dim)) / math.sqrt(dim)
    rewards = rng.normal(size=warmup + n).tolist()
    config = ContextualBanditConfig(dim=dim, seed=seed, max_concurrent_strategies=min(3, n_arms))
    bandit = LinUCB([f"arm_{i}" for i in range(n_arms)], config)
    elapsed = np.empty(n)
    clock = time.perf_counter_ns
    for t in range(warmup + n):
        x = contexts[t]
        start = clock()
        choice = bandit.select(x)
        bandit.update(choice.arm, x, rewards[t])
        stop = clock()
        if t >= warmup:
            elapsed[t - warmup] = (stop - start) / 1e3
    return elapsed
