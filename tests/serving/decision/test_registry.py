"""Bundles from the MLflow registry by alias: resolve, fetch, load, decide like the folder; fail naming the model.

Registering a model costs seconds, so the module registers once: the bundle's three parts as champions, then
a worse bandit (the challenger), in a fresh RTOPT_HOME set up as the ``rtopt_settings`` fixture does.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest

from orchestration.settings import Settings, load_settings, prepare
from serving.decision.bundle import BANDIT_FILE, REGIME_FILE, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.registry import ModelUnavailableError, ResolvedVersions, load_bundle, resolve
from serving.registry.mlflow_registry import TrainingRecord, log_and_register

EXPERIMENT = "rtopt-decision-registry-test"
CHAMPION_NAMES = {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1", "actor": "rtopt-ppo/1"}


@dataclass(frozen=True)
class Registry:
    settings: Settings
    challenger_before: ResolvedVersions | None
    """``resolve("challenger")`` while only champions were registered."""
    aliases: list[str]
    """The alias each registration got, in order: regime, bandit, actor, the second bandit."""


def register(settings: Settings, name: str, kind: str, artifact: Path, score: float) -> str:
    """Log and register one model as the training assets do (``assets/models.py``); returns its alias."""
    record = TrainingRecord(
        registered_name=name,
        kind=kind,
        params={},
        metrics={},
        validation_score=score,
        artifacts={kind: artifact},
        signature=None,
        feature_service="decision_v1",
        data_start="2022-01-03T00:00:00+00:00",
        data_end="2022-01-07T00:00:00+00:00",
    )
    return log_and_register(record, EXPERIMENT, settings.mlflow_artifact_root).alias


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("decision-registry")
    with pytest.MonkeyPatch.context() as env:
        exported = ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FEAST_FS_YAML_FILE_PATH")
        for name in (*exported, "RTOPT_REDIS_CONNECTION", "RTOPT_ENV"):
            env.setenv(name, "")
        env.delenv("RTOPT_ENV")
        env.setenv("RTOPT_HOME", str(root / "home"))
        settings = load_settings(probe_redis=False)
        prepare(settings)
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_registry_uri(settings.mlflow_registry_uri)
        actor_dir = shutil.copytree(decision_bundle_dir / "actor", root / "ppo")  # the folder names the agent
        aliases = [
            register(settings, "rtopt-regime", "regime", decision_bundle_dir / REGIME_FILE, 0.5),
            register(settings, "rtopt-bandit", "bandit", decision_bundle_dir / BANDIT_FILE, 1.0),
            register(settings, "rtopt-ppo", "actor", actor_dir, 1.0),
        ]
        before = resolve("challenger")
        aliases.append(register(settings, "rtopt-bandit", "bandit", decision_bundle_dir / BANDIT_FILE, 0.5))
        yield Registry(settings, before, aliases)
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it: later tests read the env again
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def without_versions(decision: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in decision.items() if k != "model_versions"}


def test_resolve_given_only_champions_registered_returns_none_for_challenger(registry: Registry) -> None:
    assert registry.aliases[:3] == ["champion"] * 3
    assert registry.challenger_before is None


def test_resolve_given_challenger_for_bandit_only_returns_it_with_the_other_champions(registry: Registry) -> None:
    challenger = resolve("challenger")

    assert registry.aliases[3] == "challenger"
    assert challenger == ResolvedVersions("1", "2", "1", "ppo")
    assert challenger.names() == {**CHAMPION_NAMES, "bandit": "rtopt-bandit/2"}


def test_load_bundle_given_registered_champions_returns_bundle_deciding_like_the_folder(
    registry: Registry, decision_bundle_dir: Path, btc_events: list[dict[str, Any]], tmp_path: Path
) -> None:
    versions = resolve("champion")
    assert versions == ResolvedVersions("1", "1", "1", "ppo")

    registered = load_bundle(versions, tmp_path / "cache")
    registry_engine = DecisionEngine(registered, EngineConfig(clock="market"))
    folder_engine = DecisionEngine(load_bundle_dir(decision_bundle_dir), EngineConfig(clock="market"))
    from_registry = [registry_engine.process(e) for e in btc_events[:300]]
    from_folder = [folder_engine.process(e) for e in btc_events[:300]]

    assert dict(registered.versions) == CHAMPION_NAMES
    assert all(d.model_versions == CHAMPION_NAMES for d in from_registry)
    assert [without_versions(d.comparable()) for d in from_registry] == [
        without_versions(d.comparable()) for d in from_folder
    ]
    assert any(d.position_size != 0.0 for d in from_registry)


def _load_then_corrupt_cached_actor(cache: Path, edit: str) -> ResolvedVersions:
    versions = ResolvedVersions("1", "1", "1", "ppo")
    load_bundle(versions, cache)
    weights = cache / "rtopt-ppo-1" / "ppo" / "actor.safetensors"
    data = bytearray(weights.read_bytes())
    if edit == "flip":
        data[-8] ^= 0xFF  # inside the last tensor's values: the header still parses
    else:
        del data[len(data) // 2 :]
    weights.write_bytes(bytes(data))
    return versions


def test_load_bundle_given_actor_weights_edited_in_cache_raises_model_unavailable_naming_actor(
    registry: Registry, tmp_path: Path
) -> None:
    versions = _load_then_corrupt_cached_actor(tmp_path / "cache", "flip")

    with pytest.raises(ModelUnavailableError, match="SHA-256") as caught:
        load_bundle(versions, tmp_path / "cache")

    assert caught.value.model == "rtopt-ppo/1"


def test_load_bundle_given_actor_weights_truncated_in_cache_raises_model_unavailable_naming_actor(
    registry: Registry, tmp_path: Path
) -> None:
    versions = _load_then_corrupt_cached_actor(tmp_path / "cache", "truncate")

    with pytest.raises(ModelUnavailableError) as caught:
        load_bundle(versions, tmp_path / "cache")

    assert caught.value.model == "rtopt-ppo/1"


def test_fetch_given_another_load_of_the_version_finishing_first_keeps_its_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry poll and a reload request may fetch one version at once: the second rename must not fail."""
    from serving.decision import registry as registry_module

    cache, download = tmp_path / "cache", tmp_path / "download"
    (download / "artifacts").mkdir(parents=True)
    (download / "artifacts" / "weights.bin").write_bytes(b"ours")
    cache.mkdir()
    target = cache / "rtopt-ppo-2"

    def other_load_wins(uri: str) -> str:
        assert uri == "models:/rtopt-ppo/2"
        target.mkdir()
        (target / "weights.bin").write_bytes(b"theirs")  # the same version's files, copied first
        return str(download)

    monkeypatch.setattr(registry_module.mlflow.artifacts, "download_artifacts", other_load_wins)

    assert registry_module._fetch("rtopt-ppo", "2", cache) == target
    assert (target / "weights.bin").read_bytes() == b"theirs"
    assert sorted(p.name for p in cache.iterdir()) == ["rtopt-ppo-2"]  # no staging folder left behind
