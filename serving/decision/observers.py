"""What the engine hands to the side consumers of the champion's decisions: explanations and online learning.

Neither changes a decision: the explainer reads the proposal, the transition sink stages (obs, action,
reward, next obs) for a learner that trains off the decision path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.env.config import RewardConfig
from models.marketdata.simulator import REGIMES
from serving.decision.broker import PaperBroker, StepResult
from serving.decision.policy import BundlePolicy
from serving.safety.explain import ExplanationConfig

REGIME_CODES = {regime: code for code, regime in enumerate(REGIMES)}


def build_explainer(config: ExplanationConfig | None, policy: BundlePolicy) -> Any:
    """SHAP for the actor and exact attributions for the bandit, when configured (imports shap lazily)."""
    actor_dir = policy.bundle.actor_dir
    if config is None or not config.enabled:
        return None
    if actor_dir is None:
        raise ValueError("explanation: the champion bundle has no actor_dir to explain the actor from")
    from models.bandit import context_layout
    from serving.safety.explain import BACKGROUND_FILE, DecisionExplainer, load_background

    background_file = actor_dir / BACKGROUND_FILE
    background = load_background(background_file) if background_file.is_file() else None
    names, context_names = policy.observations.names, context_layout(policy.arms)
    return DecisionExplainer(actor_dir, policy.bandit, names, context_names, background, config)


def shaped_transition(
    policy: BundlePolicy,
    broker: PaperBroker,
    reward: RewardConfig,
    symbol: str,
    step: StepResult,
    vector: np.ndarray,
    volatility: float,
) -> tuple[float, np.ndarray]:
    """The env's shaped reward of the champion's last decision on ``symbol`` and the observation after it."""
    held = abs(step.position)
    value = step.net_bps - reward.inventory_penalty * held * held - reward.volatility_penalty * held * volatility
    value -= reward.time_decay * held
    next_obs = policy.observations.build(
        vector,
        position=step.position,
        entry_price=broker.entry_price(symbol),
        close=broker.last_price(symbol),
        regime=REGIME_CODES[policy.last_regime(symbol)],
    )
    return value, next_obs
