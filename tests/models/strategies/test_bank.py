"""``SignalBank`` against the strategy classes, tick by tick: real feature rows, random and edge inputs, state.

Every comparison is bitwise (``float.hex``: -0.0 and the last bit count) on the targets, exact on the active
flags and on every arm's ``state_dict`` after every tick.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache

import numpy as np
import pytest

from models.features import FEATURE_NAMES, PAIR_FEATURE_NAMES, compute_features, events_frame
from models.features.pairs import compute_pair_features
from models.marketdata.samples import SAMPLES
from models.strategies import (
    CrossVenueArbitrage,
    CrossVenueArbitrageConfig,
    MarketMaking,
    MarketMakingConfig,
    MeanReversion,
    MeanReversionConfig,
    Momentum,
    MomentumConfig,
    Pairs,
    PairsConfig,
    Signal,
    SignalBank,
    Strategy,
    VolatilityBreakout,
    VolatilityBreakoutConfig,
    build_strategies,
)
from models.strategies.base import JSONScalar, StateDict

NAN = math.nan
VENUE_KEYS = CrossVenueArbitrageConfig().quote_keys
Factory = Callable[[], Sequence[Strategy]]


class Mirror:
    """The bank and, beside it, the same arms built afresh and stepped by the loop the engine used to run."""

    def __init__(self, factory: Factory, names: Sequence[str], undefined: Iterable[str] = ()) -> None:
        self.names, self.undefined = tuple(names), tuple(undefined)
        self.bank = SignalBank(factory(), self.names, self.undefined)
        self.reference = tuple(factory())
        self.ticks = self.active_ticks = self.positioned_ticks = self.errors = 0

    def mapping(self, vector: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names, vector.tolist(), strict=True)) | dict.fromkeys(self.undefined, NAN)

    def step(self, vector: np.ndarray) -> None:
        """One tick of both; an arm that raises must raise the same error from the bank, leaving the same states."""
        features = self.mapping(vector)
        try:
            signals = [s.on_features(features) for s in self.reference]
        except (ValueError, OverflowError) as error:
            with pytest.raises(type(error)) as raised:
                self.bank.step(vector, features)
            assert str(raised.value) == str(error)
            self.errors += 1
        else:
            targets, active = self.bank.step(vector, features)
            assert [t.hex() for t in targets] == [s.target_position.hex() for s in signals], self.ticks
            assert active == [s.active for s in signals], self.ticks
            assert all(type(t) is float for t in targets) and all(type(a) is bool for a in active)
            self.active_ticks += sum(active)
            self.positioned_ticks += sum(t != 0.0 for t in targets)
        assert self.bank.state_dicts() == {s.name: s.state_dict() for s in self.reference}, self.ticks
        self.ticks += 1

    def run(self, vectors: np.ndarray) -> Mirror:
        for vector in vectors:
            self.step(vector)
        return self


@cache
def _features(symbol: str, rows: int = 4_000) -> np.ndarray:
    sample = next(s for s in SAMPLES if s.symbol == symbol)
    frame = compute_features(events_frame(sample.load().frame, sample.kind))
    return np.ascontiguousarray(frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)[:rows])


def _read_only(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.copy()
    vectors.setflags(write=False)  # as the engine's vectors are
    return vectors


def test_bank_given_default_arms_and_the_engine_layout_compiles_every_arm() -> None:
    bank = SignalBank(build_strategies(), FEATURE_NAMES, PAIR_FEATURE_NAMES)

    assert bank.compiled == (True,) * 6
    assert bank.names == tuple(s.name for s in build_strategies())


@pytest.mark.parametrize("symbol", ["BTC-PERP", "GBPUSD", "EURUSD"])
def test_bank_given_real_feature_rows_matches_the_classes_tick_by_tick(symbol: str) -> None:
    mirror = Mirror(build_strategies, FEATURE_NAMES, PAIR_FEATURE_NAMES).run(_read_only(_features(symbol)))

    assert mirror.ticks == 4_000
    assert mirror.active_ticks > 4_000 and mirror.positioned_ticks > 100


def test_bank_given_real_pair_features_matches_the_pairs_class() -> None:
    a, b = (next(s for s in SAMPLES if s.symbol == sym) for sym in ("BTC-PERP", "GBPUSD"))
    first, second = events_frame(a.load().frame, a.kind), events_frame(b.load().frame, b.kind)
    # the samples span different weeks: GBPUSD's closes are laid on BTC-PERP's first minutes to make a pair
    second = second.assign(timestamp=first["timestamp"].to_numpy()[: len(second)])
    pair = compute_pair_features(first, second)
    vectors = pair[list(PAIR_FEATURE_NAMES)].to_numpy(dtype=np.float64)
    loose = PairsConfig(name="loose", entry_z=1.0, exit_z=0.2, stop_z=2.5, min_corr=-0.5, position=0.75)

    def factory() -> list[Strategy]:
        return [Pairs(), Pairs(loose)]

    mirror = Mirror(factory, PAIR_FEATURE_NAMES).run(_read_only(vectors))

    assert mirror.ticks > 5_000 and mirror.positioned_ticks > 500


# -- random and edge inputs ---------------------------------------------------------------------------------

EDGE_NAMES = (*FEATURE_NAMES, *PAIR_FEATURE_NAMES, *VENUE_KEYS)


def _edge_arms() -> list[Strategy]:
    """Every kind, defaults and a twitchy variant (short holds, loose bands) so every branch fires often."""
    return [
        *build_strategies(),
        Momentum(MomentumConfig(name="m2", horizon=4, entry_z=0.5, exit_z=0.0, full_z=0.5)),
        MeanReversion(MeanReversionConfig(name="mr2", entry_z=0.5, exit_z=0.25, full_z=0.5)),
        MarketMaking(MarketMakingConfig(name="mm2", min_half_spread_bps=1e-9, max_inventory=0.5)),
        Pairs(PairsConfig(name="p2", entry_z=0.5, exit_z=0.0, stop_z=1.5, min_corr=0.0, position=0.5)),
        CrossVenueArbitrage(
            CrossVenueArbitrageConfig(
                name="x2", fees_bps=(0.5, 0.0), slippage_bps=0.0, min_edge_bps=0.5, confirm_events=1
            )
        ),
        VolatilityBreakout(
            VolatilityBreakoutConfig(
                name="v2", horizon=1, breakout_z=0.5, vol_expansion=0.5, min_volume_ratio=0.0, hold_events=3
            )
        ),
    ]


_SPECIALS = np.array([NAN, 0.0, -0.0, math.inf, -math.inf, 0.5, -0.5, 2.0, -2.0, 1.0, -1.0, 0.25, 4.0, 1e-300, 1e300])
"""Values that sit on thresholds (entry, exit, stop and full bands of both arm sets), or break arithmetic."""


def _edge_vectors(seed: int, n: int, specials: np.ndarray = _SPECIALS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width = len(EDGE_NAMES)
    out = rng.normal(scale=rng.choice([0.5, 2.0], size=(n, 1)), size=(n, width))
    # volatilities mostly small and positive, as real ones are, so the scaled returns straddle the bands
    for name in ("rvol_15", "rvol_60"):
        out[:, EDGE_NAMES.index(name)] = np.abs(out[:, EDGE_NAMES.index(name)]) * 1e-3
    special = rng.random((n, width)) < 0.08
    out[special] = rng.choice(specials, size=int(special.sum()))
    # two venues around 100, usually valid, often with a gap wide enough to trade; sometimes crossed or absent
    mid = 100.0 + rng.normal(scale=0.05, size=(n, 2))
    half = np.abs(rng.normal(scale=0.01, size=(n, 2)))
    quotes = np.column_stack(
        [mid[:, 0] - half[:, 0], mid[:, 0] + half[:, 0], mid[:, 1] - half[:, 1], mid[:, 1] + half[:, 1]]
    )
    quotes[rng.random(n) < 0.05, rng.integers(0, 4)] = NAN
    quotes[rng.random(n) < 0.03, 0] = 101.0
    quotes[rng.random(n) < 0.03, rng.integers(0, 4)] = rng.choice([0.0, -1.0])
    out[:, len(FEATURE_NAMES) + len(PAIR_FEATURE_NAMES) :] = quotes
    return out


@pytest.mark.parametrize("seed", range(6))
def test_bank_given_random_and_edge_inputs_matches_the_classes_tick_by_tick(seed: int) -> None:
    mirror = Mirror(_edge_arms, EDGE_NAMES).run(_read_only(_edge_vectors(seed, 2_000)))

    # market making's quotes overflow on the huge volatilities: both raise, and the later arms stay unstepped
    assert mirror.positioned_ticks > 2_000 and 0 < mirror.errors < 400


@pytest.mark.parametrize("seed", range(2))
def test_bank_given_only_threshold_and_non_finite_values_matches_the_classes(seed: int) -> None:
    # every feature drawn from the specials: inf / inf returns (a NaN z, held side kept, min(1, NaN) = 1),
    # zero volatilities, values exactly on the bands; quotes stay realistic so the venue arms still trade
    vectors = _edge_vectors(seed, 3_000)
    width = len(FEATURE_NAMES) + len(PAIR_FEATURE_NAMES)
    vectors[:, :width] = np.random.default_rng(seed).choice(_SPECIALS, size=(len(vectors), width))

    mirror = Mirror(_edge_arms, EDGE_NAMES).run(_read_only(vectors))

    assert mirror.positioned_ticks > 1_000 and mirror.errors > 0


def test_bank_given_runs_of_a_feature_holds_sides_exactly_like_the_classes() -> None:
    # slowly wandering features cross each band one way and back, exercising hysteresis holds and re-arms
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(scale=0.2, size=(3_000, len(EDGE_NAMES))), axis=0)
    walk = np.clip(walk, -6.0, 6.0)
    walk[:, len(FEATURE_NAMES) + len(PAIR_FEATURE_NAMES) :] = 100.0 + np.abs(walk[:, -4:]) * 0.01

    mirror = Mirror(_edge_arms, EDGE_NAMES).run(_read_only(walk))

    assert mirror.positioned_ticks > 3_000


def test_bank_given_a_breakout_counts_the_hold_down_then_goes_flat() -> None:
    names = ("ret_15", "rvol_15", "rvol_60", "volume_ratio")
    config = VolatilityBreakoutConfig(hold_events=3, position=0.5)
    bank = SignalBank([VolatilityBreakout(config)], names)
    breakout = np.array([0.1, 0.02, 0.01, 2.0])
    calm = np.array([0.0, 0.01, 0.01, 1.0])

    seen = []
    for vector in (breakout, calm, calm, calm, calm):
        seen.append(
            (bank.step(vector, dict(zip(names, vector.tolist(), strict=True)))[0][0], bank.state_dict(0)["remaining"])
        )

    assert seen == [(0.5, 2), (0.5, 1), (0.5, 0), (0.0, 0), (0.0, 0)]


# -- state ----------------------------------------------------------------------------------------------------


def test_bank_given_its_state_dicts_round_tripped_through_json_continues_identically() -> None:
    vectors = _read_only(_edge_vectors(11, 800, _SPECIALS[np.abs(_SPECIALS) < 1e10]))  # no overflowing quotes
    first = Mirror(_edge_arms, EDGE_NAMES)
    first.run(vectors[:400])
    saved = json.loads(json.dumps(first.bank.state_dicts()))

    second = SignalBank(_edge_arms(), EDGE_NAMES)
    second.load_state_dicts(saved)
    assert second.state_dicts() == saved
    for vector in vectors[400:]:
        features = first.mapping(vector)
        assert second.step(vector, features) == first.bank.step(vector, features)
    assert second.state_dicts() == first.bank.state_dicts()
    assert any(v != 0 for state in saved.values() for v in state.values())


def test_bank_given_a_state_loaded_from_the_classes_acts_on_it() -> None:
    pairs = Pairs()
    bank = SignalBank([Pairs()], PAIR_FEATURE_NAMES)
    state: StateDict = {"side": 0, "stopped": True}
    pairs.load_state_dict(state)
    bank.load_state_dict("pairs", state)
    # (corr, z): a cheap spread while stopped, a re-arm, the same cheap spread again
    vectors = [np.array([0.9, -2.5]), np.array([0.9, 0.0]), np.array([0.9, -2.5])]
    rows = [dict(zip(PAIR_FEATURE_NAMES, v.tolist(), strict=True)) for v in vectors]

    got = [bank.step(v, row)[0][0] for v, row in zip(vectors, rows, strict=True)]

    assert PAIR_FEATURE_NAMES == ("pair_corr_60", "pair_spread_z_60")
    assert got == [pairs.on_features(row).target_position for row in rows]
    assert got == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"side": 2}, "state side must be an integer"),
        ({"side": 1, "extra": 0}, "state keys differ"),
        ({"side": True}, "state side must be an integer"),
    ],
)
def test_bank_given_an_invalid_state_raises_the_class_error_and_keeps_its_state(
    state: Mapping[str, JSONScalar], message: str
) -> None:
    bank = SignalBank(build_strategies(), FEATURE_NAMES, PAIR_FEATURE_NAMES)
    before = bank.state_dicts()

    with pytest.raises(ValueError, match=message):
        bank.load_state_dict("momentum", state)
    assert bank.state_dicts() == before


def test_bank_given_an_unknown_arm_raises_naming_it() -> None:
    bank = SignalBank(build_strategies(), FEATURE_NAMES, PAIR_FEATURE_NAMES)

    with pytest.raises(KeyError, match="'nope' is not one of"):
        bank.state_dict("nope")
    with pytest.raises(KeyError, match="'nope' is not one of"):
        bank.load_state_dicts({"momentum": {"side": 1}, "nope": {}})
    assert bank.state_dict("momentum") == {"side": 0}
    with pytest.raises(IndexError, match="arm: 6 is out of range"):
        bank.state_dict(6)


def test_bank_sync_and_reset_put_the_state_in_the_objects() -> None:
    mirror = Mirror(_edge_arms, EDGE_NAMES).run(_read_only(_edge_vectors(3, 300)))

    objects = mirror.bank.sync()
    assert {s.name: s.state_dict() for s in objects} == {s.name: s.state_dict() for s in mirror.reference}
    mirror.bank.reset()
    assert mirror.bank.state_dicts() == {s.name: s.state_dict() for s in _edge_arms()}


def test_bank_given_a_vector_shorter_than_its_names_raises_before_stepping() -> None:
    bank = SignalBank(build_strategies(), FEATURE_NAMES, PAIR_FEATURE_NAMES)
    bank.load_state_dicts({"momentum": {"side": -1}, "volatility_breakout": {"side": 1, "remaining": 5}})
    before = bank.state_dicts()
    short = _features("BTC-PERP", 1)[0][:10]

    with pytest.raises(ValueError, match="vector: 10 values, shorter than the bank's 21 feature names"):
        bank.step(short, {})
    assert bank.state_dicts() == before


def test_bank_given_no_strategies_raises() -> None:
    with pytest.raises(ValueError, match="strategies: a signal bank needs at least one strategy"):
        SignalBank([], FEATURE_NAMES)


# -- arms the kernel does not run -------------------------------------------------------------------------------


class Contrarian:
    """A user's own arm: short when the 1-event return is up, counting its calls as its state."""

    def __init__(self, fail_at: int = -1) -> None:
        self.calls = 0
        self.fail_at = fail_at

    @property
    def name(self) -> str:
        return "contrarian"

    def on_features(self, features: Mapping[str, float]) -> Signal:
        if self.calls == self.fail_at:
            raise RuntimeError("contrarian: broken on purpose")
        self.calls += 1
        ret = features["ret_1"]
        if ret != ret:
            return Signal(strategy=self.name, target_position=0.0, active=False, reason="warming up")
        return Signal(strategy=self.name, target_position=-0.5 if ret > 0 else 0.5, active=True, reason="fade")

    def reset(self) -> None:
        self.calls = 0

    def state_dict(self) -> StateDict:
        return {"calls": self.calls}

    def load_state_dict(self, state: Mapping[str, JSONScalar]) -> None:
        calls = state["calls"]
        assert isinstance(calls, int)
        self.calls = calls


