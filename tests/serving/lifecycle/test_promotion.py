"""promote / rollback / archive on a real MLflow registry and a real audit log; Serve is a stand-in at its HTTP edge.

The module registers the session bundle twice in a fresh registry (``registry_setup``): at score 0.0 it becomes
the champion (version 1 of each model), at -1.0 the challenger (version 2); a copy with a truncated actor is
version 3. Each test starts from those aliases. ``ShardsStub`` plays the app's reload: each shard re-reads the
registry aliases as ``DecisionShard.apply_models`` does, and a shard told it cannot load some versions keeps
its last good champion and names the failure in ``unhealthy``, as the real one does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from orchestration.settings import Settings
from serving.decision.audit import AuditLog, AuditWriteError
from serving.decision.registry import ResolvedVersions, resolve
from serving.lifecycle.aliases import model_versions
from serving.lifecycle.promotion import (
    ARCHIVED_TAG,
    PromotionResult,
    archive,
    promote,
    rollback,
    shard_problems,
)
from tests.serving.lifecycle.registry_setup import V1, V2, V3_BROKEN, lifecycle_registry, reset_aliases


@dataclass
class ShardsStub:
    """The Serve app's ``POST /v1/admin/reload`` seen from outside: each shard's health after re-reading the aliases."""

    shards: int = 2
    cannot_load: dict[int, ResolvedVersions] = field(default_factory=dict)
    """shard -> versions that shard fails to load (it keeps its last good champion)."""
    error: Exception | None = None
    applied: dict[int, ResolvedVersions | None] = field(default_factory=dict)
    calls: int = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        champion = resolve("champion", "ppo")
        return [self._apply(shard, champion) for shard in range(self.shards)]

    def _apply(self, shard: int, champion: ResolvedVersions | None) -> dict[str, Any]:
        unhealthy = {}
        if champion is not None and self.cannot_load.get(shard) == champion:
            unhealthy["champion"] = f"{champion.names()['actor']}: failed to load (stub)"
        else:
            self.applied[shard] = champion
        current = self.applied.get(shard)
        models = {"champion": None if current is None else current.names(), "challenger": None}
        return {"shard": shard, "ready": current is not None, "models": models, "unhealthy": unhealthy}


@dataclass(frozen=True)
class Registry:
    settings: Settings
    client: MlflowClient
    audit: AuditLog
    cache: Path


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, lifecycle_template: Path) -> Iterator[Settings]:
    with lifecycle_registry(tmp_path_factory.mktemp("lifecycle-registry"), lifecycle_template) as settings:
        yield settings


@pytest.fixture
def registry(registered: Settings, tmp_path: Path) -> Iterator[Registry]:
    """Every test starts from champion = 1, challenger = 2, no previous, no archive tags; its own audit log."""
    client = MlflowClient()
    reset_aliases(client)
    audit = AuditLog(tmp_path / "audit.db")
    yield Registry(registered, client, audit, tmp_path / "cache")
    audit.close()


def _promote(registry: Registry, reload: ShardsStub | None, challenger: ResolvedVersions = V2) -> PromotionResult:
    return promote(
        challenger,
        client=registry.client,
        audit=registry.audit,
        cache=registry.cache,
        reload=reload,
        reason="gate: promote",
        by="test",
        gate={"reason": "promote", "n_decisions": 600},
    )


def _rollback(registry: Registry, reload: ShardsStub | None) -> PromotionResult:
    return rollback(
        agent="ppo",
        client=registry.client,
        audit=registry.audit,
        cache=registry.cache,
        reload=reload,
        reason="bad fills",
        by="test",
    )


def _records(registry: Registry) -> list[tuple[str, dict[str, Any]]]:
    return [(r.kind, json.loads(r.payload)) for r in registry.audit.records()]


def test_promote_given_shards_swap_moves_aliases_audits_and_returns_done(registry: Registry) -> None:
    shards = ShardsStub()
    shards()  # the app is running the champion before the promotion

    result = _promote(registry, shards)

    assert result.ok, result.cause
    assert (resolve("champion"), resolve("previous"), resolve("challenger")) == (V2, V1, None)
    assert [s["models"]["champion"] for s in result.shards] == [V2.names(), V2.names()]
    ((kind, record),) = _records(registry)
    assert kind == "model_promotion"
    assert (record["previous"], record["champion"], record["by"]) == (V1.names(), V2.names(), "test")
    assert record["gate"] == {"reason": "promote", "n_decisions": 600}
    assert registry.audit.verify() is None


def test_promote_given_no_serve_app_moves_aliases_without_verifying(registry: Registry) -> None:
    result = _promote(registry, None)

    assert result.ok and result.shards == ()
    assert resolve("champion") == V2


def test_promote_given_reload_raises_restores_aliases_and_audits_revert(registry: Registry) -> None:
    shards = ShardsStub(error=ConnectionError("serve is down"))

    result = _promote(registry, shards)

    assert result.status == "reverted"
    assert "ConnectionError: serve is down" in result.cause
    assert result.champion == V1.names()
    assert (resolve("champion"), resolve("previous"), resolve("challenger")) == (V1, None, V2)
    assert [kind for kind, _ in _records(registry)] == ["model_promotion", "model_promotion_reverted"]
    assert "serve is down" in _records(registry)[1][1]["cause"]
    assert any("reload after the revert failed" in note for note in result.notes)


def test_promote_given_a_shard_cannot_load_new_champion_reverts_every_shard_to_old(registry: Registry) -> None:
    shards = ShardsStub(cannot_load={1: V2})
    shards()

    result = _promote(registry, shards)

    assert result.status == "reverted"
    assert "shard 1: champion is" in result.cause and "failed to load (stub)" in result.cause
    assert (resolve("champion"), resolve("challenger")) == (V1, V2)
    assert shards.calls == 3  # before, the promotion's reload, the reload after the revert
    assert [s["models"]["champion"] for s in result.shards] == [V1.names(), V1.names()]
    assert result.notes == ()
    assert [kind for kind, _ in _records(registry)] == ["model_promotion", "model_promotion_reverted"]


class FailingAudit:
    """An audit trail whose store refuses writes of one kind (a full disk, a lost connection)."""

    def __init__(self, inner: AuditLog, failing: str) -> None:
        self.inner, self.failing = inner, failing

    def append(self, kind: str, payload: Any) -> str:
        if kind.startswith(self.failing):
            raise AuditWriteError(f"audit: write failed ({kind})")
        return self.inner.append(kind, payload)


def test_promote_given_audit_write_fails_restores_aliases_and_reports_it(registry: Registry) -> None:
    audit = FailingAudit(registry.audit, "model_promotion")

    result = promote(
        V2,
        client=registry.client,
        audit=audit,
        cache=registry.cache,
        reload=None,
        reason="r",
        by="test",
    )

    assert result.status == "reverted" and "AuditWriteError" in result.cause
    assert (resolve("champion"), resolve("challenger"), resolve("previous")) == (V1, V2, None)
    assert any("the revert is not audited" in note for note in result.notes)


def test_promote_given_truncated_challenger_actor_refuses_and_keeps_aliases(registry: Registry) -> None:
    for name in model_versions(V3_BROKEN):
        registry.client.set_registered_model_alias(name, "challenger", "3")
    shards = ShardsStub()

    result = _promote(registry, shards, challenger=V3_BROKEN)

    assert result.status == "refused"
    assert "rtopt-ppo/3" in result.cause and "does not load" in result.cause
    assert (resolve("champion"), resolve("challenger"), resolve("previous")) == (V1, V3_BROKEN, None)
    assert shards.calls == 0
    ((kind, record),) = _records(registry)
    assert kind == "model_promotion_refused" and "rtopt-ppo/3" in record["cause"]


def test_promote_given_champion_versions_refuses(registry: Registry) -> None:
    result = _promote(registry, None, challenger=V1)

    assert result.status == "refused" and "is the champion already" in result.cause
    assert resolve("champion") == V1


def test_rollback_after_promotion_restores_previous_champion_once(registry: Registry) -> None:
    shards = ShardsStub()
    assert _promote(registry, shards).ok

    result = _rollback(registry, shards)
    again = _rollback(registry, shards)

    assert result.ok, result.cause
    assert (result.previous, result.champion) == (V2.names(), V1.names())
    assert (resolve("champion"), resolve("previous")) == (V1, None)
    assert [s["models"]["champion"] for s in result.shards] == [V1.names(), V1.names()]
    assert again.status == "refused" and "no previous champion" in again.cause
    kinds = [kind for kind, _ in _records(registry)]
    assert kinds == ["model_promotion", "model_rollback", "model_rollback_refused"]


def test_rollback_given_a_shard_cannot_load_previous_keeps_promoted_champion(registry: Registry) -> None:
    shards = ShardsStub(cannot_load={0: V1})
    assert _promote(registry, shards).ok

    result = _rollback(registry, shards)

    assert result.status == "reverted" and "shard 0" in result.cause
    assert (resolve("champion"), resolve("previous")) == (V2, V1)
    assert [kind for kind, _ in _records(registry)][-2:] == ["model_rollback", "model_rollback_reverted"]


def test_archive_given_current_challenger_removes_alias_tags_versions_and_audits(registry: Registry) -> None:
    result = archive(
        V2, client=registry.client, audit=registry.audit, reason="ci_includes_zero", by="gate", gate={"n": 600}
    )

    assert result.ok, result.cause
    assert (resolve("champion"), resolve("challenger")) == (V1, None)
    tags = {registry.client.get_model_version(n, v).tags.get(ARCHIVED_TAG) for n, v in model_versions(V2).items()}
    assert tags == {"ci_includes_zero"}
    ((kind, record),) = _records(registry)
    assert kind == "challenger_archived"
    assert (record["challenger"], record["reason"], record["gate"]) == (V2.names(), "ci_includes_zero", {"n": 600})


def test_archive_given_challenger_already_gone_refuses(registry: Registry) -> None:
    assert archive(V2, client=registry.client, audit=None, reason="first", by="gate").ok

    again = archive(V2, client=registry.client, audit=registry.audit, reason="second", by="gate")

    assert again.status == "refused" and "moved on" in again.cause
    assert [kind for kind, _ in _records(registry)] == ["challenger_archive_refused"]


def test_shard_problems_given_healthy_and_stale_shards_names_only_the_stale_one() -> None:
    healthy = {"shard": 0, "ready": True, "models": {"champion": V2.names()}, "unhealthy": {}}
    stale = {"shard": 1, "ready": True, "models": {"champion": V1.names()}, "unhealthy": {"champion": "boom"}}
    down = {"shard": 2, "ready": False, "models": {"champion": None}, "unhealthy": {}}

    problems = shard_problems([healthy, stale, down], "champion", V2.names())

    assert [p.split(":")[0] for p in problems] == ["shard 1", "shard 2"]
    assert "boom" in problems[0]
    assert shard_problems([], "champion", V2.names()) == ["no shard answered the reload"]
