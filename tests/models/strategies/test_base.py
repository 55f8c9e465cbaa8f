"""The shared strategy contract: the prepared feature reader against ``read``, and its reused warm-up signals."""

from __future__ import annotations

import math

import pytest

from models.strategies.base import FeatureReader, inactive, read

NAN, INF = math.nan, math.inf
NAMES = ("ret_15", "rvol_60", "ma_cross")


def test_feature_reader_given_defined_features_returns_read_values() -> None:
    features = {"ret_15": 0.01, "rvol_60": 2, "ma_cross": -0.5, "other": NAN}

    values, warm = FeatureReader("momentum", *NAMES)(features)

    assert (values, warm) == read(features, "momentum", *NAMES)
    assert all(type(v) is float for v in values)


def test_feature_reader_given_one_name_returns_one_value_tuple() -> None:
    assert FeatureReader("mean_reversion", "zscore_30")({"zscore_30": 1.5}) == ((1.5,), None)


def test_feature_reader_given_nan_features_returns_reused_inactive_signal_with_read_reason() -> None:
    reader = FeatureReader("momentum", *NAMES)
    features = {"ret_15": NAN, "rvol_60": 0.01, "ma_cross": NAN}

    _, first = reader(features)
    _, second = reader({**features, "rvol_60": 0.02})

    _, reason = read(features, "momentum", *NAMES)
    assert reason is not None
    assert first == inactive("momentum", reason)
    assert second is first
    assert "ret_15, ma_cross undefined" in first.reason


def test_feature_reader_given_opposite_infinities_returns_no_warm_up() -> None:
    values, warm = FeatureReader("momentum", *NAMES)({"ret_15": INF, "rvol_60": -INF, "ma_cross": 0.0})

    assert values == (INF, -INF, 0.0)
    assert warm is None


def test_feature_reader_given_missing_feature_returns_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match=r"momentum: features \['ma_cross'\] are missing"):
        FeatureReader("momentum", *NAMES)({"ret_15": 0.01, "rvol_60": 0.01})
