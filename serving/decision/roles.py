"""The policies an engine runs on every event: the champion (executed) and its shadows (recorded, scored).

A ``Role`` is one policy with its own broker and risk book. A shadow decides on the same input as the
champion, on its own simulated fills, and is scored against it: paired PnL per event, agreement of the
actions, and an off-policy log (``serving.lifecycle.comparison`` reads ``LOGGED_COLUMNS``) of every champion
decision whose outcome trains the champion's bandit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from serving.decision.broker import PaperBroker, StepResult
from serving.decision.policy import BundlePolicy
from serving.decision.records import Decision
from serving.safety.risk_controls import PreTradeRisk

LOGGED_COLUMNS = ("chosen_arm", "propensity", "reward_bps", "target_propensities", "reward_model_bps")
"""The order of a ``Role.logged`` row (``serving.lifecycle.comparison.LOGGED_COLUMNS``)."""


@dataclass(slots=True)
class Role:
    name: str
    policy: BundlePolicy
    broker: PaperBroker
    risk: PreTradeRisk
    decisions: int = 0
    peak_equity: float = 0.0
    agreements: int = 0
    paired_bps: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=100_000))
    recent: deque[Decision] = field(default_factory=lambda: deque(maxlen=10_000))
    logged: deque[tuple[int, float, float, tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=lambda: deque(maxlen=100_000)
    )
    """A shadow's off-policy log against the champion, one row per champion decision that trained the champion's
    bandit: (its arm, that arm's propensity, the reward in bps, this shadow's probability of every arm at the same
    event, the champion bandit's ridge estimate of every arm's reward then)."""
    ope_pending: dict[str, tuple[int, float, tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    """symbol -> the row above without its reward, until the symbol's next event brings it."""

    def forget_champion(self) -> None:
        """The pairs and logs compared this shadow with a champion that just left."""
        self.paired_bps.clear()
        self.logged.clear()
        self.ope_pending.clear()


def complete_log(role: Role, symbol: str, reward_bps: float) -> None:
    """The champion's outcome on ``symbol`` completes the shadow's pending off-policy row."""
    pending = role.ope_pending.pop(symbol, None)
    if pending is not None:
        arm, propensity, target, estimates = pending
        role.logged.append((arm, propensity, reward_bps, target, estimates))


def score_shadow(
    role: Role, champion_step: StepResult, step: StepResult, decision: Decision, champion: Decision
) -> None:
    role.agreements += int(decision.action is champion.action)
    role.paired_bps.append((champion_step.net_bps, step.net_bps))
    role.recent.append(decision)


def log_for_shadows(champion_role: Role, symbol: str, champion: Decision, shadows: list[Role]) -> None:
    """What off-policy evaluation needs from this event, when its outcome will train the champion's bandit.

    Every policy proposed at this event when the champion did (the hold is shared), so each shadow's
    ``last_choice`` is of this event. The reward model is the champion bandit's ridge estimate, fitted on
    the logged outcomes before this decision only.
    """
    pending = champion_role.policy.pending_choice(symbol)
    if pending is None or not shadows:
        return
    arm, context = pending
    estimates = tuple((champion_role.policy.bandit.theta @ context).tolist())
    for role in shadows:
        choice = role.policy.last_choice.get(symbol)
        if choice is not None:
            role.ope_pending[symbol] = (arm, champion.propensity, choice.propensities, estimates)


def shadow_metrics(shadows: dict[str, Role]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, role in shadows.items():
        champion_equity = sum(c for c, _ in role.paired_bps)
        shadow_equity = sum(s for _, s in role.paired_bps)
        out[name] = {
            "versions": dict(role.policy.bundle.versions),
            "decisions": role.decisions,
            "agreement_rate": role.agreements / role.decisions if role.decisions else math.nan,
            "delta_pnl_bps": shadow_equity - champion_equity,
            "shadow_pnl": role.broker.equity(),
            "shadow_positions": {s: p["position"] for s, p in role.broker.positions().items()},
        }
    return out


def shadow_paired(champion: Role, role: Role | None) -> dict[str, Any]:
    """The shadow's paired PnL and off-policy log (``serving.lifecycle.comparison`` reads the columns)."""
    versions = dict(champion.policy.bundle.versions)
    if role is None:
        return {"versions": None, "champion_versions": versions, "champion_bps": [], "challenger_bps": []}
    rows = list(role.logged)
    return {
        "versions": dict(role.policy.bundle.versions),
        "champion_versions": versions,
        "champion_bps": [c for c, _ in role.paired_bps],
        "challenger_bps": [s for _, s in role.paired_bps],
        "logged": {
            "arms": list(champion.policy.arms),
            **{column: [row[i] for row in rows] for i, column in enumerate(LOGGED_COLUMNS)},
        },
    }
