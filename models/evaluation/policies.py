"""The policies compared on the same out-of-sample bars: the composed policy and its baselines.

- ``composed``: the LinUCB meta-controller picks one strategy arm from the context each bar (regime, market
  state, the arms' recent PnL; ``models.bandit.context``), that arm's signal gives the target and, when an
  actor is injected, the actor sizes it: ``target = signal * |size|`` with the actor's entry and exit factors
  (the strategy decides direction and conviction, the RL agent how much of it to take and how to work it).
- ``flat`` (never trades), ``buy_and_hold`` (full long from the first bar), ``strategy:<arm>`` (one arm's
  signal every bar), ``random_arm[seed=s]`` (a uniform draw among the arms able to act, seeded).

When no arm can act (all inactive), the composed and random policies target flat. Market making expresses
itself through quotes with a target of 0, so in a target-position backtest its arm is a flat arm.

The trained models are injected (the caller trains them on the train part; ``fit_bandit`` does it for the
bandit and refuses to touch the test part). The composed policy's bandit keeps learning online from each
realised outcome, as it does in production: the reward of the decision at t (the step's equity change net
of costs, in bps) becomes known after bar t+1 and is used only for decisions after it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from models.bandit import DEFAULT_CONTEXT, ArmPnlTracker, ContextConfig, LinUCB, build_context, context_dim
from models.env import MarketReplay
from models.env.replay import Float32Array, FloatArray
from models.evaluation.backtest import Bar, Order, Policy, StepOutcome, identity_scaler, market_view, run_policy
from models.evaluation.protocol import PROTOCOL_V1, EvaluationProtocol, Fold, split_bounds
from models.marketdata.simulator import REGIMES, Regime
from models.seeding import make_rng
from models.strategies import Strategy

Actor = Callable[[Float32Array], npt.ArrayLike]
"""An exported actor (``models.agents.load_actor``): observation -> ``[size, entry_factor, exit_factor]``."""


class _Static:
    """Policies that neither refit on a fold's training data nor learn from outcomes."""

    def begin_fold(self, fold: Fold, history: MarketReplay) -> None:
        """Nothing to fit."""

    def observe(self, outcome: StepOutcome) -> None:
        """Nothing to learn."""


class ConstantTarget(_Static):
    """The same target every bar: ``flat`` (0) and ``buy_and_hold`` (1)."""

    def __init__(self, name: str, target: float, protocol: EvaluationProtocol = PROTOCOL_V1) -> None:
        if not -1.0 <= target <= 1.0:
            raise ValueError(f"target: must lie in [-1, 1], got {target}")
        self._name, self._order = name, Order(target, protocol.entry_factor, protocol.exit_factor)

    @property
    def name(self) -> str:
        return self._name

    def decide(self, bar: Bar) -> Order:
        return self._order


class StrategyAlone(_Static):
    """One arm's signal every bar (flat where the arm is inactive)."""

    def __init__(self, arm: int, arm_name: str, protocol: EvaluationProtocol = PROTOCOL_V1) -> None:
        self.arm, self._name = arm, f"strategy:{arm_name}"
        self._entry, self._exit = protocol.entry_factor, protocol.exit_factor

    @property
    def name(self) -> str:
        return self._name

    def decide(self, bar: Bar) -> Order:
        return Order(float(bar.targets[self.arm]), self._entry, self._exit, self.arm)


class RandomArm(_Static):
    """A uniform draw among the arms able to act, from a seeded generator: the no-skill meta-controller."""

    def __init__(self, seed: int, protocol: EvaluationProtocol = PROTOCOL_V1) -> None:
        self._name, self._rng = f"random_arm[seed={seed}]", make_rng(seed)
        self._entry, self._exit = protocol.entry_factor, protocol.exit_factor

    @property
    def name(self) -> str:
        return self._name

    def decide(self, bar: Bar) -> Order:
        candidates = np.flatnonzero(bar.active)
        if len(candidates) == 0:
            return Order(0.0, self._entry, self._exit)
        arm = int(candidates[self._rng.integers(len(candidates))])
        return Order(float(bar.targets[arm]), self._entry, self._exit, arm)


@dataclass(frozen=True, kw_only=True, slots=True)
class ComposedConfig:
    """How the composed policy feeds its bandit."""

    learn_online: bool = True
    """Update the bandit with each realised net PnL (as in production); False freezes it as injected."""
    unknown_regime: Regime = Regime.SIDEWAYS
    """The regime given to the bandit's context where none is known (code -1): the context has no unknown slot
    (its one-hot doubles as the intercept). The actor's observation gets the env's all-zero block instead."""
    context: ContextConfig = DEFAULT_CONTEXT


