"""Inventory-aware market making around the microprice, after Avellaneda and Stoikov (2008).

M. Avellaneda and S. Stoikov, "High-frequency trading in a limit order book", Quantitative Finance
8(3), 2008. A market maker with exponential utility (risk aversion gamma) facing fills whose intensity
decays as ``A exp(-k delta)`` in the distance ``delta`` from the reference price quotes

    reservation price   r     = s - q gamma sigma^2 (T - t)
    total spread        d_a + d_b = gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)

symmetrically around ``r``. Here ``s`` is the microprice (Stoikov 2018 shows it predicts the next mid
better than the mid itself), ``q`` the inventory as a fraction of the maximum position, ``sigma`` the
per-event volatility and ``T - t`` a fixed rolling horizon of ``horizon_events`` (the stationary reading
used in practice, since a stream has no terminal time). Everything is in basis points of the mid, so a
long inventory shifts both quotes down: it sells more readily and buys less readily.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.strategies.base import (
    FeatureReader,
    JSONScalar,
    Quotes,
    Signal,
    StateDict,
    cached_inactive,
    check_name,
    check_positive,
    check_state,
    state_float,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketMakingConfig:
    """Avellaneda-Stoikov parameters in basis-point units."""

    name: str = "market_making"
    microprice_feature: str = "microprice_offset_bps"
    """The reference price ``s``, as an offset from the mid in bps."""
    spread_feature: str = "spread_bps"
    """The quoted market spread; 0 means no two-sided book, and the strategy stays out."""
    vol_feature: str = "rvol_15"
    """Per-event volatility of the log price; times 1e4 it is ``sigma`` in bps."""
    risk_aversion: float = 0.01
    """gamma, per bp: how strongly inventory risk shifts and widens the quotes."""
    horizon_events: float = 10.0
    """T - t, in events: the horizon over which inventory risk is counted."""
    fill_decay: float = 0.5
    """k, per bp: fill intensity falls as ``exp(-k delta)`` with the distance from the reference price."""
    min_half_spread_bps: float = 0.5
    """Floor on each quote's distance from the reservation price."""
    max_inventory: float = 1.0
    """At ``|q| >= max_inventory`` the side that would add to the inventory is withdrawn."""

    def __post_init__(self) -> None:
        owner = "MarketMakingConfig"
        check_name(owner, self.name)
        check_positive(
            owner,
            risk_aversion=self.risk_aversion,
            horizon_events=self.horizon_events,
            fill_decay=self.fill_decay,
            min_half_spread_bps=self.min_half_spread_bps,
            max_inventory=self.max_inventory,
        )
        if self.max_inventory > 1.0:
            raise ValueError(f"{owner}.max_inventory: must be <= 1 (a fraction of the maximum position)")


class MarketMaking:
    """Quotes both sides around an inventory-shifted microprice; its state is the inventory it holds.

    The strategy has no directional view, so its ``target_position`` is 0: the skewed quotes, not a
    market order, work the inventory back to flat. Fills come back through ``on_fill``.
    """

    def __init__(self, config: MarketMakingConfig | None = None) -> None:
        self.config = config or MarketMakingConfig()
        self.inventory = 0.0
        self._prepare(self.config)

    def _prepare(self, c: MarketMakingConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        self._read = FeatureReader(c.name, c.microprice_feature, c.spread_feature, c.vol_feature)
        self._fill_spread = (2.0 / c.risk_aversion) * math.log1p(c.risk_aversion / c.fill_decay)
        """The inventory-free part of the total spread, ``(2 / gamma) ln(1 + gamma / k)``."""
        self._inactive: dict[str, Signal] = {}
        self._prepared_for = c

    @property
    def name(self) -> str:
        return self.config.name

    def on_fill(self, quantity: float) -> None:
        """Book a fill: ``quantity`` is signed (bought positive), a fraction of the maximum position."""
        if not math.isfinite(quantity):
            raise ValueError(f"quantity: must be finite, got {quantity}")
        self.inventory += quantity

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        (micro, spread, vol), warm = self._read(features)
        if warm is not None:
            return warm
        if spread <= 0.0:
            reason = f"{c.spread_feature} is {spread:g}: no two-sided book to quote into"
            return cached_inactive(self._inactive, c.name, reason)
        reservation, half = self.reservation_and_half_spread(micro, vol * 1e4)
        q = self.inventory
        bid = reservation - half if q < c.max_inventory else None
        ask = reservation + half if q > -c.max_inventory else None
        withdrawn = "" if bid is not None and ask is not None else f"; inventory {q:+.3f} at its limit, one side off"
        reason = f"quoting around reservation {reservation:+.3f} bps (microprice {micro:+.3f}, q {q:+.3f}){withdrawn}"
        quotes = Quotes(bid_offset_bps=bid, ask_offset_bps=ask)
        return Signal(strategy=c.name, target_position=0.0, active=True, reason=reason, quotes=quotes)

    def reservation_and_half_spread(self, microprice_bps: float, sigma_bps: float) -> tuple[float, float]:
        """Avellaneda-Stoikov reservation price and half-spread, in bps of the mid, at the current inventory."""
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        inventory_risk = c.risk_aversion * sigma_bps**2 * c.horizon_events
        reservation = microprice_bps - self.inventory * inventory_risk
        spread = inventory_risk + self._fill_spread
        return reservation, max(c.min_half_spread_bps, spread / 2.0)

    def reset(self) -> None:
        self.inventory = 0.0

    def state_dict(self) -> StateDict:
        return {"inventory": self.inventory}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        check_state(self.name, state, ("inventory",))
        self.inventory = state_float(self.name, state, "inventory")
