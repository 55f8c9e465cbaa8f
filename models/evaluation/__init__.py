"""Out-of-sample evaluation: a protocol fixed before results, a backtester on the env's fills, metrics, reports.

``compare(replay, strategies, bandit=..., actor=...)`` runs the composed policy (LinUCB picks a strategy arm,
the arm gives the target, an optional actor sizes it) side by side with flat, buy-and-hold, each arm alone and
a seeded random arm choice, on the walk-forward folds of ``PROTOCOL_V1``'s test part, net of the trading env's
costs. ``report_markdown`` and ``plot_equity`` render the immutable ``EvaluationReport``; ``backtest`` scores a
plain sequence of target positions; ``split`` and ``walk_forward_folds`` cut data the protocol's way.

``gate_decision(champion_bps, challenger_bps, ope, GateConfig(...))`` is the shadow promotion gate: a paired
stationary-bootstrap interval of the per-decision PnL difference, a deflated Sharpe ratio, and the bandit's
off-policy estimates (``off_policy_evidence``: IPS, SNIPS, DR) from the logged propensities.
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
from models.evaluation.gate import (
    BootstrapResult,
    DeflatedSharpeResult,
    GateConfig,
    GateDecision,
    deflated_sharpe,
    expected_max_sharpe,
    gate_decision,
    optimal_block_length,
    paired_bootstrap,
    probabilistic_sharpe,
)
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
from models.evaluation.off_policy import (
    OffPolicyEstimate,
    OffPolicyEvidence,
    direct_method_estimate,
    doubly_robust_estimate,
    ips_estimate,
    off_policy_evidence,
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
    "BootstrapResult",
    "ComposedConfig",
    "ComposedPolicy",
    "ConstantTarget",
    "DeflatedSharpeResult",
    "EvaluationProtocol",
    "EvaluationReport",
    "Fold",
    "GateConfig",
    "GateDecision",
    "MarketView",
    "Metrics",
    "OffPolicyEstimate",
    "OffPolicyEvidence",
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
    "deflated_sharpe",
    "direct_method_estimate",
    "doubly_robust_estimate",
    "expected_max_sharpe",
    "fit_bandit",
    "gate_decision",
    "hit_rate",
    "ips_estimate",
    "market_view",
    "max_drawdown",
    "off_policy_evidence",
    "optimal_block_length",
    "paired_bootstrap",
    "plot_equity",
    "probabilistic_sharpe",
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
