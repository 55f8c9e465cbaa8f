"""Two-leg arms: pairs (statistical arbitrage across two symbols) and cross-venue arbitrage (one asset, two venues).

Both express their target as a position in the spread: +1 is long the first leg and short the second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.strategies.base import (
    FeatureReader,
    JSONScalar,
    Signal,
    StateDict,
    check_name,
    check_positive,
    check_state,
    hysteresis_side,
    inactive,
    state_int,
)

_SIDES = range(-1, 2)
_SPREAD_WORDS = {1: "long spread", -1: "short spread", 0: "flat"}
_NO_QUOTES = (math.nan,) * 4
"""The value of each of the four venue quote keys absent from the mapping."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PairsConfig:
    """Distance/z-score pairs trading (Gatev, Goetzmann and Rouwenhorst 2006) on the log-price spread."""

    name: str = "pairs"
    spread_z_feature: str = "pair_spread_z_60"
    """z-score of ``log(close_a / close_b)``; high means the first leg is rich."""
    corr_feature: str = "pair_corr_60"
    entry_z: float = 2.0
    exit_z: float = 0.5
    stop_z: float = 4.0
    """A spread this stretched means the relationship broke: exit, and stay out until |z| < entry_z."""
    min_corr: float = 0.5
    """Return correlation required to enter and to stay in."""
    position: float = 1.0

    def __post_init__(self) -> None:
        owner = "PairsConfig"
        check_name(owner, self.name)
        check_positive(owner, entry_z=self.entry_z, stop_z=self.stop_z, position=self.position)
        if not 0.0 <= self.exit_z < self.entry_z:
            raise ValueError(f"{owner}.exit_z: must lie in [0, entry_z={self.entry_z}), got {self.exit_z}")
        if self.stop_z <= self.entry_z:
            raise ValueError(f"{owner}.stop_z: must exceed entry_z={self.entry_z}, got {self.stop_z}")
        if not -1.0 <= self.min_corr <= 1.0:
            raise ValueError(f"{owner}.min_corr: must lie in [-1, 1], got {self.min_corr}")
        if self.position > 1.0:
            raise ValueError(f"{owner}.position: must be <= 1, got {self.position}")


