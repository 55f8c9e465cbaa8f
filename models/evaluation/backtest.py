"""The backtester: a policy's target positions, decided at the close of bar t, filled by the trading env in bar t+1.

There is no second cost model here. Every decision becomes the env's action ``[target, entry_factor,
exit_factor]`` and ``TradingEnv.step`` fills it (``models.env.execution``: limit inside the spread, fill when
bar t+1's range reaches it, slippage growing with size and volatility, fees on the notional) and books the
mark-to-market PnL (``models.env.reward``). The equity curve is the env's ``pnl - cost``, in units of the
maximum notional (one unit of the asset at the window's first close), starting at 1::

    equity[0] = 1,    equity[i + 1] = 1 + info["equity"] / reward_scale

so a full position is a 1x exposure and returns are net of every cost. Positions are the env's, after
fills: a limit that bar t+1 never reaches leaves the position where it was, and the curve shows it.

Causality: the policy sees row t only (the env's observation, the features at t, the strategies' signals
at t, the regime at t) and learns the outcome of its decision after the step; it never reads row t+1 first.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from models.env import FeatureScaler, MarketReplay, TradingEnv, TradingEnvConfig
from models.env.replay import Float32Array, FloatArray, IntArray
from models.evaluation.protocol import PROTOCOL_V1, EvaluationProtocol, Fold
from models.strategies import Strategy

BoolArray = npt.NDArray[np.bool_]


class Order(NamedTuple):
    """A policy's decision at one bar: the target and the limit aggressiveness of its two legs."""

    target: float
    """Target position in [-1, 1] (fraction of the maximum position)."""
    entry_factor: float
    exit_factor: float
    arm: int = -1
    """The strategy arm whose signal gave the target (-1: none), for arm-usage statistics."""


class Bar(NamedTuple):
    """What a policy may read when deciding at the close of bar ``row``: nothing later."""

    row: int
    observation: Float32Array
    """The env's observation (scaled features, position, unrealized return, regime): the actor's input."""
    features: Mapping[str, float]
    """Raw features at ``row`` by name (plus any extra columns), as strategies and the bandit context read them."""
    targets: FloatArray
    """Each strategy arm's target at ``row`` (0 where inactive)."""
    active: BoolArray
    """Whether each arm can act at ``row``."""
    regime: int
    """Regime code at ``row`` (index into ``REGIMES``; -1 unknown)."""


class StepOutcome(NamedTuple):
    """What the policy learns once its decision at ``row - 1`` was filled in bar ``row`` and marked at its close."""

    row: int
    position: float
    filled: float
    net_bps: float
    """Equity change over the step, net of costs, in bps of the maximum notional."""
    cost_bps: float


class Policy(Protocol):
    """A target-position policy the backtester drives bar by bar."""

    @property
    def name(self) -> str: ...

    def begin_fold(self, fold: Fold, history: MarketReplay) -> None:
        """Called when ``fold``'s window starts; ``history`` is its training data only (may refit on it)."""
        ...

    def decide(self, bar: Bar) -> Order: ...

    def observe(self, outcome: StepOutcome) -> None:
        """The realised outcome of the last decision (feedback for online learners)."""
        ...


class FeatureRow(Mapping[str, float]):
    """One row of a feature matrix as a read-only name -> float mapping, without copying the row into a dict."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: list[float]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str) -> float:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass(frozen=True, kw_only=True, eq=False)
class MarketView:
    """Everything policies read per row of a window, computed once and shared by every policy compared."""

    window: range
    names: tuple[str, ...]
    values: FloatArray
    """``(len(window), len(names))`` feature values."""
    arms: tuple[str, ...]
    targets: FloatArray
    """``(len(window), len(arms))`` each arm's target (0 where inactive)."""
    active: BoolArray
    regime: IntArray
    _index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.names)})
        for array in (self.values, self.targets, self.active, self.regime):
            array.flags.writeable = False

    def row(self, i: int) -> FeatureRow:
        """Features of the window's ``i``-th row."""
        return FeatureRow(self._index, self.values[i].tolist())


def regime_codes_of(replay: MarketReplay) -> IntArray:
    """Regime code per row of a replay's regime block: the most likely regime, -1 where the block is all zero."""
    codes: IntArray = np.where(replay.regime.max(axis=1) > 0.0, replay.regime.argmax(axis=1), -1).astype(np.int64)
    return codes


