"""Regime-aware drift: a regime switch alone is not drift, a shift within a regime is, Evidently failing raises."""

from __future__ import annotations

from pathlib import Path

import evidently
import numpy as np
import pandas as pd
import pytest

import serving.monitoring.drift as drift_module
from models.seeding import make_rng
from serving.monitoring import DriftConfig, DriftReportError, drift_report, match_regimes, split_reference_window

FEATURES = ("ret_1", "vol_20", "spread", "volume_z")
# Per regime: feature means and scales; the two regimes differ in every feature, as trend and calm markets do.
REGIMES = {"sideways": (np.zeros(4), np.ones(4)), "high_vol": (np.array([0.5, 3.0, 2.0, 1.5]), np.full(4, 2.0))}


def _rows(regime: str, n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, list[str]]:
    mean, scale = REGIMES[regime]
    values = make_rng(seed).normal(mean + shift * scale, scale, size=(n, len(FEATURES)))
    return pd.DataFrame(values, columns=list(FEATURES)), [regime] * n


def _training() -> tuple[pd.DataFrame, list[str]]:
    """Training reference: 2,000 sideways rows then 1,000 high-volatility rows."""
    calm, calm_r = _rows("sideways", 2_000, 0)
    wild, wild_r = _rows("high_vol", 1_000, 1)
    return pd.concat([calm, wild], ignore_index=True), calm_r + wild_r


def test_drift_report_given_regime_switch_with_unchanged_regime_distribution_returns_not_drifted(
    tmp_path: Path,
) -> None:
    reference, regimes_ref = _training()
    current, regimes_cur = _rows("high_vol", 1_000, 2)

    aware = drift_report(reference, current, regimes_ref, regimes_cur, tmp_path / "aware")
    naive = drift_report(reference, current, ["all"] * len(reference), ["all"] * len(current), tmp_path / "naive")

    assert not aware.drifted
    assert aware.share <= 0.25  # sampling noise may tip one feature over 0.1, never the window
    assert aware.regimes == {"high_vol": 1.0}
    assert aware.reference_rows == 1_000
    assert naive.drifted and naive.share == 1.0
    assert max(aware.scores.values()) < 0.5 * min(naive.scores.values())


def test_drift_report_given_shift_within_regime_returns_drifted_with_scores_and_html(tmp_path: Path) -> None:
    reference, regimes_ref = _training()
    current, regimes_cur = _rows("high_vol", 500, 2, shift=0.5)

    outcome = drift_report(reference, current, regimes_ref, regimes_cur, tmp_path)

    assert outcome.drifted
    assert outcome.share == 1.0
    assert set(outcome.scores) == set(FEATURES)
    assert all(s > 0.3 for s in outcome.scores.values()), outcome.scores
    assert outcome.html.stat().st_size > 10_000
    assert "high_vol" in outcome.reason


def test_match_regimes_given_mixed_window_returns_reference_with_the_window_regime_mix() -> None:
    reference, regimes_ref = _training()
    calm, calm_r = _rows("sideways", 300, 3)
    wild, wild_r = _rows("high_vol", 100, 4)

    matched = match_regimes(
        reference, pd.concat([calm, wild], ignore_index=True), regimes_ref, calm_r + wild_r, DriftConfig()
    )

    assert matched.shares == {"sideways": 0.75, "high_vol": 0.25}
    # the largest 3:1 sample of 2,000 calm rows (floored per regime)
    assert matched.reference.index.size == 1_999 + 666
    assert len(matched.current) == 400
    assert (matched.reference["vol_20"] > 1.5).mean() == pytest.approx(0.25, abs=0.03)  # high_vol rows sit near 3
    assert matched.unseen == {}


def test_drift_report_given_mostly_unseen_regime_returns_drifted_with_unseen_share(tmp_path: Path) -> None:
    reference, regimes_ref = _training()
    calm, calm_r = _rows("sideways", 200, 5)
    novel = calm.copy()

    outcome = drift_report(
        reference, pd.concat([calm, novel], ignore_index=True), regimes_ref, calm_r + ["breakout"] * 200, tmp_path
    )

    assert outcome.unseen_regimes == {"breakout": 0.5}
    assert outcome.drifted_features == ()
    assert outcome.drifted
    assert "unseen 50%" in outcome.reason


def test_drift_report_given_only_unseen_regimes_raises(tmp_path: Path) -> None:
    reference, regimes_ref = _training()
    current, _ = _rows("sideways", 100, 6)

    with pytest.raises(DriftReportError, match="nothing to compare"):
        drift_report(reference, current, regimes_ref, ["breakout"] * 100, tmp_path)


def test_drift_report_given_empty_current_window_raises(tmp_path: Path) -> None:
    reference, regimes_ref = _training()

    with pytest.raises(DriftReportError, match="empty"):
        drift_report(reference, reference.iloc[:0], regimes_ref, [], tmp_path)


def test_drift_report_given_evidently_raising_raises_drift_report_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenReport:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def run(self, **kwargs: object) -> None:
            raise MemoryError("evidently ran out of memory")

    monkeypatch.setattr(evidently, "Report", BrokenReport)
    reference, regimes_ref = _training()
    current, regimes_cur = _rows("high_vol", 500, 2)

    with pytest.raises(DriftReportError, match=r"Evidently failed.*out of memory"):
        drift_report(reference, current, regimes_ref, regimes_cur, tmp_path)
    assert not (tmp_path / drift_module.HTML_NAME).exists()


def test_parse_result_given_result_without_per_feature_scores_raises() -> None:
    with pytest.raises(DriftReportError, match="no drift score"):
        drift_module.parse_result({"metrics": [], "tests": []}, list(FEATURES))


def test_split_reference_window_given_table_returns_training_split_and_last_rows() -> None:
    table = pd.DataFrame({"x": np.arange(100.0)})
    labels = [f"r{i % 3}" for i in range(100)]

    split = split_reference_window(table, labels, window_rows=30)

    assert split.reference["x"].tolist() == list(np.arange(60.0))
    assert split.current["x"].tolist() == list(np.arange(70.0, 100.0))
    assert split.regimes_cur == labels[70:]
    with pytest.raises(ValueError, match="after the training rows"):
        split_reference_window(table, labels, window_rows=41)
