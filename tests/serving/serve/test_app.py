"""The Serve application over HTTP: decisions, bad input, status, health, metrics, admin auth, hot-swap.

Tests in this module share one running app (tests/serving/serve/conftest.py) and keep to their own
symbols so their per-symbol state does not mix; the hot-swap test moves the champion, so it runs last.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests

from models.marketdata.samples import SAMPLES
from serving.decision.audit import open_audit
from serving.decision.backtest import BacktestConfig, run_backtest
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.registry import load_bundle, register_bundle
from serving.decision.replay import frame_payloads
from serving.safety.auth import ENDPOINTS, Role, permits
from tests.serving.serve.conftest import ROLE_TOKENS, RunningApp

SEED_FIELDS = ("symbol", "action", "position_size", "confidence", "expected_return", "risk_score", "strategy", "vetoed")


def _events(btc_events: list[dict[str, Any]], symbol: str, start: int, n: int) -> list[dict[str, Any]]:
    return [{**e, "symbol": symbol} for e in btc_events[start : start + n]]


def test_same_events_given_http_python_and_backtest_return_identical_decisions(serve_app: RunningApp) -> None:
    """One path, proved: HTTP (first in this module: a fresh app), the Python API and ``rtopt backtest``'s replay."""
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    part = frame.iloc[int(len(frame) * 0.6) :].iloc[:1_500].reset_index(drop=True)
    payloads = frame_payloads(part, "BTC-PARITY")
    over_http: list[dict[str, Any]] = []
    for start in range(0, len(payloads), 500):
        reply = requests.post(f"{serve_app.url}/v1/decisions", json={"events": payloads[start : start + 500]})
        assert reply.status_code == 200
        over_http.extend(reply.json()["decisions"])
    bundle = load_bundle(serve_app.champion, serve_app.home / "python-api-cache")
    engine = DecisionEngine(bundle, EngineConfig(symbols=frozenset({"BTC-PARITY"}), clock="market"))
    in_python = [engine.process(p).comparable() for p in payloads]
    replayed = run_backtest(part, sample.kind, "BTC-PARITY", bundle, BacktestConfig())
    assert [d.comparable() for d in replayed.decisions] == in_python
    assert [{k: v for k, v in d.items() if k != "latency_us"} for d in over_http] == in_python
    assert {d["action"] for d in over_http} >= {"BUY", "SELL", "HOLD"}


def test_post_given_one_event_returns_decision_with_seed_fields(serve_app: RunningApp, btc_events: list) -> None:
    reply = requests.post(f"{serve_app.url}/v1/decisions", json=_events(btc_events, "BTC-PERP", 0, 1)[0], timeout=30)
    assert reply.status_code == 200
    decision = reply.json()["decision"]
    assert all(field in decision for field in SEED_FIELDS)
    assert decision["hold_reason"] == "warming_up"
    assert decision["model_versions"] == serve_app.champion.names()


def test_post_given_batch_returns_one_decision_per_event_in_order(serve_app: RunningApp, btc_events: list) -> None:
    events = _events(btc_events, "BTC-PERP", 1, 300)
    reply = requests.post(f"{serve_app.url}/v1/decisions", json={"events": events}, timeout=60)
    assert reply.status_code == 200
    decisions = reply.json()["decisions"]
    assert [d["timestamp_ns"] for d in decisions] == [e["timestamp_ns"] for e in events]
    # The market clock is the newest event of any symbol: the parity test ran later bars, so these are stale.
    assert {d["hold_reason"] for d in decisions} <= {"warming_up", "stale_features"}
    assert all(d["action"] == "HOLD" and d["position_size"] == 0.0 for d in decisions)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"timestamp_ns": 1, "close": 1.0}, "symbol", "missing_field"),
        ({"symbol": "BTC-PERP", "timestamp_ns": 1, "close": -5.0}, "close", "non_positive_price"),
        ({"symbol": "BTC-PERP", "timestamp_ns": 1, "close": "abc"}, "close", "bad_type"),
        ({"symbol": "BTC-PERP", "timestamp_ns": 1, "bid": 10.0, "ask": 9.0}, "bid", "crossed_quote"),
    ],
)
def test_post_given_invalid_event_returns_422_naming_field(
    serve_app: RunningApp, payload: dict[str, Any], field: str, reason: str
) -> None:
    reply = requests.post(f"{serve_app.url}/v1/decisions", json=payload, timeout=30)
    assert reply.status_code == 422
    assert reply.json()["detail"]["field"] == field
    assert reply.json()["detail"]["reason"] == reason


