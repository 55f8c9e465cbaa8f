"""The fitted detector: numpy inference against scikit-learn, persistence, determinism, causality, streaming."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.features import FeatureEngine, events_frame
from models.features.batch import EVENT_COLUMNS, timestamp_ns
from models.marketdata.simulator import REGIMES, SimulatorConfig, simulate
from models.regime import InputState, RegimeConfig, RegimeDetector, detect, fit_regime_detector
from models.regime.detector import expand, standardise
from models.regime.fit import fit_softmax, training_set
from models.seeding import make_rng


def test_probabilities_given_training_rows_returns_sklearn_predict_proba(
    small_frames: list[pd.DataFrame], small_config: RegimeConfig
) -> None:
    x, y = training_set(small_frames, small_config)
    fitted = fit_softmax(x, y, small_config)
    sklearn_rows = fitted.scaler.transform(expand(standardise(x, fitted.weights.mean, fitted.weights.scale)))

    actual = fitted.weights.probabilities(x)

    np.testing.assert_allclose(actual, fitted.model.predict_proba(sklearn_rows), rtol=1e-9, atol=1e-12)
    assert np.array_equal(actual.argmax(axis=1), fitted.model.predict(sklearn_rows))


def test_fit_given_same_frames_and_config_returns_identical_weights(
    small_frames: list[pd.DataFrame], small_config: RegimeConfig, small_detector: RegimeDetector
) -> None:
    again = fit_regime_detector(small_frames, small_config)

    for name in ("mean", "scale", "coef", "intercept"):
        assert np.array_equal(getattr(again.weights, name), getattr(small_detector.weights, name)), name


def test_load_given_saved_detector_returns_identical_predictions(
    small_detector: RegimeDetector, small_frames: list[pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "regime.json"
    small_detector.save(path)

    loaded = RegimeDetector.load(path)

    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "rtopt-regime-detector"
    assert loaded.input_names == small_detector.input_names
    assert loaded.metadata == small_detector.metadata
    assert np.array_equal(detect(loaded, small_frames[0]), detect(small_detector, small_frames[0]))


def test_load_given_file_with_other_inputs_raises(small_detector: RegimeDetector, tmp_path: Path) -> None:
    path = tmp_path / "regime.json"
    small_detector.save(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["inputs"]["names"] = document["inputs"]["names"][::-1]
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(ValueError, match="inputs"):
        RegimeDetector.load(path)


def test_predict_given_input_vector_returns_consistent_immutable_estimate(small_detector: RegimeDetector) -> None:
    x = make_rng(5).normal(size=len(small_detector.input_names))
    x[2] = np.nan

    estimate = small_detector.predict(x)

    probs = np.asarray(estimate.probabilities)
    assert probs.shape == (len(REGIMES),)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert estimate.regime is REGIMES[int(np.argmax(probs))]
    assert estimate.confidence == probs.max()
    np.testing.assert_allclose(small_detector.predict_many(x[None, :])[0], probs, rtol=0, atol=1e-12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate.confidence = 0.0  # type: ignore[misc]


def test_tracker_given_a_stream_returns_predict_of_the_streamed_inputs(small_detector: RegimeDetector) -> None:
    # the compiled step (its own inputs and softmax) against InputState's inputs through predict (numpy, BLAS)
    bars = simulate(SimulatorConfig(seed=23, n_bars=400))
    events = events_frame(bars, "bars")
    engine, tracker, inputs = FeatureEngine(), small_detector.tracker(), InputState(small_detector.spec)
    stamps = timestamp_ns(events["timestamp"])
    columns = {name: events[name].to_numpy() for name in EVENT_COLUMNS}

    for t in range(len(events)):
        features = engine.update(int(stamps[t]), *(float(columns[name][t]) for name in EVENT_COLUMNS))
        bar = {"high": columns["high"][t], "low": columns["low"][t], "volume": columns["volume"][t]}
        streamed = tracker.update(features, **bar)
        expected = small_detector.predict(inputs.update(features, **bar))

        assert streamed.regime is expected.regime
        np.testing.assert_allclose(streamed.probabilities, expected.probabilities, rtol=0, atol=1e-12)


def test_tracker_update_regime_given_a_stream_returns_update_regime_also_after_a_deep_copy(
    small_detector: RegimeDetector,
) -> None:
    bars = simulate(SimulatorConfig(seed=22, n_bars=300))
    events = events_frame(bars, "bars")
    engine, fast, full = FeatureEngine(), small_detector.tracker(), small_detector.tracker()
    stamps = timestamp_ns(events["timestamp"])
    columns = {name: events[name].to_numpy() for name in EVENT_COLUMNS}

    for t in range(len(events)):
        features = engine.update(int(stamps[t]), *(float(columns[name][t]) for name in EVENT_COLUMNS))
        if t == 150:
            fast = copy.deepcopy(fast)  # the copy's state must be its own
        bar = {"high": columns["high"][t], "low": columns["low"][t], "volume": columns["volume"][t]}

        assert fast.update_regime(features, **bar) == full.update(features, **bar).regime


def test_predict_given_wrong_input_length_raises(small_detector: RegimeDetector) -> None:
    with pytest.raises(ValueError, match="inputs"):
        small_detector.predict(np.zeros(3))


def test_tracker_given_feature_engine_stream_returns_batch_probabilities(small_detector: RegimeDetector) -> None:
    bars = simulate(SimulatorConfig(seed=21, n_bars=1_500))
    events = events_frame(bars, "bars")
    engine, tracker = FeatureEngine(), small_detector.tracker()
    stamps = timestamp_ns(events["timestamp"])
    columns = {name: events[name].to_numpy() for name in EVENT_COLUMNS}

    streamed = []
    for t in range(len(events)):
        features = engine.update(int(stamps[t]), *(float(columns[name][t]) for name in EVENT_COLUMNS))
        estimate = tracker.update(features, high=columns["high"][t], low=columns["low"][t], volume=columns["volume"][t])
        streamed.append(estimate.probabilities)

    # the two feature engines agree to 1e-9, so the probabilities agree to a little more
    np.testing.assert_allclose(np.asarray(streamed), detect(small_detector, bars), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cut", [10, 400, 1_200])
def test_detect_given_changed_future_bars_returns_unchanged_past_estimates(
    small_detector: RegimeDetector, cut: int
) -> None:
    bars = simulate(SimulatorConfig(seed=8, n_bars=1_500))
    future = bars.copy()
    after = future.index[cut + 1 :]
    factor = make_rng(cut).uniform(0.5, 2.0, len(after))
    for name in ("open", "high", "low", "close", "bid", "ask", "volume"):
        future.loc[after, name] = future.loc[after, name].to_numpy() * factor

    before, changed = detect(small_detector, bars), detect(small_detector, future)

    assert np.array_equal(before[: cut + 1], changed[: cut + 1])
    assert not np.array_equal(before[cut + 1 :], changed[cut + 1 :])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"row_stride": 0}, "row_stride"),
        ({"l2_c": float("nan")}, "l2_c"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"baseline_halflife": 5.0}, "baseline_halflife"),
        ({"use_quotes": "yes"}, "use_quotes"),
    ],
)
def test_regime_config_given_invalid_field_raises_naming_it(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RegimeConfig(**fields)  # type: ignore[arg-type]


def test_fit_given_frames_missing_a_regime_raises(small_frames: list[pd.DataFrame]) -> None:
    frame = small_frames[0]
    without_breakouts = frame[frame["regime"] != "breakout"].reset_index(drop=True)

    with pytest.raises(ValueError, match="breakout"):
        fit_regime_detector([without_breakouts], RegimeConfig())