class Pairs:
    """Shorts a rich spread and buys a cheap one, with entry/exit hysteresis and a stop that must re-arm."""

    def __init__(self, config: PairsConfig | None = None) -> None:
        self.config = config or PairsConfig()
        self.side = 0
        self.stopped = False
        self._prepare(self.config)

    def _prepare(self, c: PairsConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        self._read = FeatureReader(c.name, c.spread_z_feature, c.corr_feature)
        self._prepared_for = c

    @property
    def name(self) -> str:
        return self.config.name

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        (z, corr), warm = self._read(features)
        if warm is not None:
            return warm
        if self.side != 0 and (abs(z) >= c.stop_z or corr < c.min_corr):
            self.side, self.stopped = 0, True
            what = "stopped out: " + ("spread diverged" if abs(z) >= c.stop_z else "correlation broke down")
        elif self.stopped:
            self.stopped = abs(z) >= c.entry_z
            what = "stopped, waiting for |z| < entry" if self.stopped else "re-armed after a stop"
        else:
            what = self._step(z, corr)
        reason = f"{what}; {c.spread_z_feature}={z:+.3f}, {c.corr_feature}={corr:+.3f}"
        return Signal(strategy=c.name, target_position=self.side * c.position, active=True, reason=reason)

    def _step(self, z: float, corr: float) -> str:
        c = self.config
        # Contrarian on the spread: a high z-score (first leg rich) is a short spread.
        side = hysteresis_side(self.side, -z, c.entry_z, c.exit_z)
        if side not in (0, self.side) and (corr < c.min_corr or abs(z) >= c.stop_z):
            self.side = 0
            return "no entry: correlation too low or spread beyond the stop"
        self.side = side
        return _SPREAD_WORDS[side]

    def reset(self) -> None:
        self.side, self.stopped = 0, False

    def state_dict(self) -> StateDict:
        return {"side": self.side, "stopped": self.stopped}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        check_state(self.name, state, ("side", "stopped"))
        stopped = state["stopped"]
        if not isinstance(stopped, bool):
            raise ValueError(f"{self.name}: state stopped must be a bool, got {stopped!r}")
        self.side, self.stopped = state_int(self.name, state, "side", _SIDES), stopped


@dataclass(frozen=True, kw_only=True, slots=True)
class CrossVenueArbitrageConfig:
    """Buys on the cheap venue and sells on the rich one when the executable gap beats all costs."""

    name: str = "cross_venue_arbitrage"
    venues: tuple[str, str] = ("venue_a", "venue_b")
    """Prefixes of the quote keys read from the mapping: ``{venue}_bid`` and ``{venue}_ask`` (prices)."""
    fees_bps: tuple[float, float] = (5.0, 5.0)
    """Taker fee on each venue."""
    slippage_bps: float = 1.0
    """Expected slippage per leg."""
    min_edge_bps: float = 2.0
    """Net edge (gap minus fees and slippage) required."""
    full_edge_bps: float = 10.0
    """Net edge at which the target reaches a full position."""
    confirm_events: int = 2
    """Consecutive events the edge must persist in one direction: a one-event gap is usually a stale quote."""

    def __post_init__(self) -> None:
        owner = "CrossVenueArbitrageConfig"
        check_name(owner, self.name)
        if len(self.venues) != 2 or self.venues[0] == self.venues[1] or not all(self.venues):
            raise ValueError(f"{owner}.venues: must be two distinct names, got {self.venues!r}")
        if len(self.fees_bps) != 2 or not all(math.isfinite(f) and f >= 0.0 for f in self.fees_bps):
            raise ValueError(f"{owner}.fees_bps: must be two finite fees >= 0, got {self.fees_bps!r}")
        if not (math.isfinite(self.slippage_bps) and self.slippage_bps >= 0.0):
            raise ValueError(f"{owner}.slippage_bps: must be finite and >= 0, got {self.slippage_bps}")
        check_positive(owner, min_edge_bps=self.min_edge_bps, full_edge_bps=self.full_edge_bps)
        if self.full_edge_bps < self.min_edge_bps:
            raise ValueError(f"{owner}.full_edge_bps: must be >= min_edge_bps={self.min_edge_bps}")
        if self.confirm_events < 1:
            raise ValueError(f"{owner}.confirm_events: must be >= 1, got {self.confirm_events}")

    @property
    def quote_keys(self) -> tuple[str, str, str, str]:
        """Bid and ask of the first venue, then of the second."""
        a, b = self.venues
        return f"{a}_bid", f"{a}_ask", f"{b}_bid", f"{b}_ask"

    @property
    def costs_bps(self) -> float:
        """Round-trip cost of one arbitrage: both fees and slippage on both legs."""
        return self.fees_bps[0] + self.fees_bps[1] + 2.0 * self.slippage_bps


class CrossVenueArbitrage:
    """Long venue A / short venue B when B's bid beats A's ask by more than costs (and mirrored).

    With only one venue's quotes in the mapping (keys absent or NaN) it stays inactive and names them.
    Its state is the direction of the current opportunity and how many events it has persisted.
    """

    def __init__(self, config: CrossVenueArbitrageConfig | None = None) -> None:
        self.config = config or CrossVenueArbitrageConfig()
        self.pending = 0
        self.streak = 0
        self._prepare(self.config)

    def _prepare(self, c: CrossVenueArbitrageConfig) -> None:
        """Compute once per config what every tick needs (rebuilt if ``config`` is replaced)."""
        self._keys = c.quote_keys
        self._costs_text = f"{c.costs_bps:g}"
        self._absent: dict[tuple[bool, ...], Signal] = {}
        """The inactive signal per set of absent quote keys (at most 15), built once and reused."""
        self._prepared_for = c

    @property
    def name(self) -> str:
        return self.config.name

    def on_features(self, features: Mapping[str, float]) -> Signal:
        c = self.config
        if c is not self._prepared_for:
            self._prepare(c)
        keys = self._keys
        # Hot path: the four quotes in C calls (``features.get(key, nan)``); their sum is NaN only
        # when one is NaN or absent (or +inf meets -inf), and only then are they looked at one by one.
        quotes = tuple(map(float, map(features.get, keys, _NO_QUOTES)))
        total = sum(quotes)
        if total != total:
            undefined = tuple(map(math.isnan, quotes))
            if True in undefined:
                self.reset()
                return self._missing(undefined)
        bid_a, ask_a, bid_b, ask_b = quotes
        if min(bid_a, bid_b) <= 0.0 or bid_a > ask_a or bid_b > ask_b:
            self.reset()
            return inactive(c.name, f"invalid venue quotes {bid_a}/{ask_a} and {bid_b}/{ask_b}")
        side, edge = self.net_edge_bps(bid_a, ask_a, bid_b, ask_b)
        if edge >= c.min_edge_bps:
            self.streak = self.streak + 1 if side == self.pending else 1
            self.pending = side
        else:
            self.reset()
        trading = self.streak >= c.confirm_events
        target = side * min(1.0, edge / c.full_edge_bps) if trading else 0.0
        what = "trading" if trading else f"no trade ({self.streak}/{c.confirm_events} events of edge)"
        long_leg = c.venues[0] if side > 0 else c.venues[1]
        reason = f"{what}: net edge {edge:+.3f} bps after {self._costs_text} bps costs buying on {long_leg}"
        return Signal(strategy=c.name, target_position=target, active=True, reason=reason)

    def _missing(self, undefined: tuple[bool, ...]) -> Signal:
        """The inactive signal naming the absent quotes (``undefined``: per quote key), built once per set of them."""
        signal = self._absent.get(undefined)
        if signal is None:
            c = self.config
            absent = [k for k, missing in zip(self._keys, undefined, strict=True) if missing]
            reason = f"needs quotes from both venues {c.venues}; missing {absent}"
            signal = self._absent[undefined] = inactive(c.name, reason)
        return signal

    def net_edge_bps(self, bid_a: float, ask_a: float, bid_b: float, ask_b: float) -> tuple[int, float]:
        """The better direction (+1: buy on A at its ask, sell on B at its bid) and its edge net of costs."""
        mid = (bid_a + ask_a + bid_b + ask_b) / 4.0
        costs = self.config.costs_bps
        edge_long_a = (bid_b - ask_a) / mid * 1e4 - costs
        edge_long_b = (bid_a - ask_b) / mid * 1e4 - costs
        return (1, edge_long_a) if edge_long_a >= edge_long_b else (-1, edge_long_b)

    def reset(self) -> None:
        self.pending, self.streak = 0, 0

    def state_dict(self) -> StateDict:
        return {"pending": self.pending, "streak": self.streak}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        check_state(self.name, state, ("pending", "streak"))
        self.pending = state_int(self.name, state, "pending", _SIDES)
        self.streak = state_int(self.name, state, "streak", range(2**31))
