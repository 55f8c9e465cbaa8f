"""The shard's online drift monitor: PSI of decided features, live PnL vs the backtest, one key per episode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.monitoring.performance import BacktestExpectation, PerformanceRule
from models.monitoring.psi import PsiReference
from models.seeding import make_rng
from serving.decision.records import Action, Decision, HoldReason
from serving.monitoring.online import (
    PSI_FILE,
    ChampionMonitor,
    OnlineDriftConfig,
    load_psi_reference,
    merge_drift,
    save_psi_reference,
)

NAMES = ("ret_1", "vol_20")
CHAMPION = {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1", "actor": "rtopt-ppo/2"}
CONFIG = OnlineDriftConfig(window=400, min_events=200, performance=PerformanceRule(min_decisions=200))


def _decision(ret: float, vol: float, hold: HoldReason = HoldReason.NONE) -> Decision:
    return Decision(
        decision_id="d",
        symbol="BTC-PERP",
        timestamp_ns=1,
        action=Action.HOLD,
        position_size=0.0,
        previous_position=0.0,
        entry_price=float("nan"),
        exit_price=float("nan"),
        confidence=1.0,
        expected_return=0.0,
        risk_score=0.0,
        strategy="",
        regime="sideways",
        hold_reason=hold,
        features={"ret_1": ret, "vol_20": vol, "other": 1.0},
    )


def _monitor(expectation: BacktestExpectation | None = None) -> ChampionMonitor:
    reference = PsiReference.fit(make_rng(0).normal(size=(5_000, 2)), NAMES)
    return ChampionMonitor(CONFIG, CHAMPION, reference, expectation)


def _feed(monitor: ChampionMonitor, shift: float, n: int, pnl: float = 0.0, seed: int = 1) -> None:
    for ret, vol in make_rng(seed).normal(size=(n, 2)):
        monitor.observe(_decision(ret + shift, vol), pnl)


def test_features_given_same_distribution_returns_not_drifted_with_small_psi() -> None:
    monitor = _monitor()
    _feed(monitor, 0.0, 400)

    features = monitor.features()

    assert not features["drifted"] and features["window"] == 400
    assert features["max_psi"] < 0.1
    assert features["since_ns"] is None


def test_features_given_shifted_feature_returns_drifted_naming_it_with_stable_since() -> None:
    monitor = _monitor()
    _feed(monitor, 1.0, 400)

    first, second = monitor.features(), monitor.features()

    assert first["drifted"] and first["psi"]["ret_1"] > 0.25 > first["psi"]["vol_20"]
    assert first["since_ns"] is not None and second["since_ns"] == first["since_ns"]


def test_features_given_shift_but_fewer_than_min_events_returns_not_drifted() -> None:
    monitor = _monitor()
    _feed(monitor, 3.0, 199)

    assert not monitor.features()["drifted"]


def test_observe_given_warming_up_decisions_returns_them_left_out_of_the_window() -> None:
    monitor = _monitor()
    for _ in range(50):
        monitor.observe(_decision(float("nan"), float("nan"), HoldReason.WARMING_UP), 0.0)

    assert monitor.features()["window"] == 0
    assert monitor.live.n == 50


def test_performance_given_live_pnl_far_below_expectation_returns_drifted() -> None:
    monitor = _monitor(BacktestExpectation(mean_bps=1.0, std_bps=5.0, decisions=1_000))
    _feed(monitor, 0.0, 300, pnl=-2.0)

    performance = monitor.performance()

    assert performance["drifted"] and performance["live_mean_bps"] == pytest.approx(-2.0)


def test_performance_given_no_expectation_returns_not_drifted_and_report_says_why() -> None:
    monitor = ChampionMonitor(CONFIG, CHAMPION, None, None, {"performance": "no expectation tagged", "features": ""})
    _feed(monitor, 0.0, 300, pnl=-2.0)

    report = monitor.report()

    assert not report["performance"]["drifted"] and not report["features"]["drifted"]
    assert report["notes"] == {"performance": "no expectation tagged"}


def test_merge_drift_given_one_drifted_shard_returns_drifted_keyed_on_champion_and_episode() -> None:
    drifted, calm = _monitor(), _monitor()
    _feed(drifted, 1.0, 400)
    _feed(calm, 0.0, 400)

    merged = merge_drift([{"shard": 0, "drift": drifted.report()}, {"shard": 1, "drift": calm.report()}])

    since = drifted.features()["since_ns"]
    assert merged["drifted"] and merged["feature_drift"] and not merged["performance_drift"]
    assert merged["key"] == f"1-1-2-{since}"
    assert merged["reasons"][0].startswith("shard 0: max PSI")


def test_merge_drift_given_no_drift_returns_no_key() -> None:
    calm = _monitor()
    _feed(calm, 0.0, 400)

    merged = merge_drift([{"shard": 0, "drift": calm.report()}])

    assert not merged["drifted"] and merged["key"] is None


def test_save_psi_reference_given_training_features_returns_loadable_reference_without_warmup_rows(
    tmp_path: Path,
) -> None:
    features = make_rng(4).normal(size=(500, 2))
    features[:20, 1] = np.nan

    save_psi_reference(tmp_path, features, NAMES)
    reference, note = load_psi_reference(tmp_path)

    assert (tmp_path / PSI_FILE).is_file() and note == ""
    assert reference is not None and reference.reference_rows == 480 and reference.names == NAMES


def test_load_psi_reference_given_actor_without_file_returns_none_and_reason(tmp_path: Path) -> None:
    reference, note = load_psi_reference(tmp_path)

    assert reference is None and PSI_FILE in note
