"""`rtopt promote` / `rtopt rollback`, and the lifecycle jobs the sensors request, on a real registry and audit log.

The Serve app is a local HTTP server answering ``POST /v1/admin/reload`` as the ingress does: each shard
re-reads the registry (``resolve``) unless the test makes it fail to load, then it keeps what it had.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient

from assets.lifecycle import SERVING_CHAMPION
from assets.resources import MlflowResource
from models.evaluation.gate import GateConfig, gate_decision
from orchestration.lifecycle_cli import add_command, run_lifecycle_command
from orchestration.lifecycle_jobs import (
    LifecycleResource,
    challenger_run_config,
    promotion_job,
    shadow_start_job,
    verdict_run_config,
)
from orchestration.settings import Settings
from serving.decision.audit import open_audit
from serving.decision.registry import ResolvedVersions, resolve
from tests.serving.lifecycle.registry_setup import V1, V2, V3_BROKEN, lifecycle_registry, reset_aliases

TOKEN = "admin-token-0123456789"
Health = Callable[[], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, lifecycle_template: Path) -> Iterator[Settings]:
    with lifecycle_registry(tmp_path_factory.mktemp("lifecycle-cli"), lifecycle_template) as settings:
        yield settings


@pytest.fixture
def settings(registered: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The module's registry with aliases reset, an audit log of the test's own, no Serve app in the environment."""
    reset_aliases(MlflowClient())
    for name in ("RTOPT_SERVE_URL", "RTOPT_TOKEN_ADMIN"):
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(registered, audit_dsn=f"sqlite:///{tmp_path / 'audit.db'}")


def shards_running(
    champion: Callable[[], ResolvedVersions | None], challenger: ResolvedVersions | None = None
) -> Health:
    def health() -> list[dict[str, Any]]:
        current = champion()
        models = {
            "champion": None if current is None else current.names(),
            "challenger": None if challenger is None else challenger.names(),
        }
        return [{"shard": 0, "ready": True, "models": models, "unhealthy": {}}]

    return health


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Health], str]]:
    """Start a stand-in Serve app whose reload answers ``health()``; returns its URL (token exported)."""
    servers: list[ThreadingHTTPServer] = []

    def start(health: Health) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                ok = self.headers.get("Authorization") == f"Bearer {TOKEN}" and self.path == "/v1/admin/reload"
                data = json.dumps({"shards": health()} if ok else {"detail": "no"}).encode()
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("RTOPT_TOKEN_ADMIN", TOKEN)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rtopt")
    add_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def audit_kinds(settings: Settings) -> list[str]:
    audit = open_audit(settings.audit_dsn)
    try:
        return [r.kind for r in audit.records()]
    finally:
        audit.close()


def test_promote_given_no_serve_app_moves_champion_and_prints_result(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_lifecycle_command(cli("promote", "--reason", "beats it live", "--by", "ada"), settings)

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["status"], printed["by"], printed["champion"]) == ("done", "ada", V2.names())
    assert (resolve("champion"), resolve("previous")) == (V2, V1)
    assert audit_kinds(settings) == ["model_promotion"]


