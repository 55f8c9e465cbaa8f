"""The live observation: its compiled decision-path build is bit for bit the generic (numpy) build and the
training path's ``FeatureScaler.transform``."""

from __future__ import annotations

import numpy as np
import pytest

from models.env import FeatureScaler
from models.env.observation import ObservationBuilder, live_observation
from models.features import FEATURE_NAMES
from models.seeding import make_rng

N = len(FEATURE_NAMES)
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0)


def _builder(clip: float = 3.0) -> ObservationBuilder:
    rng = make_rng(7)
    center = tuple(rng.normal(size=N).tolist())
    scale = tuple(rng.uniform(0.5, 2.0, size=N).tolist())
    return ObservationBuilder(FeatureScaler(center=center, scale=scale), clip=clip)


def _rows(builder: ObservationBuilder, n: int = 300) -> np.ndarray:
    """Random rows with a NaN, an inf, a signed zero or a value exactly on the clip bound in each."""
    rng = make_rng(8)
    rows = rng.normal(scale=4.0, size=(n, N))
    center, scale = np.asarray(builder.scaler.center), np.asarray(builder.scaler.scale)
    for t, row in enumerate(rows):
        j = int(rng.integers(N))
        row[j] = SPECIALS[t % len(SPECIALS)] if t % 6 else center[j] + builder.clip * scale[j]
    return rows


@pytest.mark.parametrize("regime", [3, -1, None])
def test_build_given_engine_vector_returns_bitwise_the_generic_path_and_transform(regime: int | None) -> None:
    builder = _builder()
    rows = _rows(builder)
    generic_regime = None if regime is None else np.int64(regime)  # not an int: the numpy path

    for t, row in enumerate(rows):
        position = (-0.5, 0.0, 1.0)[t % 3]
        kwargs = {"position": position, "entry_price": 100.0, "close": 100.0 + t % 7}
        fast = builder.build(row, regime=regime, **kwargs)
        generic = builder.build(row.tolist(), regime=generic_regime, **kwargs)

        assert fast.dtype == np.float32
        assert fast.tobytes() == generic.tobytes()
        assert fast[:N].tobytes() == builder.scaler.transform(row[None, :], builder.clip)[0].tobytes()


def test_build_given_one_hot_vector_or_bad_code_returns_generic_result_or_error() -> None:
    builder = _builder()
    row = _rows(builder, 1)[0]
    one_hot = np.eye(7, dtype=np.float32)[2]

    by_vector = builder.build(row, position=0.0, entry_price=0.0, close=1.0, regime=one_hot)

    assert by_vector.tobytes() == builder.build(row, position=0.0, entry_price=0.0, close=1.0, regime=2).tobytes()
    with pytest.raises(ValueError, match="regime"):
        builder.build(row, position=0.0, entry_price=0.0, close=1.0, regime=7)


def test_build_given_each_call_returns_a_fresh_array() -> None:
    builder = _builder()
    row = _rows(builder, 1)[0]

    first = builder.build(row, position=0.0, entry_price=0.0, close=1.0, regime=1)
    second = builder.build(row, position=0.0, entry_price=0.0, close=1.0, regime=1)

    assert first is not second
    first[0] = 99.0
    assert second[0] != 99.0


def test_live_observation_given_inventory_states_returns_build_bit_for_bit() -> None:
    scaler = FeatureScaler(center=(0.5,) * len(FEATURE_NAMES), scale=(2.0,) * len(FEATURE_NAMES))
    builder = ObservationBuilder(scaler, clip=10)  # an int clip: build's min/max keep it, the kernel a float
    center, scale, clip = builder.kernel_args()
    rng = make_rng(8)
    closes = [101.0, 50.0, 500.0, 0.0, np.nan, np.inf, 100.0]
    for position in (0.0, -0.0, 0.3, -0.3, 1.0, -1.0):
        for entry_price in (100.0, 0.0, -5.0, np.nan, np.inf):
            for close in closes:
                features = rng.normal(scale=30.0, size=len(FEATURE_NAMES))
                regime = int(rng.integers(-1, 7))

                got = np.full(builder.dim, np.nan, dtype=np.float32)
                live_observation(got, features, center, scale, clip, position, entry_price, close, regime)

                expected = builder.build(
                    features, position=position, entry_price=entry_price, close=close, regime=regime
                )
                assert got.tobytes() == expected.tobytes(), (position, entry_price, close)
