"""The detector's extra statistics: the O(1) streaming state against its batch twin, causality, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.features import FEATURE_NAMES, compute_features, events_frame
from models.marketdata.simulator import SimulatorConfig, simulate
from models.regime import InputSpec, InputState, regime_inputs
from models.seeding import make_rng


def _stream(events: pd.DataFrame, features: pd.DataFrame, spec: InputSpec) -> np.ndarray:
    state = InputState(spec)
    values = features[list(FEATURE_NAMES)].to_numpy()
    high, low, volume = (events[c].to_numpy() for c in ("high", "low", "volume"))
    return np.stack([state.update(values[t], high=high[t], low=low[t], volume=volume[t]) for t in range(len(events))])


def _sim_events(seed: int = 3, n_bars: int = 3_000) -> pd.DataFrame:
    return events_frame(simulate(SimulatorConfig(seed=seed, n_bars=n_bars)), "bars")


@pytest.mark.parametrize("use_quotes", [True, False])
def test_update_given_simulated_bars_returns_batch_inputs(use_quotes: bool) -> None:
    events = _sim_events()
    features = compute_features(events)
    spec = InputSpec(use_quotes=use_quotes)

    batch = regime_inputs(events, features, spec)
    streamed = _stream(events, features, spec)

    assert batch.shape == (len(events), len(spec.names))
    np.testing.assert_allclose(streamed, batch, rtol=1e-9, atol=1e-12, equal_nan=True)
    # past the 60-event feature warm-up every input is defined
    assert np.isfinite(batch[60:]).all()


def test_update_given_real_btc_perp_bars_returns_batch_inputs(btc_perp_bars: pd.DataFrame) -> None:
    events = events_frame(btc_perp_bars.iloc[:2_000], "bars")
    features = compute_features(events)
    spec = InputSpec(use_quotes=False)

    np.testing.assert_allclose(
        _stream(events, features, spec), regime_inputs(events, features, spec), rtol=1e-9, atol=1e-12, equal_nan=True
    )


@pytest.mark.parametrize("cut", [0, 59, 700])
def test_regime_inputs_given_changed_future_rows_returns_unchanged_past_rows(cut: int) -> None:
    events = _sim_events(n_bars=1_500)
    future = events.copy()
    rng = make_rng(cut)
    after = future.index[cut + 1 :]
    factor = rng.uniform(0.5, 2.0, len(after))
    for name in ("close", "high", "low", "bid", "ask", "volume"):
        future.loc[after, name] = future.loc[after, name].to_numpy() * factor
    spec = InputSpec()

    before = regime_inputs(events, compute_features(events), spec)
    changed = regime_inputs(future, compute_features(future), spec)

    assert np.array_equal(before[: cut + 1], changed[: cut + 1], equal_nan=True)
    assert not np.array_equal(before[cut + 1 :], changed[cut + 1 :], equal_nan=True)


def test_regime_inputs_given_quote_spec_and_bars_without_quotes_raises(btc_perp_bars: pd.DataFrame) -> None:
    events = events_frame(btc_perp_bars.iloc[:200], "bars")
    features = compute_features(events)

    with pytest.raises(ValueError, match="use_quotes"):
        regime_inputs(events, features, InputSpec(use_quotes=True))
    with pytest.raises(ValueError, match="use_quotes"):
        _stream(events, features, InputSpec(use_quotes=True))


def test_update_row_given_infinite_feature_returns_nan_for_its_input_only() -> None:
    spec = InputSpec(use_quotes=False)
    state = InputState(spec)
    features = np.full(len(FEATURE_NAMES), 0.01)
    features[FEATURE_NAMES.index("rsi_14")] = 60.0
    state.update_row(features, high=101.0, low=100.0, volume=5.0)

    features[FEATURE_NAMES.index("zscore_30")] = np.inf
    row = state.update_row(features, high=102.0, low=100.0, volume=7.0)

    undefined = [name for name, v in zip(spec.names, row, strict=True) if np.isnan(v)]
    assert undefined == ["zscore_30"]
    assert np.isfinite(np.delete(row, spec.names.index("zscore_30"))).all()


def test_update_given_inverted_range_raises() -> None:
    state = InputState(InputSpec(use_quotes=False))

    with pytest.raises(ValueError, match="high/low"):
        state.update(np.zeros(len(FEATURE_NAMES)), high=99.0, low=100.0, volume=1.0)


def test_update_given_wrong_vector_length_raises() -> None:
    state = InputState(InputSpec(use_quotes=False))

    with pytest.raises(ValueError, match="features"):
        state.update(np.zeros(5), high=1.0, low=1.0, volume=1.0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"baseline_halflife": 10.0}, "baseline_halflife"), ({"use_quotes": 1}, "use_quotes")],
)
def test_input_spec_given_invalid_field_raises_naming_it(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        InputSpec(**fields)  # type: ignore[arg-type]


def test_names_given_use_quotes_returns_core_plus_spread_inputs() -> None:
    with_quotes, without = InputSpec(use_quotes=True).names, InputSpec(use_quotes=False).names

    assert with_quotes[: len(without)] == without
    assert with_quotes[len(without) :] == ("spread_z_60", "spread_level_3")
    assert len(set(with_quotes)) == len(with_quotes) == 15
