"""``SignalBank``: every arm's per-tick rule over a feature vector in one compiled call.

The engine needs, per event, each arm's target and active flag, not the ``Signal`` with its formatted reason;
the six default arms' ``on_features`` cost ~11.4 us per event, ``step`` ~0.9 us (BTC-PERP rows, 2-core box).

The bank is built from the strategy objects themselves: each built-in arm's config becomes a row of
constants and the feature indices it reads (resolved once against the vector's ``names``), and its state
(held side, countdown, inventory ...) moves into an array the kernel advances. An arm the kernel cannot run
(a user's own class, a subclass, or one that names a feature the mapping lacks) keeps calling its
``on_features`` in Python in its place, so the bank answers exactly what the loop over the objects would,
errors included.

State stays the classes' own: ``state_dict`` / ``load_state_dict`` per arm go through the strategy object
(same format, same validation), and ``sync`` writes the bank's state back into the objects for inspection.
The bank reads the configs when built: to change an arm's config, build a new bank.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.strategies import _kernels as k
from models.strategies.base import JSONScalar, StateDict, Strategy
from models.strategies.directional import MeanReversion, Momentum, VolatilityBreakout
from models.strategies.market_making import MarketMaking
from models.strategies.relative_value import CrossVenueArbitrage, Pairs

Field = tuple[str, Callable[[float], JSONScalar]]
"""A state attribute of a strategy object and the type it holds (the array keeps every value as a float)."""
_SIDE: Field = ("side", int)


@dataclass(frozen=True, slots=True)
class _Row:
    """One compiled arm: its kind, the features it reads (vector indices, -1 for NaN), constants, state fields."""

    kind: int
    indices: tuple[int, ...]
    params: tuple[float, ...]
    fields: tuple[Field, ...]


Positions = Mapping[str, int]
"""Feature name -> index in the vector; -1 for a name the mapping holds as NaN."""


def _indices(positions: Positions, *names: str) -> tuple[int, ...] | None:
    """The names' positions, or None when one is absent (the class raises ``KeyError``: leave it to the class)."""
    found = tuple(positions.get(name, -2) for name in names)
    return None if -2 in found else found


def _momentum(s: Momentum, positions: Positions) -> _Row | None:
    c = s.config
    at = _indices(positions, c.return_feature, c.vol_feature, c.trend_feature)
    params = (c.entry_z, c.exit_z, c.full_z, math.sqrt(c.horizon))
    return None if at is None else _Row(k.MOMENTUM, at, params, (_SIDE,))


def _mean_reversion(s: MeanReversion, positions: Positions) -> _Row | None:
    c = s.config
    at = _indices(positions, c.zscore_feature)
    return None if at is None else _Row(k.MEAN_REVERSION, at, (c.entry_z, c.exit_z, c.full_z), (_SIDE,))


def _market_making(s: MarketMaking, positions: Positions) -> _Row | None:
    c = s.config
    at = _indices(positions, c.microprice_feature, c.spread_feature, c.vol_feature)
    fill_spread = (2.0 / c.risk_aversion) * math.log1p(c.risk_aversion / c.fill_decay)
    params = (c.risk_aversion, c.horizon_events, fill_spread, c.min_half_spread_bps)
    return None if at is None else _Row(k.MARKET_MAKING, at, params, (("inventory", float),))


def _pairs(s: Pairs, positions: Positions) -> _Row | None:
    c = s.config
    at = _indices(positions, c.spread_z_feature, c.corr_feature)
    params = (c.entry_z, c.exit_z, c.stop_z, c.min_corr, c.position)
    return None if at is None else _Row(k.PAIRS, at, params, (_SIDE, ("stopped", bool)))


def _cross_venue(s: CrossVenueArbitrage, positions: Positions) -> _Row:
    c = s.config
    # ``features.get(key, nan)``: an absent quote reads NaN, like one the mapping holds as NaN
    at = tuple(positions.get(key, -1) for key in c.quote_keys)
    params = (c.costs_bps, c.min_edge_bps, c.full_edge_bps, float(c.confirm_events))
    return _Row(k.CROSS_VENUE, at, params, (("pending", int), ("streak", int)))


def _breakout(s: VolatilityBreakout, positions: Positions) -> _Row | None:
    c = s.config
    at = _indices(positions, c.return_feature, c.fast_vol_feature, c.slow_vol_feature, c.volume_feature)
    params = (c.breakout_z, c.vol_expansion, c.min_volume_ratio, float(c.hold_events), c.position, math.sqrt(c.horizon))
    return None if at is None else _Row(k.BREAKOUT, at, params, (_SIDE, ("remaining", int)))


_COMPILERS: Mapping[type, Callable[[Any, Positions], _Row | None]] = {
    Momentum: _momentum,
    MeanReversion: _mean_reversion,
    MarketMaking: _market_making,
    Pairs: _pairs,
    CrossVenueArbitrage: _cross_venue,
    VolatilityBreakout: _breakout,
}
"""The kinds the kernel runs, by exact class: a subclass may override ``on_features``, so it stays Python."""


