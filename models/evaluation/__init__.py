"""Out-of-sample evaluation: a protocol fixed before results, a backtester on the env's fills, metrics, reports.

``compare(replay, strategies, bandit=..., actor=...)`` runs the composed policy (LinUCB picks a strategy arm,
the arm gives the target, an optional actor sizes it) side by side with flat, buy-and-hold, each arm alone and
a seeded random arm choice, on the walk-forward folds of ``PROTOCOL_V1``'s test part, net of the trading env's
costs. ``report_markdown`` and ``plot_equity`` render the immutable ``EvaluationReport``; ``backtest`` scores a
plain sequence of target positions; ``split`` and ``walk_forward_folds`` cut data the protocol's way.
"""

from models.evaluation.backtest import (
    BacktestResult,
    Bar,
    MarketView,
    Order,
    Policy,
    StepOutcome,
    backtest,
    market_view,
    run_policy,
)
from models.evaluation.compare import EvaluationReport, PolicyResult, compare, with_regime
from models.evaluation.metrics import (
    METRIC_NAMES,
    Metrics,
    bar_returns,
    compute_metrics,
    hit_rate,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    trade_count,
    turnover,
)
from models.evaluation.policies import (
    Actor,
    ComposedConfig,
    ComposedPolicy,
    ConstantTarget,
    RandomArm,
    StrategyAlone,
    baseline_policies,
    fit_bandit,
    reseeded,
)
from models.evaluation.protocol import (
    BARS_PER_YEAR_1M_CRYPTO,
    PROTOCOL_V1,
    EvaluationProtocol,
    Fold,
    Split,
    split,
    split_bounds,
    walk_forward_folds,
)
from models.evaluation.report import plot_equity, report_markdown

__all__ = [
    "BARS_PER_YEAR_1M_CRYPTO",
    "METRIC_NAMES",
    "PROTOCOL_V1",
    "Actor",
    "BacktestResult",
    "Bar",
    "ComposedConfig",
    "ComposedPolicy",
    "ConstantTarget",
    "EvaluationProtocol",
    "EvaluationReport",
    "Fold",
    "MarketView",
    "Metrics",
    "Order",
    "Policy",
    "PolicyResult",
    "RandomArm",
    "Split",
    "StepOutcome",
    "StrategyAlone",
    "backtest",
    "bar_returns",
    "baseline_policies",
    "compare",
    "compute_metrics",
    "fit_bandit",
    "hit_rate",
    "market_view",
    "max_drawdown",
    "plot_equity",
    "report_markdown",
    "reseeded",
    "run_policy",
    "sharpe_ratio",
    "sortino_ratio",
    "split",
    "split_bounds",
    "total_return",
    "trade_count",
    "turnover",
    "walk_forward_folds",
    "with_regime",
]
