"""The veto endpoints over real gates: 401, 403, 404, 409, 422 and 200, one gate or one per shard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.safety.auth import TokenAuth
from serving.safety.veto import PendingVeto, VetoGate, VetoRequest, VetoRules
from serving.safety.veto_http import (
    GateBackend,
    HandleVetoBackend,
    ShardedVetoBackend,
    VetoBackend,
    list_answer,
    resolve_answer,
    veto_router,
)

ENV = {
    "RTOPT_TOKEN_ADMIN": "admin-token-0123456789",
    "RTOPT_TOKEN_RISK": "risk-token-0123456789",
    "RTOPT_TOKEN_TRADER": "trader-token-0123456789",
}
RISK = {"Authorization": f"Bearer {ENV['RTOPT_TOKEN_RISK']}"}
TRADER = {"Authorization": f"Bearer {ENV['RTOPT_TOKEN_TRADER']}"}
ANSWER = {"reason": "checked with the desk", "by": "risk:carol"}


def app_over(backend: VetoBackend) -> TestClient:
    app = FastAPI()
    app.include_router(veto_router(backend, TokenAuth.from_env(ENV)))
    return TestClient(app)


def hold(gate: VetoGate, n: int = 1, symbol: str = "BTC-PERP", proposer: str = "engine") -> PendingVeto:
    request = VetoRequest(
        decision_id=f"{symbol}:{n}:e{n}:champion",
        symbol=symbol,
        strategy="trend",
        previous_position=0.0,
        position_size=0.8,
        confidence=0.9,
        explored=True,
        propensity=0.05,
        regime="sideways",
        proposer=proposer,
    )
    veto = gate.review(request)
    assert veto is not None
    return veto


@pytest.fixture
def gate() -> VetoGate:
    return VetoGate(VetoRules(max_size=0.5))


@pytest.fixture
def client(gate: VetoGate) -> TestClient:
    return app_over(GateBackend(gate))


def test_list_given_no_token_returns_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/v1/vetoes")

    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_list_given_a_trader_token_returns_200_with_the_pending_vetoes(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)

    response = client.get("/v1/vetoes", headers=TRADER)

    assert response.status_code == 200
    assert response.json() == {"pending": [veto.to_dict()], "resolved": []}


def test_approve_given_no_token_returns_401(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)

    response = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json=ANSWER)

    assert response.status_code == 401 and gate.pending() == (veto,)


def test_approve_given_an_unknown_token_returns_401(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)

    response = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json=ANSWER, headers={"Authorization": "Bearer x"})

    assert response.status_code == 401


def test_approve_given_a_trader_token_returns_403(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)

    response = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json=ANSWER, headers=TRADER)

    assert response.status_code == 403 and "trader may not resolve_veto" in response.json()["detail"]
    assert gate.pending() == (veto,)


def test_approve_given_the_proposer_as_approver_returns_403(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate, proposer="trader:dan")

    response = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json={**ANSWER, "by": "trader:dan"}, headers=RISK)

    assert response.status_code == 403 and "proposer" in response.json()["detail"]
    assert gate.pending() == (veto,)


def test_approve_given_an_unknown_id_returns_404(client: TestClient) -> None:
    response = client.post("/v1/vetoes/0123456789abcdef/approve", json=ANSWER, headers=RISK)

    assert response.status_code == 404


def test_approve_given_a_risk_token_returns_200_and_a_second_answer_409(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)

    first = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json=ANSWER, headers=RISK)
    second = client.post(f"/v1/vetoes/{veto.veto_id}/reject", json=ANSWER, headers=RISK)

    assert first.status_code == 200
    resolution = first.json()["resolution"]
    assert (resolution["outcome"], resolution["by"], resolution["role"], resolution["reason"]) == (
        "approved",
        "risk:carol",
        "risk",
        "checked with the desk",
    )
    assert resolution["veto"]["request"]["propensity"] == 0.05
    assert second.status_code == 409 and gate.resolved()[0].to_dict() == resolution


def test_reject_given_an_admin_token_returns_200_and_masks_the_strategy(gate: VetoGate, client: TestClient) -> None:
    veto = hold(gate)
    admin = {"Authorization": f"Bearer {ENV['RTOPT_TOKEN_ADMIN']}"}

    response = client.post(f"/v1/vetoes/{veto.veto_id}/reject", json=ANSWER, headers=admin)

    assert response.status_code == 200 and response.json()["resolution"]["outcome"] == "rejected"
    assert gate.masked_arms("BTC-PERP") == {"trend"}


@pytest.mark.parametrize("body", [None, [], {"reason": "ok"}, {"reason": "ok", "by": 3}, {"reason": " ", "by": "x"}])
def test_approve_given_a_bad_body_returns_422(gate: VetoGate, client: TestClient, body: Any) -> None:
    veto = hold(gate)

    response = client.post(f"/v1/vetoes/{veto.veto_id}/approve", json=body, headers=RISK)

    assert response.status_code == 422 and gate.pending() == (veto,)


class StubMethod:
    """What ``handle.method.remote(...)`` gives in Ray Serve: something to await."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        async def answer() -> Any:
            return self.function(*args, **kwargs)

        return answer()


class StubShardHandle:
    """A shard deployment's two veto methods, as the lead adds them to ``DecisionShard``."""

    def __init__(self, gate: VetoGate) -> None:
        self.vetoes = StubMethod(lambda: list_answer(gate))
        self.resolve_veto = StubMethod(lambda *args, **kwargs: resolve_answer(gate, *args, **kwargs))


def test_sharded_backend_given_a_veto_on_the_second_shard_resolves_it_there() -> None:
    shards = [VetoGate(VetoRules(max_size=0.5)) for _ in range(2)]
    first, second = hold(shards[0], symbol="BTC-PERP"), hold(shards[1], symbol="ETH-PERP")
    client = app_over(ShardedVetoBackend([HandleVetoBackend(StubShardHandle(g)) for g in shards]))

    listed = client.get("/v1/vetoes", headers=RISK).json()
    approved = client.post(f"/v1/vetoes/{second.veto_id}/approve", json=ANSWER, headers=RISK)
    unknown = client.post("/v1/vetoes/0123456789abcdef/approve", json=ANSWER, headers=RISK)

    assert [v["veto_id"] for v in listed["pending"]] == [first.veto_id, second.veto_id]
    assert approved.status_code == 200 and shards[1].pending() == () and shards[0].pending() == (first,)
    assert unknown.status_code == 404


def test_sharded_backend_given_no_backends_raises() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ShardedVetoBackend([])
