"""The feature checks catch what they claim to: leaks from the future, NaN, out-of-range values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.features import FEATURES, compute_features, feature_names
from models.features.checks import nan_after_warmup, point_in_time, value_ranges

NAMES = feature_names()


def _events(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-02", periods=n, freq="1min", tz="UTC"),
            "close": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "volume": rng.uniform(1, 5, n),
        }
    )


def _leaky(events: pd.DataFrame) -> pd.DataFrame:
    """A centred moving average: it looks one row ahead."""
    out = compute_features(events)
    out["ret_1"] = events["close"].rolling(3, center=True).mean()
    return out


def test_point_in_time_given_batch_engine_returns_passed() -> None:
    outcome = point_in_time(_events(), compute_features, NAMES, cut=120)

    assert outcome.passed
    assert outcome.details["cells_changed"] == 0


def test_point_in_time_given_lookahead_feature_returns_failed() -> None:
    outcome = point_in_time(_events(), _leaky, NAMES, cut=120)

    assert not outcome.passed
    assert outcome.details["cells_changed"] == 1


def test_nan_after_warmup_given_nan_in_tail_returns_failed_naming_feature() -> None:
    features = compute_features(_events())
    features.loc[150, "rsi_14"] = np.nan

    outcome = nan_after_warmup(features, NAMES, 60)

    assert not outcome.passed
    assert outcome.details["rsi_14"] == 1


def test_value_ranges_given_value_outside_bounds_returns_failed_naming_feature() -> None:
    features = compute_features(_events())
    assert value_ranges(features, FEATURES, 60).passed
    features.loc[100, "drawdown_60"] = 0.5

    outcome = value_ranges(features, FEATURES, 60)

    assert not outcome.passed
    assert outcome.details == {"rows_checked": 140, "drawdown_60": 1}
