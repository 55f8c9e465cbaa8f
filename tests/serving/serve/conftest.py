"""One running Serve app per test module: champion registered from the session bundle, served on local Ray."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest

from serving.decision.registry import ResolvedVersions, register_bundle
from serving.serve.config import ServeConfig
from serving.serve.ports import free_port

ROLE_TOKENS = {
    "RTOPT_TOKEN_ADMIN": "admin-token-0123456789",
    "RTOPT_TOKEN_RISK": "risk-token-0123456789",
    "RTOPT_TOKEN_TRADER": "trader-token-0123456789",
}
TOKEN = ROLE_TOKENS["RTOPT_TOKEN_ADMIN"]
SYMBOLS = ("BTC-PERP", "BTC-PARITY", "BTC-SWAP", "BTC-LOAD")
EXPERIMENT = "serve-tests"


@dataclass(frozen=True)
class ChampionRegistry:
    database: Path
    """A registry's SQLite file holding only the bundle, registered as champion."""
    artifact_root: str
    champion: ResolvedVersions


@functools.cache
def champion_registry(bundle_dir: Path) -> ChampionRegistry:
    """``bundle_dir`` registered as champion once per bundle folder, in a registry beside it.

    Registering costs seconds per model (MLflow infers each model's pip requirements in a subprocess), so every
    app starts from a copy of this database: its own versions and aliases, and this artifact store, where the
    versions a test adds land under fresh run ids.
    """
    root = bundle_dir.parent / "serve-registry"
    root.mkdir()  # fails rather than reuse a registry some other run left there
    tracking = f"sqlite:///{root / 'mlflow.db'}"
    artifact_root = (root / "artifacts").as_uri()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    try:
        champion = register_bundle(bundle_dir, "ppo", EXPERIMENT, artifact_root, validation_score=0.0)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it: the environment is read again
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    return ChampionRegistry(root / "mlflow.db", artifact_root, champion)


@dataclass(frozen=True)
class RunningApp:
    url: str
    config: ServeConfig
    home: Path
    champion: ResolvedVersions
    experiment: str
    artifact_root: str


@contextlib.contextmanager
def running_app(home: Path, bundle_dir: Path, **overrides: Any) -> Iterator[RunningApp]:
    """The app on local Ray with ``bundle_dir`` as champion in a fresh registry under ``home`` (a copy, see above)."""
    from serving.serve.runner import start, stop

    registry = champion_registry(bundle_dir)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(registry.database, home / "mlflow.db")
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", *ROLE_TOKENS)
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(MLFLOW_TRACKING_URI=tracking, MLFLOW_REGISTRY_URI=tracking)
    os.environ.update(ROLE_TOKENS)
    # the registry the shards read (set explicitly: an earlier test may have left a process-wide URI)
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    settings: dict[str, Any] = {
        "mlflow_tracking_uri": tracking,
        "model_cache": str(home / "cache"),
        "symbols": SYMBOLS,
        "clock": "market",
        "port": free_port(),
        "registry_poll_s": 0.5,
        "audit_dsn": f"sqlite:///{home / 'audit' / 'audit.db'}",
        "max_batch": 5_000,
    }
    config = ServeConfig(**(settings | overrides))
    url = start(config)
    try:
        yield RunningApp(url, config, home, registry.champion, EXPERIMENT, registry.artifact_root)
    finally:
        stop()
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it: the environment is read again
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def serve_app(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("serve-home"), decision_bundle_dir) as app:
        yield app
