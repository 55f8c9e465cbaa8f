"""The protocol is pinned, splits are chronological, and walk-forward folds never see their own test window."""

from __future__ import annotations

import dataclasses
import itertools

import pandas as pd
import pytest

from models.env import ExecutionConfig, MarketReplay
from models.evaluation import (
    PROTOCOL_V1,
    EvaluationProtocol,
    Fold,
    split,
    split_bounds,
    walk_forward_folds,
)


def test_protocol_v1_given_code_returns_the_values_fixed_before_any_result() -> None:
    # Changing any of these is a new protocol version: this test makes the change visible in review.
    expected = EvaluationProtocol(
        version="v1",
        train_fraction=0.6,
        validation_fraction=0.2,
        test_fraction=0.2,
        n_folds=4,
        embargo_bars=0,
        seeds=(0, 1, 2),
        execution=ExecutionConfig(),
        entry_factor=1.0,
        exit_factor=1.0,
        bars_per_year=525_600.0,
        risk_free_rate=0.0,
    )
    assert expected == PROTOCOL_V1
    assert PROTOCOL_V1.bars_per_year == 365 * 24 * 60


def test_protocol_given_assignment_returns_frozen_error() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROTOCOL_V1.n_folds = 2  # type: ignore[misc]


def test_protocol_given_unknown_field_returns_type_error() -> None:
    with pytest.raises(TypeError):
        EvaluationProtocol(test_share=0.2)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"test_fraction": 0.3}, "sum to 1"),
        ({"train_fraction": 0.0, "validation_fraction": 0.8}, "train_fraction"),
        ({"n_folds": 0}, "n_folds"),
        ({"seeds": ()}, "seeds"),
        ({"seeds": (1, 1)}, "distinct"),
        ({"bars_per_year": 0.0}, "bars_per_year"),
        ({"entry_factor": 1.5}, "entry_factor"),
    ],
)
def test_protocol_given_invalid_field_returns_error_naming_it(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EvaluationProtocol(**overrides)  # type: ignore[arg-type]


def test_split_bounds_given_one_week_of_minutes_returns_contiguous_60_20_20_parts() -> None:
    parts = split_bounds(10_080)

    assert (parts.train, parts.validation, parts.test) == (range(0, 6048), range(6048, 8064), range(8064, 10_080))


def test_split_bounds_given_too_few_rows_returns_error() -> None:
    with pytest.raises(ValueError, match="2 per fold"):
        split_bounds(20)


def test_split_given_frame_returns_chronological_parts_that_rebuild_it() -> None:
    times = pd.date_range("2022-01-03", periods=50, freq="min", tz="UTC")
    frame = pd.DataFrame({"timestamp": times, "close": range(50)})

    train, validation, test = split(frame)

    assert (len(train), len(validation), len(test)) == (30, 10, 10)
    assert train["timestamp"].max() < validation["timestamp"].min()
    assert validation["timestamp"].max() < test["timestamp"].min()
    pd.testing.assert_frame_equal(pd.concat([train, validation, test]), frame)


def test_split_given_unsorted_frame_returns_error() -> None:
    times = pd.date_range("2022-01-03", periods=50, freq="min", tz="UTC")
    frame = pd.DataFrame({"timestamp": times[::-1], "close": range(50)})

    with pytest.raises(ValueError, match="non-decreasing"):
        split(frame)


def test_split_given_replay_returns_parts_in_time_order(btc_replay: MarketReplay) -> None:
    train, validation, test = split(btc_replay)

    assert (len(train), len(validation), len(test)) == (6048, 2016, 2016)
    assert train.timestamps_ns[-1] < validation.timestamps_ns[0] < validation.timestamps_ns[-1] < test.timestamps_ns[0]


@pytest.mark.parametrize("embargo", [0, 5])
def test_walk_forward_folds_given_protocol_returns_folds_that_never_overlap_their_training(embargo: int) -> None:
    protocol = EvaluationProtocol(n_folds=4, embargo_bars=embargo)
    parts = split_bounds(10_080, protocol)

    folds = walk_forward_folds(10_080, protocol)

    assert [f.index for f in folds] == [0, 1, 2, 3]
    for fold in folds:
        assert fold.train.start == 0
        assert fold.train.stop == fold.test.start - embargo  # expanding window, strictly before the test
        assert not set(fold.train) & set(fold.test)
    assert folds[0].test.start == parts.test.start
    assert folds[-1].test.stop == parts.test.stop
    for earlier, later in itertools.pairwise(folds):
        assert earlier.test.stop == later.test.start  # chronological and contiguous
        assert earlier.train.stop < later.train.stop  # the window expands
    assert sorted(len(f.test) for f in folds) == [504, 504, 504, 504]


def test_walk_forward_folds_given_any_fold_returns_training_before_the_test_part() -> None:
    parts = split_bounds(10_080)
    first = walk_forward_folds(10_080)[0]

    assert first.train == range(0, parts.test.start)  # train + validation, none of the test part


def test_fold_given_overlapping_training_returns_error() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        Fold(index=0, train=range(0, 11), test=range(10, 20))
