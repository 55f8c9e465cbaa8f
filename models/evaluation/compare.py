"""Side-by-side out-of-sample comparison: every policy on the same test bars, the same folds, the same costs.

``compare`` runs the protocol end to end: split, walk-forward folds over the test part, one shared view of the
test bars (features, each strategy's signal, the regime), then flat, buy-and-hold, each strategy alone, the
random arm choice and the composed policy (once per protocol seed), each through the env's fills. The report
holds every run as it came out: no run is dropped, re-run or chosen after its result is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from models.bandit import LinUCB
from models.env import FeatureScaler, MarketReplay, regime_one_hot
from models.env.replay import FloatArray, IntArray
from models.evaluation.backtest import BacktestResult, market_view, run_policy
from models.evaluation.metrics import Metrics, compute_metrics
from models.evaluation.policies import Actor, ComposedConfig, ComposedPolicy, baseline_policies, reseeded
from models.evaluation.protocol import PROTOCOL_V1, EvaluationProtocol, Fold, split_bounds, walk_forward_folds
from models.strategies import Strategy


@dataclass(frozen=True, kw_only=True, eq=False)
class PolicyResult:
    """One policy's out-of-sample run: metrics over the whole test window and per fold, and its curves."""

    name: str
    metrics: Metrics
    fold_metrics: tuple[Metrics, ...]
    equity: FloatArray
    """Equity net of costs at every test row, starting at 1 (units of the maximum notional); read-only."""
    positions: FloatArray
    """Position held after each row's fills; read-only."""
    arm_shares: Mapping[str, float]
    """Share of decisions that followed each arm (policies that choose arms; empty for the others)."""
    total_cost_bps: float
    """Spread, slippage and fees paid over the window, in bps of the maximum notional."""


@dataclass(frozen=True, kw_only=True, eq=False)
class EvaluationReport:
    """All policies on one test window under one protocol; immutable (arrays read-only, mappings proxies)."""

    protocol: EvaluationProtocol
    window: range
    folds: tuple[Fold, ...]
    timestamps_ns: IntArray
    arms: tuple[str, ...]
    results: tuple[PolicyResult, ...]

    def __post_init__(self) -> None:
        self.timestamps_ns.flags.writeable = False
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError(f"results: policy names must be unique, got {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results)

    def result(self, name: str) -> PolicyResult:
        """The result of the policy called ``name``."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"name: no policy {name!r}; policies are {self.names}")

    def metrics_table(self) -> dict[str, dict[str, float]]:
        """Policy -> metric -> value over the whole test window (for MLflow and Dagster metadata)."""
        return {r.name: r.metrics.as_dict() for r in self.results}


def with_regime(replay: MarketReplay, regime: npt.ArrayLike | None) -> MarketReplay:
    """``replay`` with its regime block replaced by integer ``regime`` codes (-1 unknown); None keeps it."""
    if regime is None:
        return replay
    return replace(replay, regime=regime_one_hot(np.asarray(regime), len(replay)))


def fold_points(fold: Fold, window: range) -> slice:
    """The equity points of ``fold``: from its first decision row to the row its last decision is marked at."""
    return slice(fold.test.start - window.start, min(fold.test.stop, window.stop - 1) - window.start + 1)


def summarize(
    run: BacktestResult, folds: Sequence[Fold], arms: Sequence[str], protocol: EvaluationProtocol
) -> PolicyResult:
    """Metrics of a run over its whole window and per fold, with its arm usage and costs."""

    def metrics(points: slice) -> Metrics:
        return compute_metrics(
            run.equity[points],
            run.positions[points],
            bars_per_year=protocol.bars_per_year,
            risk_free_rate=protocol.risk_free_rate,
        )

    chosen = run.arms[run.arms >= 0]
    shares = {arm: float(np.mean(chosen == k)) for k, arm in enumerate(arms)} if len(chosen) else {}
    return PolicyResult(
        name=run.policy,
        metrics=metrics(slice(0, len(run.equity))),
        fold_metrics=tuple(metrics(fold_points(fold, run.window)) for fold in folds),
        equity=run.equity,
        positions=run.positions,
        arm_shares=MappingProxyType(shares),
        total_cost_bps=float(run.cost_bps.sum()),
    )


def compare(
    replay: MarketReplay,
    strategies: Sequence[Strategy],
    *,
    bandit: LinUCB,
    actor: Actor | None = None,
    protocol: EvaluationProtocol = PROTOCOL_V1,
    regime: npt.ArrayLike | None = None,
    scaler: FeatureScaler | None = None,
    extra_features: Mapping[str, npt.ArrayLike] | None = None,
    composed: ComposedConfig | None = None,
) -> EvaluationReport:
    """Every policy on the protocol's test part, walk-forward, net of the protocol's costs.

    ``bandit`` (arms = the strategies' names, trained on the train part, e.g. by ``fit_bandit``) and ``actor``
    (``models.agents.load_actor``) are the trained models; they are copied, never changed. ``regime``: integer
    codes per row (-1 unknown; default: the replay's own block, all unknown for ``from_bars``). ``scaler``
    standardises the actor's observations: pass the one it was trained with; the default is fitted on the
    train part. ``extra_features`` adds columns some arms read (pair features, a second venue's quotes).
    """
    replay = with_regime(replay, regime)
    parts = split_bounds(len(replay), protocol)
    folds = walk_forward_folds(len(replay), protocol)
    view = market_view(replay, parts.test, strategies, extra_features)
    fitted = scaler or FeatureScaler.fit(replay.features[replay.first_valid : parts.train.stop])
    policies = baseline_policies(view.arms, protocol)
    policies += [
        ComposedPolicy(
            view.arms,
            reseeded(bandit, seed),
            actor=actor,
            protocol=protocol,
            config=composed,
            name=f"composed[seed={seed}]",
        )
        for seed in protocol.seeds
    ]
    runs = [run_policy(replay, policy, view, scaler=fitted, protocol=protocol, folds=folds) for policy in policies]
    return EvaluationReport(
        protocol=protocol,
        window=parts.test,
        folds=folds,
        timestamps_ns=replay.timestamps_ns[parts.test.start : parts.test.stop].copy(),
        arms=view.arms,
        results=tuple(summarize(run, folds, view.arms, protocol) for run in runs),
    )
