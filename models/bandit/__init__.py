"""The meta-controller: disjoint LinUCB over the strategy arms (Li et al. 2010) and its context vector.

``LinUCB.select(context, mask)`` returns an immutable ``Choice`` (arm, propensity, scores, explored flag);
``LinUCB.update(arm, context, reward)`` folds in the chosen arm's net PnL over the next horizon.
``build_context`` turns features, the regime and the arms' recent PnL into the context (layout in
``models.bandit.context``). Exploration is epsilon-greedy behind an ``ExplorationGuard``.
"""

from models.bandit.context import (
    DEFAULT_CONTEXT,
    ArmPnlTracker,
    CompiledContext,
    ContextConfig,
    build_context,
    context_dim,
    context_layout,
)
from models.bandit.linucb import (
    AllowAll,
    Choice,
    ContextualBanditConfig,
    ExplorationGuard,
    LinUCB,
    bandit_select_update_latency_us,
)

__all__ = [
    "DEFAULT_CONTEXT",
    "AllowAll",
    "ArmPnlTracker",
    "Choice",
    "CompiledContext",
    "ContextConfig",
    "ContextualBanditConfig",
    "ExplorationGuard",
    "LinUCB",
    "bandit_select_update_latency_us",
    "build_context",
    "context_dim",
    "context_layout",
]
