"""`rtopt veto list|approve|reject` against a local HTTP server that serves the veto routes over a real gate."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from orchestration.settings import Settings, load_settings
from orchestration.veto_cli import VETO_COMMANDS, VetoClientError, add_command, run_veto_command
from serving.safety.auth import Role, TokenAuth
from serving.safety.veto import PendingVeto, VetoGate, VetoOutcome, VetoRequest, VetoRules
from serving.safety.veto_http import GateBackend, veto_router
from tests.orchestration.local_http import serving

ENV = {
    "RTOPT_TOKEN_ADMIN": "admin-token-0123456789",
    "RTOPT_TOKEN_RISK": "risk-token-0123456789",
    "RTOPT_TOKEN_TRADER": "trader-token-0123456789",
}


@pytest.fixture
def settings(rtopt_home: Path) -> Settings:
    return load_settings(probe_redis=False)


@pytest.fixture
def gate() -> VetoGate:
    return VetoGate(VetoRules(max_size=0.5))


@pytest.fixture
def server_url(gate: VetoGate) -> Iterator[str]:
    """A local server serving the veto routes over the gate."""
    app = FastAPI()
    app.include_router(veto_router(GateBackend(gate), TokenAuth.from_env(ENV)))
    with serving(app) as url:
        yield url


@pytest.fixture
def risk_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, token in ENV.items():
        monkeypatch.setenv(name, token)


def rtopt(argv: list[str], settings: Settings) -> int:
    """What ``rtopt`` does with these commands once ``orchestration.cli`` registers them."""
    parser = argparse.ArgumentParser(prog="rtopt")
    add_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.command in VETO_COMMANDS
    return run_veto_command(args, settings)


def hold(gate: VetoGate, n: int = 1) -> PendingVeto:
    request = VetoRequest(
        decision_id=f"BTC-PERP:{n}:e{n}:champion",
        symbol="BTC-PERP",
        strategy="trend",
        previous_position=0.0,
        position_size=0.9,
        confidence=0.8,
        explored=False,
        propensity=0.85,
        regime="breakout",
    )
    veto = gate.review(request)
    assert veto is not None
    return veto


@pytest.mark.usefixtures("risk_token")
def test_list_given_a_pending_veto_prints_it(
    gate: VetoGate, server_url: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    veto = hold(gate)

    code = rtopt(["veto", "list", "--url", server_url], settings)

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"pending": [veto.to_dict()], "resolved": []}


@pytest.mark.usefixtures("risk_token")
def test_approve_given_a_pending_veto_resolves_it_on_the_server(
    gate: VetoGate, server_url: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    veto = hold(gate)
    argv = ["veto", "approve", veto.veto_id, "--reason", "desk agrees", "--by", "risk:carol", "--url", server_url]

    code = rtopt(argv, settings)

    printed = json.loads(capsys.readouterr().out)["resolution"]
    (resolution,) = gate.resolved()
    assert code == 0 and printed == resolution.to_dict()
    assert (resolution.outcome, resolution.by, resolution.reason) == (VetoOutcome.APPROVED, "risk:carol", "desk agrees")


@pytest.mark.usefixtures("risk_token")
def test_reject_given_a_pending_veto_masks_its_strategy(gate: VetoGate, server_url: str, settings: Settings) -> None:
    veto = hold(gate)

    code = rtopt(
        ["veto", "reject", veto.veto_id, "--reason", "no", "--by", "risk:carol", "--url", server_url], settings
    )

    assert code == 0 and gate.masked_arms("BTC-PERP") == {"trend"}


@pytest.mark.usefixtures("risk_token")
@pytest.mark.parametrize(
    ("veto_id", "extra", "status"),
    [
        ("resolved", [], 409),
        ("0123456789abcdef", [], 404),
        ("pending", ["--token-env", "RTOPT_TOKEN_TRADER"], 403),
        ("pending", ["--by", "engine"], 403),
    ],
)
def test_approve_given_a_refusal_raises_with_the_status(
    gate: VetoGate, server_url: str, settings: Settings, veto_id: str, extra: list[str], status: int
) -> None:
    pending, resolved = hold(gate, 1), hold(gate, 2)
    gate.reject(resolved.veto_id, by="admin:erin", role=Role.ADMIN, reason="no")
    target = {"pending": pending.veto_id, "resolved": resolved.veto_id}.get(veto_id, veto_id)
    argv = ["veto", "approve", target, "--reason", "ok", "--by", "risk:carol", "--url", server_url, *extra]

    with pytest.raises(VetoClientError) as raised:
        rtopt(argv, settings)

    assert raised.value.status == status
    assert gate.pending() == (pending,)


@pytest.mark.usefixtures("risk_token")
def test_approve_given_an_unknown_token_raises_401(
    gate: VetoGate, server_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    veto = hold(gate)
    monkeypatch.setenv("RTOPT_TOKEN_RISK", "not-the-risk-token-at-all")

    with pytest.raises(VetoClientError) as raised:
        rtopt(["veto", "approve", veto.veto_id, "--reason", "ok", "--by", "x", "--url", server_url], settings)

    assert raised.value.status == 401 and "token not accepted" in str(raised.value)


def test_list_given_no_token_in_the_environment_raises_naming_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RTOPT_TOKEN_RISK", raising=False)

    with pytest.raises(ValueError, match="RTOPT_TOKEN_RISK"):
        rtopt(["veto", "list"], settings)


@pytest.mark.usefixtures("risk_token")
def test_list_given_no_server_raises_unreachable(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"

    with pytest.raises(VetoClientError, match="not reachable") as raised:
        rtopt(["veto", "list", "--url", closed, "--timeout", "2"], settings)

    assert raised.value.status == 0
