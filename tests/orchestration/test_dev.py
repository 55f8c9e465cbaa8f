"""`make dev` (rtopt dev): both UIs come up on the embedded state, show the assets and checks, and stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration.settings import Settings
from serving.serve.ports import free_port

RTOPT = str(Path(sys.executable).parent / "rtopt")
QUERY = "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"


def _get(url: str, body: bytes | None = None) -> bytes | None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bytes(response.read())
    except OSError:
        return None


def _wait_for(url: str, body: bytes | None = None, seconds: float = 180) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = _get(url, body)
        if answer is not None:
            return answer
        time.sleep(1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.mark.expensive
def test_rtopt_dev_given_fresh_state_serves_assets_with_checks_and_mlflow_then_stops(rtopt_settings: Settings) -> None:
    dagster_port, mlflow_port = free_port(), free_port()
    log = rtopt_settings.home / "dev.stderr"
    stderr = log.open("wb")
    process = subprocess.Popen(
        [RTOPT, "dev", "--dagster-port", str(dagster_port), "--mlflow-port", str(mlflow_port)],
        env={**os.environ, "RTOPT_HOME": str(rtopt_settings.home)},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        graphql = _wait_for(f"http://127.0.0.1:{dagster_port}/graphql", json.dumps({"query": QUERY}).encode())
        nodes = {"/".join(n["assetKey"]["path"]): n for n in json.loads(graphql)["data"]["assetNodes"]}
        assert {"market_bars", "offline_features", "online_features", "ppo_agent", "model_evaluation"} <= set(nodes)
        checks = {c["name"] for c in nodes["market_bars"]["assetChecksOrError"]["checks"]}
        assert checks == {"time_monotonic", "no_crossed_quotes", "no_long_gaps"}
        assert _wait_for(f"http://127.0.0.1:{mlflow_port}/health") == b"OK"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=150)  # each UI gets 60 s to stop before it is killed
        stderr.close()
    assert code == 0, log.read_text()[-3000:]
    assert _get(f"http://127.0.0.1:{dagster_port}/server_info") is None
    assert _get(f"http://127.0.0.1:{mlflow_port}/health") is None
