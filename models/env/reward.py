"""Reward: PnL minus risk penalty minus transaction costs minus time decay, for one step from bar t to t+1.

With ``p0`` the position before the step, ``q`` the filled quantity (both legs), ``mid`` the mid of bar t,
``c0``/``c1`` the closes of bars t and t+1 and ``N`` the maximum notional (the close at the episode's first
bar, positions being fractions of the maximum)::

    pnl        = p0 (c1 - c0) + q (c1 - mid)                   market PnL, as if filled at the mid
    cost       = sum over legs [q_leg (price_leg - mid) + fee]  spread crossing + slippage + fees;
                                                               negative when a passive fill earns the spread
    risk       = inventory_penalty p1^2 + volatility_penalty |p1| ewma_vol_bps[t]
    decay      = time_decay |p1|                               p1 = p0 + q, the position held into bar t+1
    reward     = (pnl - cost) reward_scale / N - risk - decay

``pnl - cost`` is exactly the change of mark-to-market equity (cash + position * close), so the reward is
the equity change in basis points of the maximum notional (``reward_scale`` 1e4) less the two penalties.
"""

from __future__ import annotations

from typing import NamedTuple

from models.env.config import RewardConfig
from models.env.execution import LegFill


class RewardParts(NamedTuple):
    """A step's reward and its terms, all in reward units (``pnl - cost - risk - decay == reward``)."""

    reward: float
    pnl: float
    cost: float
    risk: float
    decay: float


class RewardModel:
    """Scores a step; holds the coefficients as plain floats for the hot path."""

    def __init__(self, config: RewardConfig) -> None:
        self.scale = config.reward_scale
        self.inventory_penalty = config.inventory_penalty
        # the volatility enters in bps (ewma_vol * 1e4)
        self.volatility_penalty = config.volatility_penalty * 1e4
        self.time_decay = config.time_decay

    def score(
        self,
        *,
        position_before: float,
        fills: tuple[LegFill, LegFill],
        mid: float,
        close_before: float,
        close_after: float,
        volatility: float,
        notional: float,
    ) -> RewardParts:
        exit_leg, entry_leg = fills
        traded = exit_leg.qty + entry_leg.qty
        pnl = position_before * (close_after - close_before) + traded * (close_after - mid)
        cost = (
            exit_leg.qty * (exit_leg.price - mid)
            + exit_leg.fee
            + entry_leg.qty * (entry_leg.price - mid)
            + entry_leg.fee
        )
        held = abs(position_before + traded)
        risk = self.inventory_penalty * held * held + self.volatility_penalty * held * volatility
        decay = self.time_decay * held
        unit = self.scale / notional
        pnl_units, cost_units = pnl * unit, cost * unit
        return RewardParts(pnl_units - cost_units - risk - decay, pnl_units, cost_units, risk, decay)
