"""``rtopt backtest`` in-process through ``main(argv)``: trained on the file's first part, or the champion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.marketdata.samples import SAMPLES
from orchestration.cli import main

BTC_FILE = next(s for s in SAMPLES if s.symbol == "BTC-PERP").paths[0]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = {
    "symbol",
    "kind",
    "events",
    "decisions",
    "rejected",
    "window",
    "metrics",
    "counts",
    "model_versions",
    "events_per_s",
    "final",
    "models",
    "data",
}


def test_backtest_given_train_fraction_writes_metrics_json_and_equity_png(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    argv = ["backtest", "--data", str(BTC_FILE), "--symbol", "BTC-PERP", "--train-fraction", "0.6"]

    code = main([*argv, "--agent-steps", "256", "--json", str(out_json), "--plot", str(out_png)])

    out = capsys.readouterr().out
    body = json.loads(out_json.read_text())
    assert code == 0
    assert set(body) >= SUMMARY_KEYS
    assert body["events"] == 10_080 - int(10_080 * 0.6)
    assert {"decision_engine", "flat", "buy_and_hold", "random_arm[seed=0]"} <= set(body["metrics"])
    assert {"actions", "hold_reasons", "strategies"} <= set(body["counts"])
    assert body["models"]["source"] == "trained" and body["models"]["train_rows"] == int(10_080 * 0.6)
    assert set(body["model_versions"]) == {"regime", "bandit", "actor"}
    assert out_png.read_bytes()[:8] == PNG_SIGNATURE
    assert "(50%)" in out and "(100%)" in out
    assert "decision_engine" in out and "buy_and_hold" in out


def test_backtest_given_no_champion_in_a_fresh_home_exits_nonzero_and_says_what_to_run(
    rtopt_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backtest", "--data", str(BTC_FILE), "--symbol", "BTC-PERP"])

    err = capsys.readouterr().err
    assert code != 0
    assert "no champion" in err and "make demo" in err and "--train-fraction" in err
    assert "Traceback" not in err


def test_backtest_given_a_train_fraction_outside_0_1_exits_nonzero(
    rtopt_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backtest", "--data", str(BTC_FILE), "--symbol", "BTC-PERP", "--train-fraction", "1.5"])

    assert code == 2
    assert "--train-fraction" in capsys.readouterr().err