class SlowMomentum(Momentum):
    """A subclass may change the rule: the bank must leave it to Python."""

    def on_features(self, features: Mapping[str, float]) -> Signal:
        signal = super().on_features(features)
        return Signal(strategy=self.name, target_position=signal.target_position / 2, active=signal.active, reason="x")


def test_bank_given_user_and_subclassed_arms_runs_them_in_python_in_their_place() -> None:
    def factory() -> list[Strategy]:
        return [Momentum(), Contrarian(), SlowMomentum(MomentumConfig(name="slow")), *build_strategies()[1:]]

    mirror = Mirror(factory, FEATURE_NAMES, PAIR_FEATURE_NAMES)
    assert mirror.bank.compiled == (True, False, False, True, True, True, True, True)

    mirror.run(_read_only(_features("BTC-PERP", 1_500)))

    assert mirror.bank.state_dict("contrarian") == {"calls": 1_500}


def test_bank_given_a_feature_the_layout_lacks_raises_the_class_key_error() -> None:
    strategy = MeanReversion(MeanReversionConfig(zscore_feature="zscore_90"))
    bank = SignalBank([strategy], FEATURE_NAMES)
    vector = _features("BTC-PERP", 1)[0]

    assert bank.compiled == (False,)
    with pytest.raises(KeyError, match=r"features \['zscore_90'\] are missing"):
        bank.step(vector, dict(zip(FEATURE_NAMES, vector.tolist(), strict=True)))


