"""Action interpreter and fill model: an action at the close of bar t becomes limit orders filled in bar t+1.

The action (the seed's) is ``[size, entry_factor, exit_factor]``:

- ``size`` in [-1, 1]: the target position as a fraction of the maximum position; shorts allowed.
- ``entry_factor``, ``exit_factor`` in [0, 1]: how aggressive the limit price is inside the spread of bar t,
  for the order leg that opens (or adds to) a position and the leg that reduces one::

      buy  limit = bid + factor * (ask - bid)      0: join the bid (passive), 1: pay the ask (cross)
      sell limit = ask - factor * (ask - bid)      0: join the ask (passive), 1: hit the bid (cross)

The change of position ``target - position`` is split into an exit leg (towards zero, at most the open
position, priced with ``exit_factor``) and an entry leg (the rest, priced with ``entry_factor``); a flip from
long to short is both. Changes smaller than ``min_trade`` are not sent. Out-of-range actions are clipped to
the bounds; a non-finite action raises.

A leg fills whole, or not at all, if its limit reaches bar t+1's range: a buy when ``limit >= low[t+1]``, a
sell when ``limit <= high[t+1]``. It fills at the limit moved against the order by slippage,
``impact_bps * |qty| + volatility_slippage * ewma_vol_bps[t]`` (in bps, so larger orders and turbulent markets
cost more), and pays ``fee_bps`` on the filled notional. No price improvement is assumed: conservative.

Everything here works on Python floats: one env step calls these a few times, and numpy scalars would
cost more than the arithmetic.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from models.env.config import ExecutionConfig

# A leg left after splitting this close to zero is float round-off, not an order.
_ROUND_OFF = 1e-12


class Orders(NamedTuple):
    """An interpreted action: the target and the two legs that move the position towards it."""

    target: float
    exit_qty: float
    exit_factor: float
    entry_qty: float
    entry_factor: float


class LegFill(NamedTuple):
    """Outcome of one leg: ``qty`` is 0 when it did not fill (then ``price`` is the unfilled limit)."""

    qty: float
    limit: float
    price: float
    fee: float


NO_FILL = LegFill(0.0, 0.0, 0.0, 0.0)


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class ActionInterpreter:
    """Turns an action vector and the current position into ``Orders`` (see the module docstring)."""

    def __init__(self, min_trade: float) -> None:
        self.min_trade = min_trade

    def interpret(self, action: npt.ArrayLike, position: float) -> Orders:
        # The decision path calls this twice per decision with a plain tuple: it skips the numpy round trip
        # (np.asarray(...).tolist() cost ~1 us of the ~2); float() below gives the same values either way.
        if isinstance(action, tuple):
            values = list(action)
        else:
            values = action.tolist() if isinstance(action, np.ndarray) else list(np.asarray(action).tolist())
        if len(values) != 3:
            raise ValueError(f"action: expected [size, entry_factor, exit_factor], got {len(values)} values")
        size, entry, exit_ = values
        if not (math.isfinite(size) and math.isfinite(entry) and math.isfinite(exit_)):
            # a diverged policy must surface as an error, not trade as if it had chosen a bound
            raise ValueError(f"action: must be finite, got {values}")
        target = _clip(float(size), -1.0, 1.0)
        entry_factor = _clip(float(entry), 0.0, 1.0)
        exit_factor = _clip(float(exit_), 0.0, 1.0)
        exit_qty, entry_qty = self.split(position, target)
        return Orders(target, exit_qty, exit_factor, entry_qty, entry_factor)

    def split(self, position: float, target: float) -> tuple[float, float]:
        """``(exit_qty, entry_qty)`` with ``position + exit_qty + entry_qty == target``."""
        delta = target - position
        if abs(delta) < self.min_trade or delta == 0.0:
            return 0.0, 0.0
        if position * delta >= 0.0:
            return 0.0, delta
        exit_qty = -position if abs(delta) >= abs(position) else delta
        entry_qty = delta - exit_qty
        return exit_qty, (0.0 if abs(entry_qty) <= _ROUND_OFF else entry_qty)


class ExecutionModel:
    """Fills legs against the next bar's range, with slippage and fees (see the module docstring)."""

    def __init__(self, config: ExecutionConfig) -> None:
        self.fee_rate = config.fee_bps * 1e-4
        self.impact = config.impact_bps * 1e-4
        self.volatility_slippage = config.volatility_slippage
        self.fallback_half_spread = config.fallback_spread_bps * 1e-4 / 2.0

    @staticmethod
    def limit_price(qty: float, factor: float, bid: float, ask: float) -> float:
        """The limit price of a buy (``qty > 0``) or sell inside the spread ``[bid, ask]``."""
        if qty > 0.0:
            return bid + factor * (ask - bid)
        return ask - factor * (ask - bid)

    def slippage(self, qty: float, volatility: float) -> float:
        """Fraction of price a fill of ``qty`` slips when the per-bar volatility is ``volatility``."""
        # volatility is a per-bar log-return std; in bps it is volatility * 1e4, times the coefficient, then
        # back to a fraction with 1e-4: the two factors cancel.
        return self.impact * abs(qty) + self.volatility_slippage * volatility

    def fill(
        self, qty: float, factor: float, bid: float, ask: float, next_low: float, next_high: float, volatility: float
    ) -> LegFill:
        if qty == 0.0:
            return NO_FILL
        limit = self.limit_price(qty, factor, bid, ask)
        reached = limit >= next_low if qty > 0.0 else limit <= next_high
        if not reached:
            return LegFill(0.0, limit, limit, 0.0)
        slip = self.slippage(qty, volatility)
        price = limit * (1.0 + slip) if qty > 0.0 else limit * (1.0 - slip)
        return LegFill(qty, limit, price, abs(qty) * price * self.fee_rate)

    def quotes(
        self, close: npt.NDArray[np.float64], bid: npt.NDArray[np.float64], ask: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Bid and ask per row; rows without a sane quote get ``fallback_spread_bps`` around the close."""
        with np.errstate(invalid="ignore"):
            sane = np.isfinite(bid) & np.isfinite(ask) & (bid > 0.0) & (bid <= ask)
        half = self.fallback_half_spread
        return np.where(sane, bid, close * (1.0 - half)), np.where(sane, ask, close * (1.0 + half))
