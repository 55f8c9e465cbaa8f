"""Bundles from the MLflow registry by alias: ``champion`` decides, ``challenger`` runs in the shadow.

Each model is fetched as its registered version's artifact files (safetensors and JSON, never a
pickle) into a local cache keyed by name and version, so a restart or a swap back is a file read.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from safetensors import SafetensorError

from serving.decision.bundle import BANDIT_FILE, REGIME_FILE, ModelBundle, load_bundle_dir

Agent = Literal["ppo", "ddpg"]
REGIME_MODEL, BANDIT_MODEL = "rtopt-regime", "rtopt-bandit"


class ModelUnavailableError(RuntimeError):
    """A registered model could not be resolved or loaded; ``model`` names it."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"{model}: {detail}")
        self.model = model


@dataclass(frozen=True, slots=True)
class ResolvedVersions:
    """Registered name -> version for the three models of one alias."""

    regime: str
    bandit: str
    actor: str
    agent: Agent

    def names(self) -> dict[str, str]:
        return {
            "regime": f"{REGIME_MODEL}/{self.regime}",
            "bandit": f"{BANDIT_MODEL}/{self.bandit}",
            "actor": f"rtopt-{self.agent}/{self.actor}",
        }


_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
"""MLflow's error codes for a model or an alias that does not exist (any other error: the registry failed)."""


def _version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``alias`` points at; None when it is unset. An unreachable registry raises, never reads as
    "no such alias" (a poll would then stop the shadow, or a sensor see no challenger)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as error:
        if error.error_code in _NOT_FOUND:
            return None
        raise ModelUnavailableError(f"{name}@{alias}", f"registry unreachable ({error})") from error


def resolve(alias: str, agent: Agent = "ppo", client: MlflowClient | None = None) -> ResolvedVersions | None:
    """The versions ``alias`` points at; a model without that alias falls back to its champion.

    None when no model has ``alias`` (no challenger anywhere), or when a model has no champion either.
    """
    client = client or MlflowClient()
    names = (REGIME_MODEL, BANDIT_MODEL, f"rtopt-{agent}")
    found = [_version(client, name, alias) for name in names]
    if all(v is None for v in found):
        return None
    versions = [v or _version(client, name, "champion") for v, name in zip(found, names, strict=True)]
    if any(v is None for v in versions):
        missing = [n for n, v in zip(names, versions, strict=True) if v is None]
        raise ModelUnavailableError(", ".join(missing), f"has neither a {alias!r} nor a 'champion' alias")
    regime, bandit, actor = (str(v) for v in versions)
    return ResolvedVersions(regime, bandit, actor, agent)


def _fetch(name: str, version: str, cache: Path) -> Path:
    """The version's artifacts in ``cache`` (downloaded once; a registered version never changes).

    Two loads of one version may race (a registry poll and a reload request, or two shards on one cache):
    each copies into a staging folder of its own, and the one that renames second finds the first's
    complete copy in place and drops its own.
    """
    target = cache / f"{name}-{version}"
    if not target.is_dir():
        try:
            local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
        except MlflowException as error:
            raise ModelUnavailableError(f"{name}/{version}", f"download failed ({error})") from error
        staging = cache / f".{name}-{version}.{uuid.uuid4().hex}.partial"
        shutil.copytree(local / "artifacts", staging)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
    return target


def load_bundle(versions: ResolvedVersions, cache: Path) -> ModelBundle:
    """Fetch the three versions and build the bundle; raises ``ModelUnavailableError`` naming the bad model."""
    cache.mkdir(parents=True, exist_ok=True)
    names = versions.names()
    parts = {
        "regime": _fetch(REGIME_MODEL, versions.regime, cache) / REGIME_FILE,
        "bandit": _fetch(BANDIT_MODEL, versions.bandit, cache) / BANDIT_FILE,
        "actor": _fetch(f"rtopt-{versions.agent}", versions.actor, cache) / versions.agent,
    }
    folder = cache / "bundles" / "_".join(f"{k}{v.split('/')[-1]}" for k, v in names.items()) / versions.agent
    folder.mkdir(parents=True, exist_ok=True)
    for role, source in parts.items():
        link = folder / (source.name if role != "actor" else "actor")
        if not link.exists():
            link.symlink_to(source)
    try:
        return load_bundle_dir(folder, names)
    except (OSError, ValueError, KeyError, SafetensorError) as error:
        bad = _first_bad(parts, names)
        raise ModelUnavailableError(bad, f"failed to load ({error})") from error


def _first_bad(parts: dict[str, Path], names: dict[str, str]) -> str:
    """Which model of a bundle that failed to load is at fault (each part loaded alone)."""
    from models.agents import load_actor
    from models.regime import RegimeDetector
    from serving.registry.bandit_artifact import load_bandit

    loaders = {"regime": RegimeDetector.load, "bandit": load_bandit, "actor": load_actor}
    for role, path in parts.items():
        try:
            loaders[role](path)
        except (OSError, ValueError, KeyError, SafetensorError):
            return names[role]
    return "bundle"


def register_bundle(
    folder: Path, agent: Agent, experiment: str, artifact_root: str, validation_score: float
) -> ResolvedVersions:
    """Register the three models of a bundle folder (as ``load_bundle_dir`` reads it) as new versions.

    Each alias moves as the training assets move it (``assign_alias``): champion when the score beats the
    current champion's, else challenger. Used to publish bundles trained outside Dagster (tests, tools).
    """
    import tempfile

    from serving.registry.mlflow_registry import TrainingRecord, log_and_register

    with tempfile.TemporaryDirectory() as tmp:
        actor_dir = Path(tmp) / agent
        shutil.copytree(folder / "actor", actor_dir)
        parts = {
            REGIME_MODEL: ("regime", {"regime": folder / REGIME_FILE}),
            BANDIT_MODEL: ("bandit", {"bandit": folder / BANDIT_FILE}),
            f"rtopt-{agent}": ("actor", {"actor": actor_dir}),
        }
        versions = {}
        for name, (kind, artifacts) in parts.items():
            record = TrainingRecord(
                registered_name=name,
                kind=kind,
                params={"source": str(folder)},
                metrics={},
                validation_score=validation_score,
                artifacts=artifacts,
                signature=None,
                feature_service="decision_v1",
                data_start="",
                data_end="",
            )
            versions[kind] = log_and_register(record, experiment, artifact_root).version
    return ResolvedVersions(versions["regime"], versions["bandit"], versions["actor"], agent)