def test_bank_given_an_arm_that_raises_leaves_later_arms_unstepped_like_the_loop() -> None:
    vectors = _read_only(_features("BTC-PERP", 400))

    def factory() -> list[Strategy]:
        return [*build_strategies()[:3], Contrarian(fail_at=300), *build_strategies()[3:]]

    mirror = Mirror(factory, FEATURE_NAMES, PAIR_FEATURE_NAMES)
    mirror.run(vectors[:300])
    features = mirror.mapping(vectors[300])
    with pytest.raises(RuntimeError, match="broken on purpose"):
        mirror.bank.step(vectors[300], features)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        for strategy in mirror.reference:
            strategy.on_features(features)

    assert mirror.bank.state_dicts() == {s.name: s.state_dict() for s in mirror.reference}
    assert mirror.ticks == 300


@pytest.mark.parametrize(
    ("micro", "vol", "inventory", "error"),
    [
        (0.5, math.inf, 0.0, ValueError),  # inventory 0 times an infinite risk: a NaN reservation, Quotes rejects it
        (0.5, 1e160, 0.5, OverflowError),  # sigma_bps ** 2 overflows in Python
        (1e20, 1e-4, 0.0, ValueError),  # bid and ask round to the same float
    ],
)
def test_bank_given_quotes_the_class_rejects_raises_its_error(
    micro: float, vol: float, inventory: float, error: type[Exception]
) -> None:
    names = ("microprice_offset_bps", "spread_bps", "rvol_15")
    strategy, bank = MarketMaking(), SignalBank([MarketMaking()], names)
    strategy.load_state_dict({"inventory": inventory})
    bank.load_state_dict(0, {"inventory": inventory})
    vector = np.array([micro, 2.0, vol])
    features = dict(zip(names, vector.tolist(), strict=True))

    with pytest.raises(error) as expected:
        strategy.on_features(features)
    with pytest.raises(error) as raised:
        bank.step(vector, features)
    assert str(raised.value) == str(expected.value)