class ComposedPolicy:
    """Bandit picks the arm, the arm gives the target, the optional actor sizes it (module docstring)."""

    def __init__(
        self,
        arms: Sequence[str],
        bandit: LinUCB,
        *,
        actor: Actor | None = None,
        protocol: EvaluationProtocol = PROTOCOL_V1,
        config: ComposedConfig | None = None,
        name: str = "composed",
    ) -> None:
        if tuple(arms) != bandit.arms:
            raise ValueError(f"bandit: its arms {bandit.arms} differ from the strategies {tuple(arms)}")
        if bandit.config.dim != context_dim(len(arms)):
            raise ValueError(f"bandit: dim {bandit.config.dim} != context_dim({len(arms)}) = {context_dim(len(arms))}")
        self.bandit, self.actor, self._name = bandit, actor, name
        self.config = config or ComposedConfig()
        self.tracker = ArmPnlTracker(arms, self.config.context.pnl_decay)
        self._entry, self._exit = protocol.entry_factor, protocol.exit_factor
        self._context = np.empty(bandit.config.dim)
        self._pending: tuple[int, FloatArray] | None = None

    @property
    def name(self) -> str:
        return self._name

    def begin_fold(self, fold: Fold, history: MarketReplay) -> None:
        """The injected models stay as trained; the bandit has learned online from every earlier outcome."""

    def decide(self, bar: Bar) -> Order:
        self._pending = None
        if not bar.active.any():
            return Order(0.0, self._entry, self._exit)
        regime = REGIMES[bar.regime] if bar.regime >= 0 else self.config.unknown_regime
        context = build_context(bar.features, regime, self.tracker.values, self.config.context, out=self._context)
        choice = self.bandit.select(context, mask=bar.active)
        target, entry, exit_ = float(bar.targets[choice.arm]), self._entry, self._exit
        if self.actor is not None:
            size, entry, exit_ = actor_action(self.actor, bar.observation)
            target = max(-1.0, min(1.0, target * abs(size)))
        self._pending = (choice.arm, context.copy())
        return Order(target, entry, exit_, choice.arm)

    def observe(self, outcome: StepOutcome) -> None:
        if self._pending is None:
            return
        arm, context = self._pending
        self.tracker.update(arm, outcome.net_bps)
        if self.config.learn_online:
            self.bandit.update(arm, context, outcome.net_bps)


def actor_action(actor: Actor, observation: Float32Array) -> tuple[float, float, float]:
    """The actor's ``(size, entry_factor, exit_factor)``, clipped to the action bounds; non-finite raises."""
    action = np.asarray(actor(observation), dtype=np.float64).reshape(-1)
    if action.shape != (3,) or not np.isfinite(action).all():
        raise ValueError(f"actor: expected 3 finite values [size, entry, exit], got {action.tolist()}")
    size, entry, exit_ = action.tolist()
    return max(-1.0, min(1.0, size)), max(0.0, min(1.0, entry)), max(0.0, min(1.0, exit_))


def reseeded(bandit: LinUCB, seed: int) -> LinUCB:
    """A copy of ``bandit`` with everything it learned and its exploration draws seeded by ``seed``."""
    fresh = LinUCB(bandit.arms, replace(bandit.config, seed=seed), bandit.guard)
    state = bandit.state_dict()
    state["rng"] = make_rng(seed).bit_generator.state
    fresh.load_state_dict(state)
    return fresh


def baseline_policies(arms: Sequence[str], protocol: EvaluationProtocol = PROTOCOL_V1) -> list[Policy]:
    """Flat, buy-and-hold, each arm alone, and the random arm choice once per protocol seed."""
    policies: list[Policy] = [ConstantTarget("flat", 0.0, protocol), ConstantTarget("buy_and_hold", 1.0, protocol)]
    policies += [StrategyAlone(k, arm, protocol) for k, arm in enumerate(arms)]
    policies += [RandomArm(seed, protocol) for seed in protocol.seeds]
    return policies


def fit_bandit(
    replay: MarketReplay,
    strategies: Sequence[Strategy],
    bandit: LinUCB,
    *,
    protocol: EvaluationProtocol = PROTOCOL_V1,
    window: range | None = None,
    extra_features: Mapping[str, npt.ArrayLike] | None = None,
    config: ComposedConfig | None = None,
) -> LinUCB:
    """A copy of ``bandit`` trained by replaying ``window`` through the strategies and the env's fills.

    ``window`` defaults to the train part after the feature warm-up; a window reaching into the test part
    raises, so this helper cannot train on what ``compare`` scores. Rewards are net of the protocol's costs.
    """
    parts = split_bounds(len(replay), protocol)
    test_start = parts.test.start
    if window is None:
        window = range(replay.first_valid, parts.train.stop)
    if window.stop > test_start:
        raise ValueError(f"window: {window} reaches the test part (from row {test_start}); never train on it")
    learner = ComposedPolicy(
        [s.name for s in strategies],
        copy.deepcopy(bandit),
        protocol=protocol,
        config=replace(config or ComposedConfig(), learn_online=True),
        name="bandit_training",
    )
    view = market_view(replay, window, strategies, extra_features)
    run_policy(replay, learner, view, scaler=identity_scaler(len(replay.feature_names)), protocol=protocol)
    return learner.bandit