def market_view(
    replay: MarketReplay,
    window: range,
    strategies: Sequence[Strategy] = (),
    extra_features: Mapping[str, npt.ArrayLike] | None = None,
) -> MarketView:
    """Features, signals and regime of ``window``; the strategies run on copies, reset at the window's start.

    ``extra_features`` adds columns (one value per replay row) that some arms read, e.g. pair features or a
    second venue's quotes. Strategies keep state from bar to bar but never see a position, so their signals
    are the same whichever policy trades on them: computing them once is exact.
    """
    if not (0 <= window.start < window.stop <= len(replay)) or window.step != 1:
        raise ValueError(f"window: must be a step-1 range inside [0, {len(replay)}), got {window}")
    extra = dict(extra_features or {})
    columns = [np.asarray(v, dtype=np.float64) for v in extra.values()]
    if any(c.shape != (len(replay),) for c in columns):
        raise ValueError(f"extra_features: every column needs one value per replay row ({len(replay)})")
    part = slice(window.start, window.stop)
    names = (*replay.feature_names, *extra)
    values = np.column_stack([replay.features[part], *(c[part] for c in columns)])
    targets, active = _signals(values, names, strategies)
    return MarketView(
        window=window,
        names=names,
        values=values,
        arms=tuple(s.name for s in strategies),
        targets=targets,
        active=active,
        regime=regime_codes_of(replay)[part],
    )


def _signals(
    values: FloatArray, names: tuple[str, ...], strategies: Sequence[Strategy]
) -> tuple[FloatArray, BoolArray]:
    """Each arm's target and active flag per row, from copies of the strategies reset to a fresh state."""
    index = {name: i for i, name in enumerate(names)}
    targets = np.zeros((len(values), len(strategies)))
    active = np.zeros((len(values), len(strategies)), dtype=np.bool_)
    arms = [copy.deepcopy(s) for s in strategies]
    for arm in arms:
        arm.reset()
    for i, row_values in enumerate(values.tolist()):
        row = FeatureRow(index, row_values)
        for k, arm in enumerate(arms):
            signal = arm.on_features(row)
            targets[i, k], active[i, k] = signal.target_position, signal.active
    return targets, active


@dataclass(frozen=True, kw_only=True, eq=False)
class BacktestResult:
    """One policy over one window: equity net of costs and positions, one point per row (arrays read-only)."""

    policy: str
    window: range
    timestamps_ns: IntArray
    equity: FloatArray
    positions: FloatArray
    arms: IntArray
    """Arm whose signal each decision followed (-1: none); one per decision, ``len(window) - 1``."""
    cost_bps: FloatArray
    """Spread, slippage and fees of each decision, bps of the maximum notional."""

    def __post_init__(self) -> None:
        for name in ("timestamps_ns", "equity", "positions", "arms", "cost_bps"):
            getattr(self, name).flags.writeable = False


def identity_scaler(n_features: int) -> FeatureScaler:
    """A scaler that leaves features as they are, for runs whose policies never read the observation."""
    return FeatureScaler(center=(0.0,) * n_features, scale=(1.0,) * n_features)


def _window_env(replay: MarketReplay, window: range, protocol: EvaluationProtocol, scaler: FeatureScaler) -> TradingEnv:
    part = replay.slice(window.start, window.stop)
    if part.first_valid != 0:
        raise ValueError(
            f"window: starts at row {window.start}, but features are undefined until row "
            f"{window.start + part.first_valid}; start the window after the warm-up"
        )
    config = TradingEnvConfig(episode_length=len(part) - 1, execution=protocol.execution)
    return TradingEnv(part, config, scaler=scaler)


def _check_folds(folds: Sequence[Fold], window: range) -> None:
    edges = [window.start, *(f.test.stop for f in folds)]
    contiguous = all(f.test.start == edge for f, edge in zip(folds, edges, strict=False))
    if not folds or not contiguous or edges[-1] != window.stop:
        raise ValueError(f"folds: must cut the window {window} into consecutive test windows")


def _check_order(order: Order, policy: str, row: int) -> None:
    values = (order.target, order.entry_factor, order.exit_factor)
    if not all(math.isfinite(v) for v in values) or not -1.0 <= order.target <= 1.0:
        raise ValueError(f"{policy}: order at row {row} must be finite with target in [-1, 1], got {order}")


