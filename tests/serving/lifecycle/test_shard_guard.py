"""The rollback guard and the online drift signal in a real DecisionShard, outside Ray Serve.

The shard reads a real MLflow registry (``registry_setup``: champion 1, challenger 2) and writes a real audit
log. A promotion (``promote``, no Serve reload) moves the aliases to 2 with ``previous`` on 1; the shard's
``apply_models`` swaps 2 in and arms the guard; the held-out BTC-PERP bars then go through ``decide``. The
guard's limit is a hair above zero, so the first loss after the new champion's peak trips it: the shard must
swap 1 back in place, go REDUCING with the cause, audit it, and move the aliases back.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from models.monitoring.performance import BacktestExpectation
from orchestration.settings import Settings
from serving.decision.audit import AuditLog
from serving.decision.registry import resolve
from serving.lifecycle.promotion import promote
from serving.monitoring.expectation import record_expectation
from serving.safety.risk_types import TradingState
from serving.serve.shard import DecisionShard
from tests.serving.lifecycle.registry_setup import V1, V2, lifecycle_registry, reset_aliases


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, lifecycle_template: Path) -> Iterator[Settings]:
    with lifecycle_registry(tmp_path_factory.mktemp("guard-registry"), lifecycle_template) as settings:
        yield settings


def _shard(settings: Settings, tmp_path: Path, **overrides: Any) -> DecisionShard:
    reset_aliases(MlflowClient())
    config = {
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "model_cache": str(tmp_path / "cache"),
        "clock": "market",
        "audit_dsn": f"sqlite:///{tmp_path / 'audit.db'}",
        "drift_window": 300,
        "drift_min_events": 200,
        "performance_min_decisions": 200,
        **overrides,
    }
    return DecisionShard(config, 0)


def _records(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    audit = AuditLog(tmp_path / "audit.db", create=False)
    try:
        return [(r.kind, json.loads(r.payload)) for r in audit.records()]
    finally:
        audit.close()


def _promote_v2(shard: DecisionShard, tmp_path: Path) -> None:
    client = MlflowClient()
    result = promote(V2, client=client, audit=None, cache=tmp_path / "cache", reload=None, reason="test", by="test")
    assert result.ok, result.cause
    shard.apply_models(resolve("champion", "ppo"), resolve("challenger", "ppo"))


def test_shard_given_promoted_champion_losing_past_limit_returns_previous_champion_reducing_and_audited(
    registered: Settings, tmp_path: Path, btc_events: list[dict[str, object]]
) -> None:
    shard = _shard(registered, tmp_path, guard_decisions=len(btc_events), guard_drawdown_bps=1e-6)
    _promote_v2(shard, tmp_path)
    assert shard.applied["champion"] == V2 and shard.guard.armed

    shard.decide(btc_events)

    assert shard.rollback_thread is not None
    shard.rollback_thread.join(timeout=60)
    engine = shard.engine
    assert engine is not None
    trip = shard.guard.last_trip
    assert trip is not None and dict(trip.tripped) == V2.names() and dict(trip.restored) == V1.names()
    assert shard.applied["champion"] == V1 and dict(engine.champion.versions) == V1.names()
    assert engine.risk.state is TradingState.REDUCING
    assert engine.risk.events[-1].cause == trip.cause and engine.risk.events[-1].by == "rollback-guard"
    assert shard.health()["guard_trip"]["cause"] == trip.cause  # the ingress sends the other shards REDUCING
    assert resolve("champion", "ppo") == V1, shard.rollback_note
    assert shard.rollback_note.startswith("registry rollback done")
    kinds = [kind for kind, _ in _records(tmp_path)]
    guard_at = kinds.index("rollback_guard")
    assert kinds[guard_at - 1] == "model_swap" and "model_rollback" in kinds[guard_at:]
    assert "risk_state" in kinds[guard_at:]  # the REDUCING change, audited with the next decision
    swap = _records(tmp_path)[guard_at - 1][1]
    assert swap["previous"] == V2.names() and swap["versions"] == V1.names()


def test_shard_given_guard_tripped_returns_tripped_champion_refused_until_registry_moves_on(
    registered: Settings, tmp_path: Path, btc_events: list[dict[str, object]]
) -> None:
    shard = _shard(registered, tmp_path, guard_decisions=len(btc_events), guard_drawdown_bps=1e-6)
    _promote_v2(shard, tmp_path)
    shard.decide(btc_events)
    assert shard.rollback_thread is not None
    shard.rollback_thread.join(timeout=60)

    health = shard.apply_models(V2, None)  # a stale poll that still reads the tripped champion

    assert health["models"]["champion"] == V1.names() and shard.blocked == V2
    shard.apply_models(V1, None)
    assert shard.blocked is None
    shard.resume("checked the rollback", "alice")
    assert shard.engine is not None and shard.engine.risk.state is TradingState.ACTIVE


def test_shard_given_no_promotion_returns_guard_unarmed_and_champion_kept(
    registered: Settings, tmp_path: Path, btc_events: list[dict[str, object]]
) -> None:
    shard = _shard(registered, tmp_path, guard_drawdown_bps=1e-6)

    shard.decide(btc_events)

    assert not shard.guard.armed and shard.guard.last_trip is None
    assert shard.applied["champion"] == V1
    assert shard.engine is not None and shard.engine.risk.state is TradingState.ACTIVE


def test_shard_reduce_given_another_shards_trip_returns_reducing_audited_until_resumed(
    registered: Settings, tmp_path: Path, btc_events: list[dict[str, object]]
) -> None:
    shard = _shard(registered, tmp_path)
    assert "guard_trip" not in shard.health()

    status = shard.reduce("rollback guard tripped on shard 1", "rollback-guard")

    assert status["trading_state"] == TradingState.REDUCING.value
    (change,) = [p for kind, p in _records(tmp_path) if kind == "risk_state"]
    assert change["cause"] == "rollback guard tripped on shard 1" and change["state"] == "REDUCING"
    shard.resume("checked", "alice")
    assert shard.engine is not None and shard.engine.risk.state is TradingState.ACTIVE


def test_shard_drift_given_decided_events_returns_psi_window_and_performance_against_tagged_expectation(
    registered: Settings, tmp_path: Path, btc_events: list[dict[str, object]]
) -> None:
    record_expectation(V1, BacktestExpectation(mean_bps=50.0, std_bps=1.0, decisions=1_000), MlflowClient())
    try:
        shard = _shard(registered, tmp_path)
        shard.decide(btc_events)
        status = shard.status()
    finally:
        for key in BacktestExpectation(mean_bps=0.0, std_bps=1.0, decisions=2).to_tags():
            MlflowClient().delete_model_version_tag("rtopt-ppo", "1", key)

    drift = status["drift"]
    features, performance = drift["features"], drift["performance"]
    assert drift["champion"] == V1.names() and drift["notes"] == {}
    assert features["window"] == 300 and set(features["psi"]) and features["max_psi"] is not None
    assert performance["decisions"] == len(btc_events)
    # a backtest mean of 50 bps per decision with a 1 bp spread: the live champion is far below it
    assert performance["drifted"] and performance["since_ns"] is not None
    assert status["guard"]["armed"] is False


def test_shard_given_unreachable_registry_at_start_returns_not_ready_naming_it(
    registered: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed once the block ends
    for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")):
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, uri)  # the shard exports its URI: the monkeypatch puts the old one back

    mlflow.set_tracking_uri(uri)  # the module's registry pins MLflow's process-wide URIs: point them away too
    mlflow.set_registry_uri(uri)
    try:
        shard = DecisionShard({"mlflow_tracking_uri": uri, "model_cache": str(tmp_path / "cache")}, 0)
    finally:
        mlflow.set_tracking_uri(registered.mlflow_tracking_uri)
        mlflow.set_registry_uri(registered.mlflow_registry_uri)

    health = shard.health()
    assert not health["ready"] and "registry unreachable" in health["unhealthy"]["champion"]
