"""Frozen, keyword-only configs of the trading environment: execution costs, reward coefficients, episodes.

Every field is validated in ``__post_init__`` and an error names the field, so a bad value fails at the
boundary rather than as a strange reward deep inside training. Units: positions are fractions of the
maximum position (the env never needs the absolute size, serving multiplies by it); rewards are in
``reward_scale`` units of the maximum notional at the episode's first bar (1e4: basis points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def check_number(owner: object, name: str, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``owner.name`` is a finite real number in the range."""
    value = getattr(owner, name)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    # NaN fails every comparison, so it is refused along with values out of range.
    above = is_number and (value > low if open_low else value >= low)
    if is_number and above and value <= high and math.isfinite(value):
        return
    bracket = "(" if open_low else "["
    raise ValueError(f"{name}: must be a finite number in {bracket}{low}, {high}], got {value!r}")


def check_int(owner: object, name: str, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``owner.name`` is an int in ``[low, high]``."""
    value = getattr(owner, name)
    if isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high):
        return
    upper = "inf" if high is None else str(high)
    raise ValueError(f"{name}: must be an int in [{low}, {upper}], got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionConfig:
    """How orders fill: fees, slippage, the quote to use when the data has no bid and ask."""

    fee_bps: float = 2.0
    """Fee on every fill, in basis points of the filled notional (a typical taker fee of a crypto venue)."""
    impact_bps: float = 5.0
    """Slippage, in bps of price, of a fill of the full maximum position; linear in the filled fraction."""
    volatility_slippage: float = 0.1
    """Slippage, in bps of price, per bp of the decision bar's ``ewma_vol``: fills slip more in turbulence."""
    fallback_spread_bps: float = 1.0
    """Spread assumed around the close where the data has no quote (bars without bid/ask, e.g. BTC-PERP)."""
    min_trade: float = 0.01
    """Smallest change of position (fraction of the maximum) sent as an order; smaller changes are ignored."""

    def __post_init__(self) -> None:
        check_number(self, "fee_bps", 0.0, 1_000.0)
        check_number(self, "impact_bps", 0.0, 1_000.0)
        check_number(self, "volatility_slippage", 0.0, 100.0)
        check_number(self, "fallback_spread_bps", 0.0, 1_000.0)
        check_number(self, "min_trade", 0.0, 1.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class RewardConfig:
    """Reward = PnL - risk penalty - transaction costs - time decay, per step (see ``models.env.reward``)."""

    reward_scale: float = 1e4
    """Multiplier on PnL and costs, which are first divided by the maximum notional (1e4: basis points)."""
    inventory_penalty: float = 0.5
    """Penalty per step of ``inventory_penalty * position**2`` (reward units): the cost of carrying inventory."""
    volatility_penalty: float = 0.05
    """Penalty per step of ``volatility_penalty * |position| * ewma_vol_bps`` at the decision bar."""
    time_decay: float = 0.1
    """Penalty per step of ``time_decay * |position|`` while a position is open (reward units)."""

    def __post_init__(self) -> None:
        check_number(self, "reward_scale", 0.0, 1e9, open_low=True)
        check_number(self, "inventory_penalty", 0.0, 1e6)
        check_number(self, "volatility_penalty", 0.0, 1e6)
        check_number(self, "time_decay", 0.0, 1e6)


@dataclass(frozen=True, kw_only=True, slots=True)
class TradingEnvConfig:
    """The environment: episode windows, observation clipping, execution and reward."""

    episode_length: int = 1_000
    """Decisions per episode; an episode is a random window of this many consecutive bars (then truncated)."""
    observation_clip: float = 10.0
    """Scaled features and the unrealized return are clipped to +-this, so a data spike cannot blow up a net."""
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        check_int(self, "episode_length", 1)
        check_number(self, "observation_clip", 0.0, 1e6, open_low=True)
        if not isinstance(self.execution, ExecutionConfig):
            raise ValueError(f"execution: must be an ExecutionConfig, got {type(self.execution).__name__}")
        if not isinstance(self.reward, RewardConfig):
            raise ValueError(f"reward: must be a RewardConfig, got {type(self.reward).__name__}")