def test_promote_given_serve_app_swapping_verifies_shards_and_exits_0(
    settings: Settings, serve: Callable[[Health], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(shards_running(lambda: resolve("champion")))

    code = run_lifecycle_command(cli("promote", "--serve-url", url, "--by", "ada"), settings)

    assert code == 0
    assert json.loads(capsys.readouterr().out)["shards"][0]["models"]["champion"] == V2.names()


def test_promote_given_serve_app_stuck_on_old_champion_reverts_and_exits_1(
    settings: Settings, serve: Callable[[Health], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(shards_running(lambda: V1))

    code = run_lifecycle_command(cli("promote", "--serve-url", url, "--by", "ada"), settings)

    assert code == 1
    assert "reverted" in capsys.readouterr().err
    assert (resolve("champion"), resolve("challenger")) == (V1, V2)
    assert audit_kinds(settings) == ["model_promotion", "model_promotion_reverted"]


def test_rollback_after_promote_returns_previous_champion_then_refuses(settings: Settings) -> None:
    assert run_lifecycle_command(cli("promote", "--by", "ada"), settings) == 0

    first = run_lifecycle_command(cli("rollback", "--reason", "slippage", "--by", "bob"), settings)
    second = run_lifecycle_command(cli("rollback", "--reason", "again", "--by", "bob"), settings)

    assert (first, second) == (0, 1)
    assert resolve("champion") == V1
    assert audit_kinds(settings) == ["model_promotion", "model_rollback", "model_rollback_refused"]


def test_promote_given_no_challenger_raises(settings: Settings) -> None:
    client = MlflowClient()
    for name in ("rtopt-regime", "rtopt-bandit", "rtopt-ppo"):
        client.delete_registered_model_alias(name, "challenger")

    with pytest.raises(ValueError, match="no challenger registered"):
        run_lifecycle_command(cli("promote", "--by", "ada"), settings)


def test_promote_given_serve_url_without_token_raises_before_moving(settings: Settings) -> None:
    with pytest.raises(ValueError, match="RTOPT_TOKEN_ADMIN"):
        run_lifecycle_command(cli("promote", "--serve-url", "http://127.0.0.1:9", "--by", "ada"), settings)

    assert resolve("champion") == V1


def test_rollback_given_no_reason_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        cli("rollback", "--by", "bob")


def _resources(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    return {
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
            artifact_root=settings.mlflow_artifact_root,
        ),
        "lifecycle": LifecycleResource(audit_dsn=settings.audit_dsn, model_cache=str(tmp_path / "cache")),
    }


def _verdict(promote: bool) -> Any:
    n = 40
    lift = 1.0 if promote else 0.0
    champion = np.sin(np.arange(n))
    decision = gate_decision(champion, champion + lift, None, GateConfig(min_decisions=20, require_ope_agreement=False))
    assert decision.promote is promote
    return decision


def test_promotion_job_given_archive_verdict_removes_challenger_and_audits_gate(
    settings: Settings, tmp_path: Path
) -> None:
    result = promotion_job.execute_in_process(
        run_config=verdict_run_config(V2, _verdict(False)), resources=_resources(settings, tmp_path)
    )

    assert result.success
    assert (resolve("champion"), resolve("challenger")) == (V1, None)
    audit = open_audit(settings.audit_dsn)
    (record,) = audit.records()
    audit.close()
    payload = json.loads(record.payload)
    assert record.kind == "challenger_archived" and payload["by"] == "shadow_comparison_sensor"
    assert payload["gate"]["condition"] == "ci_includes_zero"
    (observed,) = result.asset_observations_for_node("apply_gate_verdict")
    assert observed.asset_key == SERVING_CHAMPION and observed.metadata["action"].value == "archive"
    assert result.asset_materializations_for_node("apply_gate_verdict") == []


def test_promotion_job_given_promote_verdict_moves_champion(settings: Settings, tmp_path: Path) -> None:
    result = promotion_job.execute_in_process(
        run_config=verdict_run_config(V2, _verdict(True)), resources=_resources(settings, tmp_path)
    )

    assert result.success
    assert resolve("champion") == V2
    assert audit_kinds(settings) == ["model_promotion"]
    (recorded,) = result.asset_materializations_for_node("apply_gate_verdict")
    assert recorded.asset_key == SERVING_CHAMPION and recorded.metadata["challenger"].value == dict(V2.names())


def test_promotion_job_given_broken_challenger_fails_and_keeps_champion(settings: Settings, tmp_path: Path) -> None:
    result = promotion_job.execute_in_process(
        run_config=verdict_run_config(V3_BROKEN, _verdict(True)),
        resources=_resources(settings, tmp_path),
        raise_on_error=False,
    )

    assert not result.success
    assert resolve("champion") == V1
    assert audit_kinds(settings) == ["model_promotion_refused"]


def test_shadow_start_job_given_shards_shadowing_the_challenger_succeeds_else_fails(
    settings: Settings, tmp_path: Path, serve: Callable[[Health], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = _resources(settings, tmp_path)
    monkeypatch.setenv("RTOPT_SERVE_URL", serve(shards_running(lambda: V1, challenger=V2)))
    shadowing = shadow_start_job.execute_in_process(run_config=challenger_run_config(V2), resources=resources)
    monkeypatch.setenv("RTOPT_SERVE_URL", serve(shards_running(lambda: V1, challenger=None)))
    not_shadowing = shadow_start_job.execute_in_process(
        run_config=challenger_run_config(V2), resources=resources, raise_on_error=False
    )

    assert shadowing.success
    assert not not_shadowing.success
