"""Overload gets 503 from bounded queues, never a backlog; a model that fails to load leaves the last good one."""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.decision.registry import register_bundle
from tests.serving.serve.conftest import ROLE_TOKENS, RunningApp, running_app


@pytest.fixture(scope="module")
def tight_app(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Iterator[RunningApp]:
    home = tmp_path_factory.mktemp("serve-tight")
    rules = {"max_size": 0.0, "require_distinct_approver": False, "timeout_s": 3_600.0}
    with running_app(home, decision_bundle_dir, max_ongoing_requests=1, max_queued_requests=1, veto_rules=rules) as app:
        yield app


def test_post_given_more_concurrent_requests_than_queues_returns_503_for_the_excess(
    tight_app: RunningApp, btc_events: list[dict[str, Any]]
) -> None:
    batches = [[{**e, "symbol": "BTC-LOAD"} for e in btc_events[i * 200 : (i + 1) * 200]] for i in range(16)]

    def post(batch: list[dict[str, Any]]) -> int:
        return requests.post(f"{tight_app.url}/v1/decisions", json={"events": batch}, timeout=120).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = Counter(pool.map(post, batches))
    assert set(codes) <= {200, 503}, codes
    assert codes[503] >= 1 and codes[200] >= 1, codes


def test_reload_given_corrupted_new_version_keeps_last_good_and_health_names_it(
    tight_app: RunningApp, decision_bundle_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(decision_bundle_dir, broken)
    weights = broken / "actor" / "actor.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    new = register_bundle(broken, "ppo", tight_app.experiment, tight_app.artifact_root, validation_score=5.0)
    bad = f"rtopt-ppo/{new.actor}"
    health: dict[str, Any] = {}
    for _ in range(60):
        health = requests.get(f"{tight_app.url}/healthz", timeout=30).json()
        if health["shards"][0]["unhealthy"]:
            break
        time.sleep(0.5)
    assert bad in health["shards"][0]["unhealthy"]["champion"]
    event = {"symbol": "BTC-PERP", "timestamp_ns": 1_641_168_000_000_000_000, "close": 100.0}  # 2022: no clock jump
    reply = requests.post(f"{tight_app.url}/v1/decisions", json=event, timeout=30)
    assert reply.status_code == 200
    assert reply.json()["decision"]["model_versions"]["actor"] == f"rtopt-ppo/{tight_app.champion.actor}"


def _post(url: str, body: Any) -> requests.Response:
    """POST, retrying 503s: this app's queues are one deep and the registry poller shares them."""
    for _ in range(100):
        reply = requests.post(url, json=body, timeout=120)
        if reply.status_code != 503:
            return reply
        time.sleep(0.1)
    return reply


def test_vetoes_given_roles_hold_then_approve_over_http(
    tight_app: RunningApp, btc_events: list[dict[str, Any]]
) -> None:
    """A held decision is listed; 401 without a token, 403 for a trader approving, 200 for risk; then it executes."""
    url = tight_app.url
    events = [{**e, "symbol": "BTC-SWAP"} for e in btc_events[3_200:]]  # after the load test's bars: not stale
    held_at = None
    for i in range(0, len(events), 100):
        decisions = _post(f"{url}/v1/decisions", {"events": events[i : i + 100]}).json()
        pending = [k for k, d in enumerate(decisions["decisions"]) if d.get("hold_reason") == "pending_veto"]
        if pending:
            held_at = i + pending[-1]
            break
    assert held_at is not None, "no decision was held"
    assert requests.get(f"{url}/v1/vetoes", timeout=30).status_code == 401
    trader = {"Authorization": f"Bearer {ROLE_TOKENS['RTOPT_TOKEN_TRADER']}"}
    listed = requests.get(f"{url}/v1/vetoes", headers=trader, timeout=30).json()
    (veto,) = [v for v in listed["pending"] if v["request"]["symbol"] == "BTC-SWAP"]
    body = {"reason": "checked", "by": "carol"}
    approve = f"{url}/v1/vetoes/{veto['veto_id']}/approve"
    assert requests.post(approve, json=body, headers=trader, timeout=30).status_code == 403
    risk = {"Authorization": f"Bearer {ROLE_TOKENS['RTOPT_TOKEN_RISK']}"}
    assert requests.post(approve, json=body, headers=risk, timeout=30).status_code == 200
    nxt = _post(f"{url}/v1/decisions", events[held_at + 1]).json()["decision"]
    assert nxt["veto_reason"].startswith(f"approved {veto['veto_id']} by carol")
