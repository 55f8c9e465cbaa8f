"""One policy over a model bundle: regime -> bandit picks the arm -> the arm's signal -> the actor sizes it.

The composition is ``models.evaluation.policies.ComposedPolicy``'s: the strategy decides the direction
and conviction, the actor how much of it to take (``target = signal * |size|``) and how aggressively to
price the legs. The champion and each shadow own one ``BundlePolicy`` apiece: their own copy of the
bandit (which keeps learning online from its own simulated or real fills), their own regime trackers,
their own per-arm PnL trackers. The strategies' signals are model-free and computed once per event by
the engine, so every policy reads the same immutable input.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from models.bandit import DEFAULT_CONTEXT, ArmPnlTracker, Choice, CompiledContext, ContextConfig, LinUCB, build_context
from models.bandit.context import context_dim
from models.env.observation import ObservationBuilder
from models.marketdata.simulator import REGIMES, Regime
from models.regime.detector import RegimeTracker
from serving.decision._kernels import pack_static, propose_kernel
from serving.decision.bundle import ModelBundle

FloatArray = npt.NDArray[np.float64]
_REGIME_CODE = {regime: code for code, regime in enumerate(REGIMES)}
"""Regime -> its code: the observation's one-hot index and the bandit context's one-hot slot alike."""
_FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyConfig:
    observation_clip: float = 10.0
    """The env's ``observation_clip``: the actor was trained on observations clipped to it."""
    context: ContextConfig = DEFAULT_CONTEXT


class Proposal(NamedTuple):
    """What a policy wants at one event, before risk and veto."""

    target: float
    entry_factor: float
    exit_factor: float
    choice: Choice
    confidence: float
    expected_return: float
    regime: Regime
    observation: npt.NDArray[np.float32]
    context: FloatArray
    """The bandit's context vector (this proposal's own array: explanations and the pending reward read it)."""


class _SymbolPolicyState:
    __slots__ = ("pending", "regime", "tracker")

    def __init__(self, detector_tracker: RegimeTracker, arms: tuple[str, ...], decay: float) -> None:
        self.regime = detector_tracker
        self.tracker = ArmPnlTracker(arms, decay)
        self.pending: tuple[int, FloatArray, bool] | None = None
        """(arm, context, explored) of the last executed decision, until its outcome arrives."""


