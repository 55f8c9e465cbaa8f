"""``run_backtest``: the held-out BTC-PERP bars through the DecisionEngine, scored beside the baselines.

The session bundle (``decision_bundle_dir``) was trained on the first 60% of the shipped week; every
backtest here runs on the last 40%, the part it never saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.evaluation.protocol import PROTOCOL_V1
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import TIME, DataKind
from models.strategies import build_strategies
from serving.decision.backtest import (
    ENGINE_POLICY,
    BacktestConfig,
    BacktestOutcome,
    run_backtest,
    write_json,
    write_plot,
)
from serving.decision.bundle import ModelBundle, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import HoldReason

SYMBOL = "BTC-PERP"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    sample = next(s for s in SAMPLES if s.symbol == SYMBOL)
    frame = sample.load().frame
    return frame.iloc[int(len(frame) * 0.6) :]


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


@pytest.fixture(scope="module")
def outcome(held_out: pd.DataFrame, bundle: ModelBundle) -> BacktestOutcome:
    return run_backtest(held_out, DataKind.BARS, SYMBOL, bundle)


def test_run_backtest_given_held_out_btc_returns_metrics_for_engine_and_every_baseline(
    outcome: BacktestOutcome,
) -> None:
    arms = [s.name for s in build_strategies()]
    expected = [ENGINE_POLICY, "flat", "buy_and_hold", *(f"strategy:{a}" for a in arms)]
    expected += [f"random_arm[seed={s}]" for s in PROTOCOL_V1.seeds]

    assert list(outcome.metrics) == expected
    assert list(outcome.curves) == expected
    assert all(m.bars == len(outcome.window) - 1 for m in outcome.metrics.values())
    assert all(len(curve) == len(outcome.window) for curve in outcome.curves.values())
    flat = outcome.metrics["flat"]
    assert (flat.total_return, flat.trade_count) == (0.0, 0)
    assert outcome.metrics[ENGINE_POLICY].trade_count > 0
    assert outcome.rejected == {}


def test_run_backtest_given_held_out_btc_records_one_equity_point_per_event(
    outcome: BacktestOutcome, held_out: pd.DataFrame
) -> None:
    n = len(held_out)
    max_notional = EngineConfig().broker.max_notional

    assert len(outcome.decisions) == len(outcome.equity) == len(outcome.positions) == len(outcome.timestamps_ns) == n
    assert outcome.equity[-1] == pytest.approx(1.0 + outcome.final_status["total_pnl"] / max_notional)
    assert np.all(np.abs(outcome.positions) <= 1.0)
    # an event's fills come before its decision: the position recorded at event i is what decision i started from
    starts = np.array([d.previous_position for d in outcome.decisions])
    np.testing.assert_array_equal(outcome.positions, starts)


def test_run_backtest_given_feature_warm_up_scores_from_the_engines_first_decision(outcome: BacktestOutcome) -> None:
    warming = [d.hold_reason is HoldReason.WARMING_UP for d in outcome.decisions]

    assert outcome.window.start == sum(warming) == warming.index(False)
    assert outcome.window.stop == len(outcome.decisions)
    assert outcome.curves[ENGINE_POLICY][0] == 1.0


def test_run_backtest_given_buy_and_hold_returns_the_close_to_close_move_less_one_entry_cost(
    outcome: BacktestOutcome, held_out: pd.DataFrame
) -> None:
    close = held_out["close"].to_numpy()
    gross = close[-1] / close[outcome.window.start] - 1.0
    net = outcome.metrics["buy_and_hold"].total_return
    # one full entry: fee 2 bps + impact 5 bps + half the 1 bp fallback spread + volatility slippage
    entry_cost = gross - net

    assert 5e-4 < entry_cost < 15e-4


def test_run_backtest_given_the_same_input_twice_returns_identical_decisions_and_metrics(
    outcome: BacktestOutcome, held_out: pd.DataFrame, bundle: ModelBundle
) -> None:
    again = run_backtest(held_out, DataKind.BARS, SYMBOL, bundle)

    assert [d.comparable() for d in again.decisions] == [d.comparable() for d in outcome.decisions]
    assert again.metrics_table() == outcome.metrics_table()
    np.testing.assert_array_equal(again.equity, outcome.equity)


def test_run_backtest_given_payloads_fed_by_hand_returns_the_python_apis_decisions(
    outcome: BacktestOutcome, bundle: ModelBundle, btc_events: list[dict[str, object]]
) -> None:
    engine = DecisionEngine(bundle, EngineConfig(clock="market", symbols=frozenset({SYMBOL})))

    by_hand = [engine.process(payload).comparable() for payload in btc_events]

    assert by_hand == [d.comparable() for d in outcome.decisions]


def test_run_backtest_given_an_out_of_order_row_counts_it_and_scores_the_rest(
    held_out: pd.DataFrame, bundle: ModelBundle
) -> None:
    part = held_out.iloc[:400].copy()
    part.iloc[200, part.columns.get_loc(TIME)] = part[TIME].iloc[150]

    result = run_backtest(part, DataKind.BARS, SYMBOL, bundle)

    assert dict(result.rejected) == {"late": 1}
    assert len(result.decisions) == len(result.timestamps_ns) == 399
    assert all(m.bars == len(result.window) - 1 for m in result.metrics.values())


def test_write_json_given_an_outcome_writes_strict_json_with_undefined_ratios_as_null(
    outcome: BacktestOutcome, tmp_path: Path
) -> None:
    body = json.loads(write_json(outcome, tmp_path / "out.json", {"models": {"source": "test"}}).read_text())

    assert set(body["metrics"]) == set(outcome.metrics)
    assert body["metrics"]["flat"]["sharpe"] is None
    assert sum(body["counts"]["actions"].values()) == len(outcome.decisions)
    assert body["model_versions"] == dict(outcome.model_versions)
    assert body["events_per_s"] > 0 and body["models"] == {"source": "test"}


def test_write_plot_given_an_outcome_writes_a_png(outcome: BacktestOutcome, tmp_path: Path) -> None:
    path = write_plot(outcome, tmp_path / "plots" / "equity.png")

    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_backtest_config_given_the_wall_clock_raises() -> None:
    with pytest.raises(ValueError, match="market clock"):
        BacktestConfig(engine=EngineConfig(clock="wall"))