def test_post_given_unknown_symbol_returns_404_with_reason(serve_app: RunningApp) -> None:
    reply = requests.post(f"{serve_app.url}/v1/decisions", json={"symbol": "DOGE", "timestamp_ns": 1, "close": 1.0})
    assert reply.status_code == 404
    assert reply.json()["detail"]["reason"] == "unknown_symbol"


def test_post_given_bad_json_or_oversized_batch_returns_4xx(serve_app: RunningApp) -> None:
    assert requests.post(f"{serve_app.url}/v1/decisions", data=b"{nope", timeout=30).status_code == 422
    too_many = {"events": [{"symbol": "BTC-PERP"}] * (serve_app.config.max_batch + 1)}
    assert requests.post(f"{serve_app.url}/v1/decisions", json=too_many, timeout=30).status_code == 413


def test_batch_given_some_bad_events_decides_the_rest_and_counts_rejects(
    serve_app: RunningApp, btc_events: list
) -> None:
    events = _events(btc_events, "BTC-PERP", 301, 3)
    events.insert(1, {"symbol": "BTC-PERP", "timestamp_ns": 5, "close": float("nan")})
    reply = requests.post(f"{serve_app.url}/v1/decisions", data=_json_with_nan({"events": events}), timeout=30)
    assert reply.status_code == 200
    body = reply.json()
    assert body["rejected"] == 1 and "error" in body["decisions"][1]
    assert all("action" in body["decisions"][i] for i in (0, 2, 3))
    status = requests.get(f"{serve_app.url}/v1/status", timeout=30).json()
    assert sum(status["rejected"]["shard0"].values()) >= 1


def _json_with_nan(obj: Any) -> bytes:
    import json

    return json.dumps(obj).encode()


