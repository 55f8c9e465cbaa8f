"""`rtopt kill`, `rtopt resume`, `rtopt risk status`: the kill file reaches running and restarted monitors."""

from __future__ import annotations

import argparse
import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from orchestration.risk_cli import RISK_COMMANDS, add_command, run_risk_command
from orchestration.settings import Settings, load_settings
from serving.safety.kill_switch import KillSwitchStore, kill_switch_path
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import DenyReason, OrderRequest, PortfolioView, TradingState

T0 = 1_700_000_000 * 10**9


def rtopt(argv: list[str], settings: Settings) -> int:
    """What ``rtopt`` does with these commands once ``orchestration.cli`` registers them."""
    parser = argparse.ArgumentParser(prog="rtopt")
    add_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.command in RISK_COMMANDS
    return run_risk_command(args, settings)


@pytest.fixture
def settings(rtopt_home: Path) -> Settings:
    return load_settings(probe_redis=False)


def monitor(settings: Settings) -> PreTradeRisk:
    store = KillSwitchStore(kill_switch_path(settings.home))
    return PreTradeRisk(RiskLimits(), store=store, poll_interval=timedelta(0))


def order(n: int) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-PERP",
        strategy="trend",
        delta=0.1,
        quantity=0.01,
        limit_price=math.nan,
        reference_mid=50_000.0,
        timestamp_ns=T0 + n,
        market_data_ns=T0 + n,
        idempotency_key=f"cli-{n}",
    )


def test_kill_given_a_running_engine_halts_its_next_order_and_a_restarted_one(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    running = monitor(settings)
    assert running.check(order(1), PortfolioView(), T0).allowed

    code = rtopt(["kill", "--cause", "venue outage", "--by", "ops:alice"], settings)

    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["halted"] is True and out["cause"] == "venue outage" and out["by"] == "ops:alice"
    assert running.check(order(2), PortfolioView(), T0).reason is DenyReason.HALTED
    assert running.events[-1].cause == "kill file: venue outage"
    assert monitor(settings).state is TradingState.HALTED


def test_resume_given_a_halted_engine_lets_orders_through_again(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    rtopt(["kill", "--cause", "drill"], settings)
    running = monitor(settings)
    assert running.state is TradingState.HALTED
    capsys.readouterr()

    code = rtopt(["resume", "--by", "bob", "--cause", "drill over"], settings)

    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["halted"] is False and out["by"] == "bob" and out["seq"] == 2
    assert running.check(order(1), PortfolioView(), T0).allowed
    assert running.events[-1].by == "bob" and running.events[-1].state is TradingState.ACTIVE
    assert monitor(settings).state is TradingState.ACTIVE


def test_risk_status_given_no_kill_yet_reports_the_switch_off_and_then_who_killed(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    rtopt(["risk", "status"], settings)
    before = json.loads(capsys.readouterr().out)
    rtopt(["kill", "--cause", "limit breach on ETH"], settings)
    capsys.readouterr()

    rtopt(["risk", "status"], settings)

    after = json.loads(capsys.readouterr().out)
    assert before["kill_switch"] == "off" and before["seq"] == 0
    assert after["halted"] is True and after["seq"] == 1 and after["by"].startswith("cli")
    assert after["file"] == str(kill_switch_path(settings.home))


def test_kill_given_an_empty_cause_raises_and_resume_without_a_person_is_a_usage_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="cause"):
        rtopt(["kill", "--cause", " "], settings)
    with pytest.raises(SystemExit):
        rtopt(["resume", "--cause", "no name given"], settings)
    assert not KillSwitchStore(kill_switch_path(settings.home)).read().halted