class BundlePolicy:
    """A bundle plus the state it learns and tracks per symbol (see the module docstring)."""

    def __init__(self, bundle: ModelBundle, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self.bundle = bundle
        self.bandit = copy.deepcopy(bundle.bandit)
        self.observations = ObservationBuilder(bundle.scaler, clip=self.config.observation_clip)
        self._symbols: dict[str, _SymbolPolicyState] = {}
        self._dim = self.bandit.config.dim
        self._vector_shape = (self.observations.feature_dim,)
        self._obs_dim = self.observations.dim
        self._compiled = CompiledContext.resolve(
            self.config.context, self.observations.names[: self.observations.feature_dim]
        )
        """The context's feature reads as positions in the feature vector (None: a feature the vector lacks)."""
        self._last_regime: dict[str, Regime] = {}
        self._fused_for: tuple[object, object, object] | None = None
        self._fused_args: tuple[Any, ...] | None = None
        """``propose_kernel``'s fixed arguments for the (actor, bandit) in ``_fused_for`` (None: no compiled path,
        the actor is not the bundle's ``NumpyActor`` or the context reads a feature the vector lacks)."""
        self.on_outcome: Callable[[str, float, bool], None] | None = None
        """Called with (arm, net_bps, explored) for every outcome (the champion's exploration budget, stats)."""
        self.last_choice: dict[str, Choice] = {}
        """symbol -> the bandit's choice at this policy's last proposal (the off-policy log reads a shadow's)."""

    @property
    def arms(self) -> tuple[str, ...]:
        return self.bandit.arms

    def _state(self, symbol: str) -> _SymbolPolicyState:
        state = self._symbols.get(symbol)
        if state is None:
            state = _SymbolPolicyState(self.bundle.detector.tracker(), self.arms, self.config.context.pnl_decay)
            self._symbols[symbol] = state
        return state

    def observe(self, symbol: str, net_bps: float) -> None:
        """The outcome of this policy's last decision on ``symbol``: the bandit's reward, the arm's PnL."""
        state = self._symbols.get(symbol) or self._state(symbol)
        if state.pending is None:
            return
        arm, context, explored = state.pending
        state.pending = None
        state.tracker.update(arm, net_bps)
        self.bandit.update(arm, context, net_bps)
        if self.on_outcome is not None:
            self.on_outcome(self.arms[arm], net_bps, explored)

    def track_regime(self, symbol: str, features: FloatArray, *, high: float, low: float, volume: float) -> Regime:
        """Fold the event into the symbol's regime tracker (every event, warm or not)."""
        state = self._symbols.get(symbol) or self._state(symbol)
        regime = self._last_regime[symbol] = state.regime.update_regime(features, high=high, low=low, volume=volume)
        return regime

    def last_regime(self, symbol: str) -> Regime:
        return self._last_regime[symbol]

    def propose(
        self,
        symbol: str,
        features: Mapping[str, float],
        vector: FloatArray,
        targets: list[float],
        active: list[bool],
        *,
        position: float,
        entry_price: float,
        close: float,
    ) -> Proposal:
        """The bandit's arm, its signal sized by the actor; at least one arm must be active.

        ``vector`` holds the values of ``features`` in the observation's feature order (the engine's). The hot
        path is one compiled call (``propose_kernel``: the context, every arm's score, the ranking and the
        propensities, the observation and the actor's action), then the exploration draw and the ``Choice``
        (``LinUCB.compiled_choice``). Where the kernel does not apply (an actor other than the bundle's
        ``NumpyActor``, another vector type, a position out of range, an undefined input) the Python steps
        run, ``build_context``, ``select``, ``estimate``, ``build`` and the actor: the same values, or the
        same errors in the same order, with the RNG drawn as often as before.
        """
        state = self._symbols.get(symbol) or self._state(symbol)
        regime = self._last_regime[symbol]
        code = _REGIME_CODE[regime]
        bandit, actor = self.bandit, self.bundle.actor
        fused_for = self._fused_for
        if (
            fused_for is None
            or fused_for[0] is not actor
            or fused_for[1] is not bandit
            or fused_for[2] is not bandit.config
        ):
            self._fuse(actor, bandit)
        fused = self._fused_args
        if (
            fused is not None
            and type(vector) is np.ndarray
            and vector.dtype is _FLOAT64
            and vector.shape == self._vector_shape
            and -1.0 <= position <= 1.0
        ):
            try:
                flags = bandit.mask_flags(active)
            except ValueError:  # every arm vetoed: the Python path raises it, after any context error, as always
                flags = None
            if flags is not None:
                context = np.empty(self._dim)
                obs = np.empty(self._obs_dim, dtype=np.float32)
                greedy, size, entry, exit_ = propose_kernel(
                    context,
                    obs,
                    vector,
                    code,
                    state.tracker.array,
                    flags,
                    float(position),
                    float(entry_price),
                    float(close),
                    *fused,
                )
                if greedy >= 0:
                    choice, mean, width = bandit.compiled_choice(greedy)
                    self.last_choice[symbol] = choice
                    arm = choice.arm
                    target = targets[arm] * abs(size)
                    target = target if -1.0 < target < 1.0 else max(-1.0, min(1.0, target))
                    state.pending = (arm, context, choice.explored)
                    # positional: keyword arguments to a NamedTuple cost a dict per call
                    return Proposal(target, entry, exit_, choice, 1.0 / (1.0 + width), mean / 1e4, regime, obs, context)
        # Not compiled, or an input the kernel rejects: the same steps in Python, which also name the culprit.
        context = build_context(features, regime, state.tracker.as_list(), self.config.context, np.empty(self._dim))
        choice = self.last_choice[symbol] = bandit.select(context, mask=active)
        mean, width = bandit.estimate(choice.arm, context)
        obs = self.observations.build(vector, position=position, entry_price=entry_price, close=close, regime=code)
        return self._proposal(state, choice, mean, width, actor(obs), targets, regime, obs, context)

    def _proposal(
        self,
        state: _SymbolPolicyState,
        choice: Choice,
        mean: float,
        width: float,
        action: npt.ArrayLike,
        targets: list[float],
        regime: Regime,
        obs: npt.NDArray[np.float32],
        context: FloatArray,
    ) -> Proposal:
        """The chosen arm's signal sized by the actor's raw action; the choice becomes the pending one (the
        Python path's; ``propose_kernel`` checks and clamps the action the same way)."""
        flat = action if type(action) is np.ndarray and action.ndim == 1 else np.asarray(action).reshape(-1)
        raw = flat.tolist()
        # float32 -> float is exact; a finite sum means three finite values; only otherwise (or on an overflow)
        # are they checked one by one
        if len(raw) != 3 or not (math.isfinite(sum(raw)) or all(map(math.isfinite, raw))):
            raise ValueError(f"actor: expected 3 finite values [size, entry, exit], got {raw}")
        size, entry, exit_ = raw
        # The clamps as conditionals (on every decision): strictly inside the bounds min/max return the value
        # itself, and every other value, NaN included, takes the original expression.
        entry = entry if 0.0 < entry < 1.0 else min(1.0, max(0.0, entry))
        exit_ = exit_ if 0.0 < exit_ < 1.0 else min(1.0, max(0.0, exit_))
        arm = choice.arm
        target = targets[arm] * abs(size)
        target = target if -1.0 < target < 1.0 else max(-1.0, min(1.0, target))
        state.pending = (arm, context, choice.explored)
        return Proposal(target, entry, exit_, choice, 1.0 / (1.0 + width), mean / 1e4, regime, obs, context)

    def _fuse(self, actor: object, bandit: LinUCB) -> None:
        """``propose_kernel``'s fixed arguments for ``actor`` and ``bandit`` (None where it does not apply)."""
        # keyed by the bandit (its arrays: ``adopt`` replaces it) and its config (alpha and epsilon are packed)
        self._fused_for = (actor, bandit, bandit.config)
        self._fused_args = None
        builder, compiled = self.observations, self._compiled
        row_args = getattr(actor, "row_args", None)
        fused = row_args(builder.dim) if callable(row_args) else None
        if fused is None or compiled is None or bandit.config.dim != context_dim(len(bandit.arms)):
            return
        if fused[1][-1] != 3:  # the Python path raises on it
            return
        center, scale, clip = builder.kernel_args()
        config = bandit.config
        static = pack_static(
            compiled.index, compiled.scales, config.alpha, config.exploration_rate, center, scale, clip, fused
        )
        self._fused_args = (*bandit.compiled_args(), *static)

    def pending_choice(self, symbol: str) -> tuple[int, FloatArray] | None:
        """(arm, context) of the last proposal whose outcome will train the bandit; None once forgotten or observed."""
        pending = (self._symbols.get(symbol) or self._state(symbol)).pending
        return None if pending is None else (pending[0], pending[1])

    def forget_pending(self, symbol: str) -> None:
        """The decision will not be executed (held, denied): its outcome must not train the bandit."""
        (self._symbols.get(symbol) or self._state(symbol)).pending = None

    def adopt(self, previous: BundlePolicy) -> None:
        """Carry a copy of the per-symbol state of ``previous`` (a hot-swap, or a shadow's start).

        Copies, not shares: a shadow adopts from the live champion, and a shared bandit or regime tracker
        would be updated by both policies on every event, so the shadow would change the champion's decisions.
        """
        same_detector = previous.bundle.versions["regime"] == self.bundle.versions["regime"]
        same_bandit = previous.bundle.versions["bandit"] == self.bundle.versions["bandit"]
        if same_bandit:
            self.bandit = copy.deepcopy(previous.bandit)
        for symbol, old in previous._symbols.items():
            state = self._state(symbol)
            if same_detector:
                # the tracker's detector is the bundle's (read-only weights): point the copy at ours
                state.regime = copy.deepcopy(old.regime, {id(old.regime.detector): self.bundle.detector})
                if symbol in previous._last_regime:
                    self._last_regime[symbol] = previous._last_regime[symbol]
            if old.tracker.arms == state.tracker.arms:
                state.tracker.load_state_dict(old.tracker.state_dict())
            state.pending = old.pending if same_bandit else None

    def stats(self) -> dict[str, Any]:
        return {"bandit_counts": dict(zip(self.arms, self.bandit.counts, strict=True))}