def test_status_health_and_metrics_given_running_app_report_state(serve_app: RunningApp) -> None:
    status = requests.get(f"{serve_app.url}/v1/status", timeout=30).json()
    assert {"status", "active_models", "decisions_generated", "daily_pnl", "positions", "shadow"} <= status.keys()
    assert status["decisions_generated"] >= 1
    health = requests.get(f"{serve_app.url}/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["ready"] is True
    metrics = requests.get(f"{serve_app.url}/metrics", timeout=30).text
    assert "rtopt_decisions_total" in metrics and "rtopt_decision_latency_seconds_bucket" in metrics
    assert 'rtopt_trading_state{shard="0",state="ACTIVE"} 1.0' in metrics
    assert serve_app.config.audit_dsn is not None
    audit = open_audit(serve_app.config.audit_dsn, create=False)
    # the shard journals decisions and takes them into the store once quiet (serving.decision.audit_journal):
    # a reader in another process sees them within a few tenths of a second
    deadline = time.monotonic() + 10.0
    while not {"decision", "reject"} <= (kinds := {r.kind for r in audit.records()}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert audit.verify() is None and {"decision", "reject"} <= kinds
    audit.close()


def _route(route: str) -> tuple[str, str]:
    method, path = route.split(" ")
    return method, path.format(veto_id="0123456789abcdef", name="challenger")


@pytest.mark.parametrize("route", sorted(ENDPOINTS))
def test_guarded_route_given_no_or_an_unknown_token_returns_401(serve_app: RunningApp, route: str) -> None:
    method, path = _route(route)
    for headers in ({}, {"Authorization": "Bearer not-a-token-of-any-role"}, {"Authorization": "Basic abc"}):
        answer = requests.request(method, f"{serve_app.url}{path}", headers=headers, json={}, timeout=30)

        assert answer.status_code == 401, (route, headers)
        assert answer.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("route", sorted(ENDPOINTS))
def test_guarded_route_given_a_role_without_its_permission_returns_403(serve_app: RunningApp, route: str) -> None:
    method, path = _route(route)
    refused = [role for role in Role if not permits(role, ENDPOINTS[route])]
    for role in refused:
        headers = {"Authorization": f"Bearer {ROLE_TOKENS[f'RTOPT_TOKEN_{role.value.upper()}']}"}
        answer = requests.request(method, f"{serve_app.url}{path}", headers=headers, json={}, timeout=30)

        assert answer.status_code == 403 and role.value in answer.json()["detail"], (route, role)


@pytest.mark.parametrize("route", ["POST /v1/admin/kill", "POST /v1/admin/resume", "POST /v1/admin/limits"])
@pytest.mark.parametrize(("body", "message"), [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object, got list")])
def test_admin_change_given_a_body_that_is_no_json_object_returns_422_and_changes_nothing(
    serve_app: RunningApp, route: str, body: bytes, message: str
) -> None:
    _, path = _route(route)
    answer = requests.post(f"{serve_app.url}{path}", data=body, headers=_auth("RISK"), timeout=30)

    assert answer.status_code == 422 and answer.json()["detail"]["field"] == "body"
    assert message in answer.json()["detail"]["message"]
    assert requests.get(f"{serve_app.url}/v1/status", timeout=30).json()["shards"][0]["trading_state"] == "ACTIVE"


def test_reload_given_the_admin_token_returns_200(serve_app: RunningApp) -> None:
    answer = requests.post(f"{serve_app.url}/v1/admin/reload", headers=_auth("ADMIN"), timeout=60)

    assert answer.status_code == 200 and answer.json()["shards"][0]["ready"] is True


def _auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ROLE_TOKENS[f'RTOPT_TOKEN_{role}']}"}


def test_admin_limits_kill_resume_given_role_tokens_apply_to_every_shard_and_audit_role_and_name(
    serve_app: RunningApp,
) -> None:
    url = serve_app.url
    bad = requests.post(
        f"{url}/v1/admin/limits", json={"limits": {"max_posiiton": 0.5}, "by": "alice"}, headers=_auth("RISK")
    )
    assert bad.status_code == 422 and "max_posiiton" in bad.json()["detail"]["message"]
    body = {"limits": {"max_position": 0.5}, "by": "alice"}
    assert requests.post(f"{url}/v1/admin/limits", json=body, headers=_auth("TRADER"), timeout=30).status_code == 403
    changed = requests.post(f"{url}/v1/admin/limits", json=body, headers=_auth("RISK"), timeout=30)
    assert changed.status_code == 200 and changed.json()["changes"][0]["by"] == "risk:alice"
    assert requests.get(f"{url}/v1/status", timeout=30).json()["shards"][0]["limits"]["max_position"] == 0.5
    killed = requests.post(f"{url}/v1/admin/kill", json={"cause": "drill", "by": "dan"}, headers=_auth("TRADER"))
    assert killed.json()["shards"] == ["HALTED"]
    assert requests.get(f"{url}/v1/status", timeout=30).json()["status"] == "halted"
    resume = {"cause": "drill over", "by": "bob"}
    assert requests.post(f"{url}/v1/admin/resume", json=resume, headers=_auth("TRADER")).status_code == 403
    resumed = requests.post(f"{url}/v1/admin/resume", json=resume, headers=_auth("RISK"))
    assert resumed.json()["shards"] == ["ACTIVE"]
    body = {"limits": {"max_position": 1.0}, "by": "erin"}
    assert requests.post(f"{url}/v1/admin/limits", json=body, headers=_auth("ADMIN"), timeout=30).status_code == 200
    assert serve_app.config.audit_dsn is not None
    audit = open_audit(serve_app.config.audit_dsn, create=False)
    records = [(r.kind, json.loads(r.payload)) for r in audit.records()]
    changes = ("limit_change", "risk_state")
    by = [(kind, p["by"]) for kind, p in records if kind in changes and p["by"] != "risk-monitor"]
    assert by == [
        ("limit_change", "risk:alice"),
        ("risk_state", "trader:dan"),
        ("risk_state", "risk:bob"),
        ("limit_change", "admin:erin"),
    ]
    assert audit.verify() is None
    audit.close()


def test_hot_swap_given_requests_in_flight_drops_none_and_names_new_version(
    serve_app: RunningApp, btc_events: list, decision_bundle_dir: Any
) -> None:
    events = _events(btc_events, "BTC-SWAP", 0, len(btc_events))
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def client() -> None:
        for start in range(0, len(events), 4):
            if stop.is_set():
                return
            time.sleep(0.02)  # a steady flow that outlasts the registration and the poller's swap
            reply = requests.post(f"{serve_app.url}/v1/decisions", json={"events": events[start : start + 4]})
            statuses.append(reply.status_code)
            if reply.status_code == 200:
                versions.extend(d["model_versions"]["actor"] for d in reply.json()["decisions"])

    worker = threading.Thread(target=client)
    worker.start()
    time.sleep(2.0)
    new = register_bundle(decision_bundle_dir, "ppo", serve_app.experiment, serve_app.artifact_root, 1.0)
    deadline = time.monotonic() + 90
    while worker.is_alive() and f"rtopt-ppo/{new.actor}" not in versions[-5:] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    worker.join(timeout=120)
    assert statuses and set(statuses) == {200}, (
        f"failed requests during the swap: {statuses.count(200)} ok of {len(statuses)}"
    )
    old, fresh = f"rtopt-ppo/{serve_app.champion.actor}", f"rtopt-ppo/{new.actor}"
    assert versions[0] == old and versions[-1] == fresh
    first_new = versions.index(fresh)
    assert set(versions[first_new:]) == {fresh}, "decisions went back to the old version after the swap"