class SignalBank:
    """Targets and active flags of a tuple of strategies per tick, from a feature vector and its mapping.

    ``names``: the vector's feature names in order; ``undefined``: names the mapping holds as NaN (it wins
    over ``names``, as ``dict(zip(names, vector)) | dict.fromkeys(undefined, nan)`` would). ``step`` takes
    the vector and that mapping: the kernel reads the vector, Python arms the mapping.
    """

    __slots__ = ("_active", "_fields", "_layout", "_params", "_state", "_targets", "compiled", "strategies", "width")

    def __init__(self, strategies: Sequence[Strategy], names: Sequence[str], undefined: Iterable[str] = ()) -> None:
        self.strategies: tuple[Strategy, ...] = tuple(strategies)
        if not self.strategies:
            raise ValueError("strategies: a signal bank needs at least one strategy")
        self.width = len(names)
        """How many values ``step``'s vector holds (``names``)."""
        positions = {name: i for i, name in enumerate(names)} | dict.fromkeys(undefined, -1)
        rows = [_compile(s, positions) for s in self.strategies]
        n = len(rows)
        self.compiled: tuple[bool, ...] = tuple(row is not None for row in rows)
        """Per arm: whether the kernel runs it (else its ``on_features`` does)."""
        self._fields = tuple(() if row is None else row.fields for row in rows)
        self._layout = np.full((n, 1 + k.N_INDICES), -1, dtype=np.int64)
        self._params = np.zeros((n, k.N_PARAMS))
        self._state = np.zeros((n, 2 * k.N_STATE))
        for i, row in enumerate(rows):
            if row is None:
                self._layout[i, 0] = k.PYTHON
                continue
            self._layout[i, 0] = row.kind
            self._layout[i, 1 : 1 + len(row.indices)] = row.indices
            self._params[i, : len(row.params)] = row.params
            self._pull(i)
        self._targets = np.zeros(n)
        self._active = np.zeros(n, dtype=np.bool_)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.strategies)

    def step(self, vector: np.ndarray, features: Mapping[str, float]) -> tuple[list[float], list[bool]]:
        """Advance every arm by one tick: (targets, active flags), in arm order, as their ``on_features`` give.

        ``vector``: float64, in ``names`` order; ``features``: the same values as a mapping (with the
        ``undefined`` names as NaN), read only by the arms the kernel does not run.
        """
        undecided = k.step(vector, self._layout, self._params, self._state, self._targets, self._active)
        if undecided == k.SHORT_VECTOR:
            raise ValueError(f"vector: {vector.shape[0]} values, shorter than the bank's {self.width} feature names")
        targets: list[float] = self._targets.tolist()
        active: list[bool] = self._active.tolist()
        if undecided:
            self._decide_in_python(features, targets, active)
        return targets, active

    def _decide_in_python(self, features: Mapping[str, float], targets: list[float], active: list[bool]) -> None:
        """The arms the kernel left undecided (NaN target), in order, by their own ``on_features``."""
        for i, target in enumerate(targets):
            if target == target:
                continue
            strategy = self.strategies[i]
            try:
                self._push(i)
                signal = strategy.on_features(features)
            except BaseException:
                # The loop over the objects would not have stepped this arm's successors: undo their step.
                self._state[i:, : k.N_STATE] = self._state[i:, k.N_STATE :]
                raise
            self._pull(i)
            targets[i], active[i] = signal.target_position, signal.active

    def _push(self, i: int) -> None:
        """The bank's state of arm ``i`` into its strategy object."""
        strategy, state = self.strategies[i], self._state[i]
        for col, (attr, kind) in enumerate(self._fields[i]):
            setattr(strategy, attr, kind(float(state[col])))

    def _pull(self, i: int) -> None:
        """Arm ``i``'s strategy object's state into the bank."""
        strategy, state = self.strategies[i], self._state[i]
        for col, (attr, _) in enumerate(self._fields[i]):
            state[col] = state[k.N_STATE + col] = float(getattr(strategy, attr))

    def index(self, arm: int | str) -> int:
        """The position of ``arm`` (an index or an arm name)."""
        if isinstance(arm, str):
            names = self.names
            if arm not in names:
                raise KeyError(f"arm: {arm!r} is not one of {names}")
            return names.index(arm)
        if not 0 <= arm < len(self.strategies):
            raise IndexError(f"arm: {arm} is out of range for {len(self.strategies)} strategies")
        return arm

    def state_dict(self, arm: int | str) -> StateDict:
        """The arm's state in its class's ``state_dict`` format."""
        i = self.index(arm)
        self._push(i)
        return self.strategies[i].state_dict()

    def load_state_dict(self, arm: int | str, state: Mapping[str, JSONScalar]) -> None:
        """Restore the arm's state from its class's ``state_dict`` format (validated by the class)."""
        i = self.index(arm)
        self.strategies[i].load_state_dict(state)
        self._pull(i)

    def state_dicts(self) -> dict[str, StateDict]:
        """Every arm's state, by arm name."""
        return {s.name: self.state_dict(i) for i, s in enumerate(self.strategies)}

    def load_state_dicts(self, states: Mapping[str, Mapping[str, JSONScalar]]) -> None:
        """Restore every arm named in ``states``; a name that is not an arm raises before any is touched."""
        for name in states:
            self.index(name)
        for name, state in states.items():
            self.load_state_dict(name, state)

    def reset(self) -> None:
        """Every arm back to the state of a freshly built strategy."""
        for i, strategy in enumerate(self.strategies):
            strategy.reset()
            self._pull(i)

    def sync(self) -> tuple[Strategy, ...]:
        """The strategy objects, their state set to the bank's (to inspect or hand on)."""
        for i in range(len(self.strategies)):
            self._push(i)
        return self.strategies


def _compile(strategy: Strategy, positions: Positions) -> _Row | None:
    compiler = _COMPILERS.get(type(strategy))
    return None if compiler is None else compiler(strategy, positions)
