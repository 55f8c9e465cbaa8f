"""`rtopt kill`, `rtopt resume`, `rtopt risk status`: the kill file reaches running and restarted monitors; with
``--url`` the commands call a running app with a role token."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orchestration.risk_cli import RISK_COMMANDS, add_command, run_risk_command
from orchestration.settings import Settings, load_settings
from orchestration.veto_cli import VetoClientError
from serving.safety.auth import ENDPOINTS, AuthError, TokenAuth, audit_name
from serving.safety.kill_switch import KillSwitchStore, kill_switch_path
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import DenyReason, OrderRequest, PortfolioView, TradingState
from serving.safety.veto_http import denied
from tests.orchestration.local_http import serving

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


TOKENS = {
    "RTOPT_TOKEN_ADMIN": "admin-token-0123456789",
    "RTOPT_TOKEN_RISK": "risk-token-0123456789",
    "RTOPT_TOKEN_TRADER": "trader-token-0123456789",
}


def admin_app(risk: PreTradeRisk) -> FastAPI:
    """The Serve ingress's kill and resume routes over one monitor: same auth table, same audit names."""
    app, auth = FastAPI(), TokenAuth.from_env(TOKENS)

    async def act(request: Request, route: str) -> JSONResponse:
        principal = auth.authorize(request.headers.get("authorization"), ENDPOINTS[route])
        if isinstance(principal, AuthError):
            return denied(principal)
        body = await request.json()
        by = audit_name(principal, body["by"])
        if route.endswith("kill"):
            risk.kill(body["cause"], by=by)
        else:
            risk.resume(body["cause"], by)
        return JSONResponse({"shards": [risk.state.value]})

    @app.post("/v1/admin/kill")
    async def kill(request: Request) -> JSONResponse:
        return await act(request, "POST /v1/admin/kill")

    @app.post("/v1/admin/resume")
    async def resume(request: Request) -> JSONResponse:
        return await act(request, "POST /v1/admin/resume")

    return app


@pytest.fixture
def served() -> Iterator[tuple[str, PreTradeRisk]]:
    risk = PreTradeRisk(RiskLimits())
    with serving(admin_app(risk)) as url:
        yield url, risk


def test_kill_and_resume_given_url_call_the_app_with_the_role_token_and_audit_role_and_name(
    settings: Settings, served: tuple[str, PreTradeRisk], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, risk = served
    for name, token in TOKENS.items():
        monkeypatch.setenv(name, token)

    rtopt(
        ["kill", "--cause", "venue outage", "--by", "dan", "--url", url, "--token-env", "RTOPT_TOKEN_TRADER"], settings
    )
    with pytest.raises(VetoClientError) as refused:
        rtopt(["resume", "--cause", "ok", "--by", "dan", "--url", url, "--token-env", "RTOPT_TOKEN_TRADER"], settings)
    halted = risk.state
    rtopt(["resume", "--cause", "venue back", "--by", "carol", "--url", url], settings)

    assert halted is TradingState.HALTED and refused.value.status == 403
    assert [(e.state, e.by) for e in risk.events] == [
        (TradingState.HALTED, "trader:dan"),
        (TradingState.ACTIVE, "risk:carol"),
    ]
    assert not KillSwitchStore(kill_switch_path(settings.home)).path.exists()


def test_kill_given_url_and_an_unknown_token_raises_401(
    settings: Settings, served: tuple[str, PreTradeRisk], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, risk = served
    monkeypatch.setenv("RTOPT_TOKEN_RISK", "not-a-token-of-any-role")

    with pytest.raises(VetoClientError) as refused:
        rtopt(["kill", "--cause", "drill", "--url", url], settings)

    assert refused.value.status == 401 and risk.state is TradingState.ACTIVE
