"""A registry for lifecycle tests: the session bundle as versions 1 (champion) and 2 (challenger), a broken copy as 3.

Registering costs seconds per model (MLflow infers each model's pip requirements in a subprocess), so the
session registers the three bundles once (``build_lifecycle_template``, the ``lifecycle_template`` fixture)
and each test module opens a copy of that registry's database (``lifecycle_registry``): its own versions,
aliases and tags, the same artifacts. Tests put the aliases back before each test (``reset_aliases``).
MLflow's process-wide URIs point at the module's copy while it is open.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from orchestration.settings import Settings, load_settings, prepare
from serving.decision.registry import ResolvedVersions, register_bundle
from serving.lifecycle.aliases import model_versions
from serving.lifecycle.promotion import ARCHIVED_TAG

EXPERIMENT = "rtopt-lifecycle-test"
V1 = ResolvedVersions("1", "1", "1", "ppo")
V2 = ResolvedVersions("2", "2", "2", "ppo")
V3_BROKEN = ResolvedVersions("3", "3", "3", "ppo")
"""Registered from a copy of the bundle whose actor weights were cut in half."""
_EXPORTED = ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FEAST_FS_YAML_FILE_PATH", "RTOPT_ENV")
_SQLITE = "sqlite:///"


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///`` tracking URI (local settings always use one)."""
    assert uri.startswith(_SQLITE), uri
    return Path(uri.removeprefix(_SQLITE))


@contextlib.contextmanager
def _local_settings(root: Path, template: Path | None = None) -> Iterator[Settings]:
    """Local settings under ``root`` (with ``template``'s registry database copied in); the environment is restored."""
    with pytest.MonkeyPatch.context() as env:
        for name in (*_EXPORTED, "RTOPT_SERVE_URL", "RTOPT_TOKEN_ADMIN"):
            env.setenv(name, "")
            env.delenv(name)
        env.setenv("RTOPT_HOME", str(root / "home"))
        settings = load_settings(probe_redis=False)
        prepare(settings)
        if template is not None:
            shutil.copyfile(template, sqlite_path(settings.mlflow_tracking_uri))
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_registry_uri(settings.mlflow_registry_uri)
        try:
            yield settings
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it: later tests read the env again
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def build_lifecycle_template(root: Path, bundle_dir: Path) -> Path:
    """Register the three bundles under ``root``; returns the registry's database file for ``lifecycle_registry``."""
    with _local_settings(root) as settings:
        artifacts = settings.mlflow_artifact_root
        assert register_bundle(bundle_dir, "ppo", EXPERIMENT, artifacts, validation_score=0.0) == V1
        assert register_bundle(bundle_dir, "ppo", EXPERIMENT, artifacts, validation_score=-1.0) == V2
        broken = shutil.copytree(bundle_dir, root / "broken")
        weights = broken / "actor" / "actor.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        assert register_bundle(broken, "ppo", EXPERIMENT, artifacts, validation_score=-1.0) == V3_BROKEN
        return sqlite_path(settings.mlflow_tracking_uri)


@contextlib.contextmanager
def lifecycle_registry(root: Path, template: Path) -> Iterator[Settings]:
    """Local settings under ``root`` whose registry is a fresh copy of ``template`` (``build_lifecycle_template``)."""
    with _local_settings(root, template) as settings:
        yield settings


def reset_aliases(client: MlflowClient) -> None:
    """Champion 1, challenger 2, no previous, no archive tags: where every test starts."""
    for name in model_versions(V1):
        client.set_registered_model_alias(name, "champion", "1")
        client.set_registered_model_alias(name, "challenger", "2")
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(name, "previous")
        with contextlib.suppress(MlflowException):
            client.delete_model_version_tag(name, "2", ARCHIVED_TAG)
