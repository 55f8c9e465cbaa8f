"""Learning tests under the protocol fixed in ``models.regime.evaluate``, and regime shares on real data.

The claim is strict accuracy on every row of the held-out ``TEST_SEEDS`` frames, with the default
config fitted on ``TRAIN_SEEDS``; no choice was made on the test seeds. Run with ``-s`` to see the reports.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.marketdata.simulator import REGIMES
from models.regime import (
    PROTOCOL_BARS,
    TARGET_ACCURACY,
    TEST_SEEDS,
    RegimeDetector,
    evaluate,
    regime_shares,
    report_markdown,
    simulated_frames,
)
from models.regime.evaluate import lagged_labels, tolerant_hits


@pytest.fixture(scope="module")
def test_frames() -> list[pd.DataFrame]:
    return simulated_frames(TEST_SEEDS, PROTOCOL_BARS)


def test_evaluate_given_held_out_seeds_returns_strict_accuracy_above_target(
    protocol_detector: RegimeDetector, test_frames: list[pd.DataFrame]
) -> None:
    report = evaluate(protocol_detector, test_frames)
    print("\nheld-out, default config (quotes)\n" + report_markdown(report))

    assert report.n_rows == len(TEST_SEEDS) * PROTOCOL_BARS
    assert report.accuracy >= TARGET_ACCURACY
    assert report.tolerant_accuracy >= report.accuracy
    assert sum(map(sum, report.confusion)) == report.n_rows
    assert [sum(row) for row in report.confusion] == list(report.support.values())


def test_evaluate_given_held_out_seeds_without_quotes_returns_strict_accuracy_above_target(
    quote_free_detector: RegimeDetector, test_frames: list[pd.DataFrame]
) -> None:
    report = evaluate(quote_free_detector, test_frames)
    print("\nheld-out, use_quotes=False\n" + report_markdown(report))

    assert report.accuracy >= TARGET_ACCURACY


def test_regime_shares_given_btc_perp_sample_returns_shares_summing_to_one(
    quote_free_detector: RegimeDetector, btc_perp_bars: pd.DataFrame
) -> None:
    shares = regime_shares(quote_free_detector, btc_perp_bars)
    print("\nBTC-PERP 1m, 2022-01-03..09, regime shares:", {k: round(v, 4) for k, v in shares.items()})

    assert list(shares) == [r.value for r in REGIMES]
    assert math.isclose(sum(shares.values()), 1.0, abs_tol=1e-12)
    assert all(0.0 <= v <= 1.0 for v in shares.values())


def test_regime_shares_given_quote_detector_and_bars_without_quotes_raises(
    protocol_detector: RegimeDetector, btc_perp_bars: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match="use_quotes"):
        regime_shares(protocol_detector, btc_perp_bars)


def test_lagged_labels_given_two_switches_returns_bars_since_and_previous_regime() -> None:
    y = np.asarray([0, 0, 2, 2, 2, 5], dtype=np.int64)

    since, before = lagged_labels(y)

    assert since.tolist() == [0, 1, 0, 1, 2, 0]
    assert before.tolist() == [-1, -1, 0, 0, 0, 2]


@pytest.mark.parametrize(("grace_bars", "expected"), [(0, 5), (1, 6), (2, 7), (10, 7)])
def test_tolerant_hits_given_estimate_two_bars_late_returns_grace_credit(grace_bars: int, expected: int) -> None:
    y = np.asarray([0, 0, 0, 2, 2, 2, 2], dtype=np.int64)
    late = np.asarray([0, 0, 0, 0, 0, 2, 2], dtype=np.int64)

    assert tolerant_hits(y, late, grace_bars) == expected


def test_tolerant_hits_given_wrong_regime_after_switch_returns_no_credit() -> None:
    y = np.asarray([0, 0, 2, 2], dtype=np.int64)
    wrong = np.asarray([0, 0, 6, 2], dtype=np.int64)

    assert tolerant_hits(y, wrong, grace_bars=10) == 3
