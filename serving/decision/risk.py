"""First cut of the pre-trade risk monitor on the decision path: position cap, daily loss limit, kill switch.

Trading states follow nautilus_trader: ACTIVE (everything passes the controls), REDUCING (only orders
that bring a position towards zero pass), HALTED (nothing but cancels). Every state change is kept
as an event with its cause. A breach of the daily loss limit moves ACTIVE to REDUCING; the kill switch
moves to HALTED. Only a person (``resume``) brings the state back to ACTIVE.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskConfig:
    max_position: float = 1.0
    """Largest absolute position per symbol, as a fraction of the maximum position."""
    daily_loss_limit: float = 5_000.0
    """Loss (quote currency, all symbols) since the start of the UTC day that moves trading to REDUCING."""
    max_gross_exposure: float = math.inf
    """Largest sum of absolute positions over all symbols, in full positions."""

    def __post_init__(self) -> None:
        if not 0.0 < self.max_position <= 1.0:
            raise ValueError(f"max_position: must lie in (0, 1], got {self.max_position}")
        if not self.daily_loss_limit > 0.0:
            raise ValueError(f"daily_loss_limit: must be > 0, got {self.daily_loss_limit}")
        if not self.max_gross_exposure > 0.0:
            raise ValueError(f"max_gross_exposure: must be > 0, got {self.max_gross_exposure}")


class StateChange(NamedTuple):
    timestamp_ns: int
    previous: TradingState
    state: TradingState
    cause: str


class RiskVerdict(NamedTuple):
    target: float
    """The target position the controls let through (the current position when denied)."""
    reason: str
    """Empty when the order passed unchanged; else the control that cut or denied it."""
    risk_score: float


class RiskMonitor:
    """Pre-trade controls applied to every target before it becomes an order."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self.state = TradingState.ACTIVE
        self.changes: list[StateChange] = []

    def kill(self, cause: str) -> None:
        """The kill switch: HALTED until a person resumes."""
        self._move(TradingState.HALTED, f"kill switch: {cause}")

    def resume(self, cause: str) -> None:
        """A person's decision to trade again."""
        self._move(TradingState.ACTIVE, f"resumed: {cause}")

    def check(self, *, position: float, target: float, daily_pnl: float, gross_exposure: float) -> RiskVerdict:
        """The target allowed for one symbol given its position and the portfolio's state."""
        cfg = self.config
        if self.state is TradingState.ACTIVE and daily_pnl <= -cfg.daily_loss_limit:
            self._move(TradingState.REDUCING, f"daily loss {-daily_pnl:.2f} reached the limit {cfg.daily_loss_limit}")
        reason = ""
        allowed = max(-cfg.max_position, min(cfg.max_position, target))
        if allowed != target:
            reason = "max_position"
        if self.state is TradingState.HALTED:
            allowed, reason = position, "halted"
        elif self.state is TradingState.REDUCING and not _reduces(position, allowed):
            allowed, reason = (0.0 if position * allowed < 0.0 else position), "reducing_only"
        gross_after = gross_exposure - abs(position) + abs(allowed)
        if gross_after > cfg.max_gross_exposure and abs(allowed) > abs(position):
            room = max(0.0, cfg.max_gross_exposure - (gross_exposure - abs(position)))
            allowed, reason = math.copysign(min(abs(allowed), room), allowed), "max_gross_exposure"
        loss_use = max(0.0, -daily_pnl) / cfg.daily_loss_limit
        score = max(abs(allowed) / cfg.max_position, loss_use, gross_after / cfg.max_gross_exposure)
        return RiskVerdict(allowed, reason, min(1.0, score))

    def _move(self, state: TradingState, cause: str) -> None:
        if state is not self.state:
            self.changes.append(StateChange(time.time_ns(), self.state, state, cause))
            self.state = state


def _reduces(position: float, target: float) -> bool:
    """True when ``target`` is no further from zero than ``position`` on the same side (or flat)."""
    return target == 0.0 or (position * target > 0.0 and abs(target) <= abs(position))