def run_policy(
    replay: MarketReplay,
    policy: Policy,
    view: MarketView,
    *,
    scaler: FeatureScaler,
    protocol: EvaluationProtocol = PROTOCOL_V1,
    folds: Sequence[Fold] | None = None,
) -> BacktestResult:
    """Drive ``policy`` over ``view.window`` through ``TradingEnv``, one decision per bar but the last.

    ``scaler`` standardises the observations (fit it on training data: it is what the actor was trained
    with). ``folds`` (default: one fold, trained on everything before the window) must cut the window into
    consecutive windows; ``policy.begin_fold`` is called at each with that fold's training data only.
    """
    window = view.window
    folds = folds or (Fold(index=0, train=range(0, window.start), test=window),)
    _check_folds(folds, window)
    env = _window_env(replay, window, protocol, scaler)
    obs, _ = env.reset(options={"start": 0})
    n, unit = len(window), 1.0 / env.config.reward.reward_scale
    equity, positions = np.ones(n), np.zeros(n)
    arms, cost_bps = np.full(n - 1, -1, dtype=np.int64), np.zeros(n - 1)
    starts = {fold.test.start: fold for fold in folds}
    action = np.empty(3, dtype=np.float32)
    for i in range(n - 1):
        row = window.start + i
        if row in starts:
            policy.begin_fold(starts[row], replay.slice(0, starts[row].train.stop))
        order = policy.decide(Bar(row, obs, view.row(i), view.targets[i], view.active[i], int(view.regime[i])))
        _check_order(order, policy.name, row)
        action[:] = (order.target, order.entry_factor, order.exit_factor)
        obs, _, _, _, info = env.step(action)
        equity[i + 1] = 1.0 + info["equity"] * unit
        positions[i + 1], arms[i] = info["position"], order.arm
        cost_bps[i] = info["cost"] * unit * 1e4
        net_bps = (info["pnl"] - info["cost"]) * unit * 1e4
        policy.observe(StepOutcome(row + 1, info["position"], info["filled"], net_bps, cost_bps[i]))
    timestamps = replay.timestamps_ns[window.start : window.stop].copy()
    return BacktestResult(
        policy=policy.name,
        window=window,
        timestamps_ns=timestamps,
        equity=equity,
        positions=positions,
        arms=arms,
        cost_bps=cost_bps,
    )


class TargetSeries:
    """A fixed sequence of targets, one per decision from ``start``: the policy behind ``backtest``."""

    def __init__(self, targets: FloatArray, start: int, protocol: EvaluationProtocol, name: str = "targets") -> None:
        self.targets, self.start, self.protocol, self._name = targets, start, protocol, name

    @property
    def name(self) -> str:
        return self._name

    def begin_fold(self, fold: Fold, history: MarketReplay) -> None:
        """A fixed sequence has nothing to fit."""

    def decide(self, bar: Bar) -> Order:
        return Order(float(self.targets[bar.row - self.start]), self.protocol.entry_factor, self.protocol.exit_factor)

    def observe(self, outcome: StepOutcome) -> None:
        """A fixed sequence does not learn."""


def backtest(
    replay: MarketReplay, targets: npt.ArrayLike, *, start: int, protocol: EvaluationProtocol = PROTOCOL_V1
) -> BacktestResult:
    """Backtest target positions: ``targets[i]`` is decided at the close of row ``start + i``, filled in the next.

    The window is rows ``[start, start + len(targets) + 1)``; its features must be defined from ``start``.
    Orders use the protocol's entry and exit factors; costs are the protocol's ``execution``.
    """
    values = np.asarray(targets, dtype=np.float64)
    if values.ndim != 1 or len(values) < 1:
        raise ValueError(f"targets: expected a non-empty 1-D sequence, got shape {values.shape}")
    if not (np.isfinite(values).all() and (np.abs(values) <= 1.0).all()):
        raise ValueError("targets: must be finite and lie in [-1, 1]")
    window = range(start, start + len(values) + 1)
    view = market_view(replay, window)
    policy = TargetSeries(values, start, protocol)
    return run_policy(replay, policy, view, scaler=identity_scaler(len(replay.feature_names)), protocol=protocol)
