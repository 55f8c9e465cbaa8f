"""Guarded exploration: epsilon-greedy exploration only while a strategy's loss budget lasts.

Each strategy (bandit arm) has a budget in bps of the symbol's maximum notional, the unit of the bandit's
reward (``serving.decision.broker.StepResult.net_bps``). One rule, applied on every outcome ``record``ed:

    budget -= max(0, -pnl_bps)                       an exploratory decision's loss (greedy losses never count)
    budget += replenish_share * max(0, pnl_bps)      any decision of the strategy, capped at ``max_budget_bps``

``RiskBudgetGuard.allow`` is the bandit's ``ExplorationGuard``: ``LinUCB.select`` asks it which arms the
exploratory draw may pick, so an arm whose budget is spent is never explored, and the logged propensities
(``Choice.propensities``) give it no exploration share.

The invariant. Book-keeping alone gives ``spent = initial + replenished - remaining`` at every step, with
``replenished`` the credited (capped) part. The guard admits an exploration of an arm only while

    remaining - worst_loss_bps * (open explorations of the arm) > worst_loss_bps,

and an exploration stays open from ``reserve`` (its order went out) to ``record`` (its outcome came back).
When no single decision loses more than ``worst_loss_bps`` (set it to the per-decision loss bound the risk
limits enforce), ``remaining`` therefore never drops to zero, so exploration losses stay below
``initial + replenished``, also with several symbols' explorations in flight at once. With
``worst_loss_bps = 0`` the guard allows exploration while ``remaining > 0``, and the last exploration may
overshoot by its own loss (the budget then goes negative, and replenishment must repay it first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplorationBudgetConfig:
    """The loss budget every strategy gets for exploration (see the module docstring for the rule)."""

    initial_budget_bps: float = 50.0
    """Budget each strategy starts with, in bps of the maximum notional."""
    max_budget_bps: float = 100.0
    """Replenishment stops here."""
    replenish_share: float = 0.1
    """Fraction of every positive outcome of the strategy (exploratory or greedy) credited back."""
    worst_loss_bps: float = 0.0
    """Largest loss one decision can take; reserved per open exploration. 0: no reserve (may overshoot)."""

    def __post_init__(self) -> None:
        owner = "ExplorationBudgetConfig"
        for name in ("initial_budget_bps", "max_budget_bps", "replenish_share", "worst_loss_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{owner}.{name}: must be a finite number >= 0, got {value}")
        if self.initial_budget_bps > self.max_budget_bps:
            raise ValueError(
                f"{owner}.initial_budget_bps: must be <= max_budget_bps ({self.max_budget_bps}), "
                f"got {self.initial_budget_bps}"
            )
        if self.replenish_share > 1.0:
            raise ValueError(f"{owner}.replenish_share: must lie in [0, 1], got {self.replenish_share}")


@dataclass(frozen=True, kw_only=True, slots=True)
class BudgetUpdate:
    """One outcome folded into an arm's budget: what the audit trail keeps (kind ``exploration_budget``)."""

    arm: str
    pnl_bps: float
    explored: bool
    spent_bps: float
    """Taken from the budget by this outcome (its loss, when exploratory)."""
    replenished_bps: float
    """Credited by this outcome (after the cap)."""
    remaining_bps: float
    """The arm's budget afterwards."""
    allowed: bool
    """Whether the arm may be explored afterwards."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "pnl_bps": self.pnl_bps,
            "explored": self.explored,
            "spent_bps": self.spent_bps,
            "replenished_bps": self.replenished_bps,
            "remaining_bps": self.remaining_bps,
            "allowed": self.allowed,
        }


@dataclass(slots=True)
class _ArmBudget:
    remaining: float
    spent: float = 0.0
    replenished: float = 0.0
    explorations: int = 0
    """Exploratory outcomes recorded."""
    open: int = 0
    """Explorations reserved whose outcome has not been recorded yet."""


class RiskBudgetGuard:
    """Per-strategy exploration loss budgets; an ``ExplorationGuard`` for ``models.bandit.LinUCB``.

    The engine's calls, per decision of the bandit (the champion's; shadows never execute):
    ``reserve(arm)`` when an exploratory choice's order is submitted, ``record(arm, pnl_bps, explored=...)``
    when its outcome (the bandit's reward) arrives, ``release(arm)`` when a reserved exploration is dropped
    without an outcome (held, denied, vetoed). Not thread-safe: the engine calls it under its lock.
    """

    def __init__(self, arms: Sequence[str], config: ExplorationBudgetConfig | None = None) -> None:
        self.config = config or ExplorationBudgetConfig()
        self.arms = tuple(arms)
        if not self.arms or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms: must be non-empty and unique, got {self.arms!r}")
        self._budgets = {arm: _ArmBudget(remaining=self.config.initial_budget_bps) for arm in self.arms}
        self._allowed: tuple[bool, ...] | None = None
        """``allowed(self.arms)`` until a budget changes (None: to be computed)."""

    def allow(self, arm: str) -> bool:
        """Whether ``arm`` may be chosen by exploration now (the module docstring's condition)."""
        budget, reserve = self._budget(arm), self.config.worst_loss_bps
        return budget.remaining - reserve * budget.open > reserve

    def allowed(self, arms: Sequence[str]) -> Sequence[bool]:
        """``allow`` of each of ``arms`` in one call: ``LinUCB.select`` asks about every arm on every decision.

        For the guard's own arms (the bandit's) the answer is kept until the next ``reserve``, ``release``,
        ``record`` or ``load_state_dict``, the only calls that change a budget.
        """
        if arms != self.arms:
            return self._allow_each(arms)
        cached = self._allowed
        if cached is None:
            cached = self._allowed = tuple(self._allow_each(self.arms))
        return cached

    def _allow_each(self, arms: Sequence[str]) -> list[bool]:
        reserve, budgets = self.config.worst_loss_bps, self._budgets
        try:
            return [budgets[arm].remaining - reserve * budgets[arm].open > reserve for arm in arms]
        except KeyError:
            for arm in arms:
                self._budget(arm)  # raises the KeyError naming the unknown arm
            raise

    def reserve(self, arm: str) -> None:
        """An exploratory decision of ``arm`` was executed: hold ``worst_loss_bps`` until its ``record``."""
        self._budget(arm).open += 1
        self._allowed = None

    def release(self, arm: str) -> None:
        """A reserved exploration ends without an outcome (nothing traded): its reserve goes back."""
        budget = self._budget(arm)
        if budget.open == 0:
            raise ValueError(f"arm: {arm!r} has no open exploration to release")
        budget.open -= 1
        self._allowed = None

    def record(self, arm: str, pnl_bps: float, *, explored: bool) -> BudgetUpdate:
        """Fold one outcome of ``arm`` into its budget (the rule in the module docstring)."""
        if not math.isfinite(pnl_bps):
            raise ValueError(f"pnl_bps: must be finite, got {pnl_bps}")
        budget = self._budget(arm)
        self._allowed = None
        spent = max(0.0, -pnl_bps) if explored else 0.0
        budget.remaining -= spent
        headroom = max(0.0, self.config.max_budget_bps - budget.remaining)
        credited = min(headroom, self.config.replenish_share * max(0.0, pnl_bps))
        budget.remaining += credited
        budget.spent += spent
        budget.replenished += credited
        if explored:
            budget.explorations += 1
            budget.open = max(0, budget.open - 1)
        return BudgetUpdate(
            arm=arm,
            pnl_bps=pnl_bps,
            explored=explored,
            spent_bps=spent,
            replenished_bps=credited,
            remaining_bps=budget.remaining,
            allowed=self.allow(arm),
        )

    def status(self) -> dict[str, dict[str, Any]]:
        """Per arm: remaining, spent and replenished bps, exploratory outcomes, open explorations, allowed."""
        return {
            arm: {
                "remaining_bps": b.remaining,
                "spent_bps": b.spent,
                "replenished_bps": b.replenished,
                "exploratory_decisions": b.explorations,
                "open_explorations": b.open,
                "allowed": self.allow(arm),
            }
            for arm, b in self._budgets.items()
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to carry the budgets over a restart or hot-swap (JSON-serialisable)."""
        return {
            "version": STATE_VERSION,
            "arms": list(self.arms),
            "budgets": {
                arm: {
                    "remaining": b.remaining,
                    "spent": b.spent,
                    "replenished": b.replenished,
                    "explorations": b.explorations,
                    "open": b.open,
                }
                for arm, b in self._budgets.items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict`` written for the same arms; raises ``ValueError`` on anything else."""
        if state.get("version") != STATE_VERSION or list(state.get("arms", ())) != list(self.arms):
            raise ValueError(f"state: written for version {state.get('version')} arms {state.get('arms')}")
        self._budgets = {arm: _arm_from(arm, state["budgets"][arm]) for arm in self.arms}
        self._allowed = None

    def _budget(self, arm: str) -> _ArmBudget:
        budget = self._budgets.get(arm)
        if budget is None:
            raise KeyError(f"arm: unknown arm {arm!r}, arms are {self.arms}")
        return budget


def _arm_from(arm: str, raw: Mapping[str, Any]) -> _ArmBudget:
    budget = _ArmBudget(
        remaining=float(raw["remaining"]),
        spent=float(raw["spent"]),
        replenished=float(raw["replenished"]),
        explorations=int(raw["explorations"]),
        open=int(raw["open"]),
    )
    numbers = (budget.remaining, budget.spent, budget.replenished)
    if not all(math.isfinite(v) for v in numbers) or min(budget.spent, budget.replenished) < 0.0:
        raise ValueError(f"state: {arm}: budgets must be finite and spent/replenished >= 0, got {dict(raw)}")
    if budget.explorations < 0 or budget.open < 0:
        raise ValueError(f"state: {arm}: counts must be >= 0, got {dict(raw)}")
    return budget
