"""The decision path's settings and the small immutable records its stages pass along."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from models.env.config import RewardConfig
from models.streaming.processor import StreamConfig
from serving.decision.broker import BrokerConfig
from serving.decision.policy import PolicyConfig
from serving.decision.records import HoldReason
from serving.safety.explain import ExplanationConfig
from serving.safety.exploration import ExplorationBudgetConfig
from serving.safety.risk_limits import RiskLimits
from serving.safety.veto import VetoRules

Clock = Literal["wall", "market"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """The decision path's settings; every part has its own frozen config."""

    symbols: frozenset[str] = frozenset()
    """Symbols this engine decides for; empty accepts any symbol."""
    clock: Clock = "wall"
    """Feature age is measured against the wall clock (live) or the newest event time seen (replays)."""
    max_feature_age: timedelta = timedelta(minutes=5)
    stream: StreamConfig = field(default_factory=StreamConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    risk: RiskLimits = field(default_factory=RiskLimits)
    """The pre-trade limits (``serving.safety``); they can change while running (``set_limits``)."""
    kill_switch_file: Path | None = None
    """Where the champion's kill switch persists (``rtopt kill`` writes it); None: in memory only."""
    capital: float = math.nan
    """Account capital (quote currency), needed only by the concentration limits."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Shaping of the transitions handed to online learning (the env's reward terms)."""
    kept_rejects: int = 10_000
    """Rejected events kept in memory with their reason (all of them go to the audit log too)."""
    kept_shadow_decisions: int = 10_000
    explanation: ExplanationConfig | None = None
    vetoes: VetoRules | None = None
    """Rules that hold the champion's decisions for a person (``serving.safety.veto``); None: no gate."""
    exploration_budget: ExplorationBudgetConfig | None = field(default_factory=ExplorationBudgetConfig)
    """Per-strategy loss budget that guards the bandit's exploration; None: exploration unguarded."""
    """Explain the champion's decisions (``serving.safety.explain``); None: no explanations."""

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "market"):
            raise ValueError(f"clock: must be 'wall' or 'market', got {self.clock!r}")
        if self.max_feature_age <= timedelta(0):
            raise ValueError(f"max_feature_age: must be > 0, got {self.max_feature_age}")


class Verdict(NamedTuple):
    """What the risk controls made of a proposal: the target let through, the control that acted, the score."""

    target: float
    reason: str
    risk_score: float


class VetoNote(NamedTuple):
    """What the veto gate did to a champion decision."""

    hold: HoldReason | None
    vetoed: bool
    reason: str


NO_VETO = VetoNote(None, False, "")


class RejectedEvent(NamedTuple):
    received_ns: int
    reason: str
    detail: str
    payload: str


class TransitionSink(Protocol):
    """Where the champion's live transitions go for online learning (``models.agents.OnlineDDPG`` is one).

    ``observe`` only stages the transition (the learner trains off the decision path, rate-bounded); the
    action is the executed ``[target, entry_factor, exit_factor]``, in the env's action units.
    """

    def observe(self, obs: Any, action: Any, reward: float, next_obs: Any, done: bool) -> None: ...
