"""The models one policy decides with: regime detector, bandit, actor and its scaler, and their versions.

A bundle is read from weight files only (JSON for the detector and the bandit, safetensors for the
actor): never a pickle. ``load_bundle_dir`` reads a folder laid out as the registry stores artifacts;
``serving.decision.registry`` fetches that folder from MLflow by alias. The bandit here is the
registered one: the engine takes a copy and keeps learning online on the copy, so a bundle can be
shared by several engines (champion of one, shadow of another) without them interfering.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from models.agents import load_actor
from models.agents.export import ActorFn
from models.bandit import LinUCB, context_dim
from models.env import FeatureScaler
from models.regime import RegimeDetector
from serving.registry.bandit_artifact import load_bandit, save_bandit

SCALER_FILE = "scaler.json"
REGIME_FILE = "regime.json"
BANDIT_FILE = "bandit.json"
VERSIONS_FILE = "versions.json"
ROLES = ("regime", "bandit", "actor")


@dataclass(frozen=True, kw_only=True, eq=False)
class ModelBundle:
    """Everything a policy needs besides per-symbol state; immutable (the bandit is copied before use)."""

    detector: RegimeDetector
    bandit: LinUCB
    actor: ActorFn
    scaler: FeatureScaler
    versions: Mapping[str, str] = field(default_factory=dict)
    """Model name -> "registered name/version" (or a file digest for bundles outside the registry)."""
    actor_dir: Path | None = None
    """The exported actor's folder (safetensors, spec, scaler; optional SHAP background): explanations read it."""

    def __post_init__(self) -> None:
        if self.bandit.config.dim != context_dim(len(self.bandit.arms)):
            raise ValueError(
                f"bandit: dim {self.bandit.config.dim} does not fit its {len(self.bandit.arms)} arms "
                f"(expected {context_dim(len(self.bandit.arms))})"
            )
        missing = [role for role in ROLES if role not in self.versions]
        if missing:
            raise ValueError(f"versions: missing {missing}; every decision names the model versions it used")
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))


def load_bundle_dir(folder: Path, versions: Mapping[str, str] | None = None) -> ModelBundle:
    """A bundle from ``folder``: regime.json, bandit.json, actor/ (safetensors, spec, scaler.json)."""
    for needed in (folder / REGIME_FILE, folder / BANDIT_FILE, folder / "actor" / SCALER_FILE):
        if not needed.is_file():
            raise FileNotFoundError(f"bundle: {needed} is missing")
    if versions is None:
        versions_file = folder / VERSIONS_FILE
        versions = json.loads(versions_file.read_text()) if versions_file.is_file() else {r: "local" for r in ROLES}
    return ModelBundle(
        detector=RegimeDetector.load(folder / REGIME_FILE),
        bandit=load_bandit(folder / BANDIT_FILE),
        actor=load_actor(folder / "actor"),
        scaler=FeatureScaler.from_json((folder / "actor" / SCALER_FILE).read_text()),
        versions=versions,
        actor_dir=(folder / "actor").resolve(),
    )


def save_bundle_parts(
    folder: Path,
    *,
    detector: RegimeDetector,
    bandit: LinUCB,
    actor_dir: Path,
    versions: Mapping[str, str],
) -> Path:
    """Lay out ``folder`` as ``load_bundle_dir`` reads it (the actor folder is copied as exported)."""
    folder.mkdir(parents=True, exist_ok=True)
    detector.save(folder / REGIME_FILE)
    save_bandit(bandit, folder / BANDIT_FILE)
    shutil.copytree(actor_dir, folder / "actor", dirs_exist_ok=True)
    (folder / VERSIONS_FILE).write_text(json.dumps(dict(versions), indent=2))
    return folder