def test_bank_given_market_making_inventory_quotes_at_target_zero() -> None:
    names = ("microprice_offset_bps", "spread_bps", "rvol_15")
    strategy, bank = MarketMaking(), SignalBank([MarketMaking()], names)
    strategy.load_state_dict({"inventory": 1.0})
    bank.load_state_dict(0, {"inventory": 1.0})
    vectors = [np.array([0.5, 2.0, 1e-4]), np.array([0.5, 0.0, 1e-4]), np.array([NAN, 2.0, 1e-4])]

    got = [bank.step(v, dict(zip(names, v.tolist(), strict=True))) for v in vectors]

    want = [strategy.on_features(dict(zip(names, v.tolist(), strict=True))) for v in vectors]
    assert (
        got
        == [([s.target_position], [s.active]) for s in want]
        == [([0.0], [True]), ([0.0], [False]), ([0.0], [False])]
    )
    assert bank.state_dict(0) == {"inventory": 1.0}


def test_bank_reads_undefined_names_as_nan_even_when_the_vector_has_them() -> None:
    vector = np.array([0.9, -3.0])
    bank = SignalBank([Pairs()], PAIR_FEATURE_NAMES, undefined=PAIR_FEATURE_NAMES)

    targets, active = bank.step(vector, dict.fromkeys(PAIR_FEATURE_NAMES, NAN))

    assert (targets, active) == ([0.0], [False])
