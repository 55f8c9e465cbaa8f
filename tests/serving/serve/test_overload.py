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
from tests.serving.serve.conftest import RunningApp, running_app


@pytest.fixture(scope="module")
def tight_app(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Iterator[RunningApp]:
    home = tmp_path_factory.mktemp("serve-tight")
    with running_app(home, decision_bundle_dir, max_ongoing_requests=1, max_queued_requests=1) as app:
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
    event = {"symbol": "BTC-PERP", "timestamp_ns": 1_700_000_000_000_000_000, "close": 100.0}
    reply = requests.post(f"{tight_app.url}/v1/decisions", json=event, timeout=30)
    assert reply.status_code == 200
    assert reply.json()["decision"]["model_versions"]["actor"] == f"rtopt-ppo/{tight_app.champion.actor}"
