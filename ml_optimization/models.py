"""Where the Python API's models come from, and how the seed's configs compare with them.

Registry first: the ``champion`` alias of the regime detector, the bandit and the configured actor in
the MLflow registry of ``orchestration.settings`` (what ``make demo`` and the Dagster assets register).
Without a champion (a fresh machine), a small bundle is trained on the shipped BTC-PERP sample with
``serving.decision.training.train_bundle`` and kept under RTOPT_HOME, so the next start loads it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_optimization.config import Agent, MLOptimizationConfig
from models.agents import ExportedActor
from orchestration.settings import Settings
from serving.decision.bundle import VERSIONS_FILE, ModelBundle, load_bundle_dir
from serving.decision.training import BundleTrainingConfig

log = logging.getLogger(__name__)

SAMPLE_SYMBOL = "BTC-PERP"
_SQLITE = "sqlite:///"
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LoadedModels:
    """A bundle and, in words, where it came from."""

    bundle: ModelBundle
    source: str


def state_folder(settings: Settings) -> Path:
    """The Python API's own files under RTOPT_HOME: the registry cache and the sample bundles."""
    return settings.home / "ml_optimization"


def registry_exists(registry_uri: str) -> bool:
    """False for a local SQLite registry whose file is not there yet (opening it would create it)."""
    if registry_uri.startswith(_SQLITE):
        return Path(registry_uri.removeprefix(_SQLITE)).is_file()
    return True


def registry_models(settings: Settings, agent: Agent, say: Say) -> LoadedModels | None:
    """The champion bundle from the registry, or None when it holds no champion.

    Raises ``ModelUnavailableError`` when some models have a champion and others none, or a download fails.
    """
    if not registry_exists(settings.mlflow_registry_uri):
        say(f"no model registry yet at {settings.mlflow_registry_uri}")
        return None
    from mlflow import MlflowClient

    from serving.decision.registry import load_bundle, resolve

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri)
    versions = resolve("champion", agent, client)
    if versions is None:
        say(f"the model registry at {settings.mlflow_registry_uri} has no champion")
        return None
    bundle = load_bundle(versions, state_folder(settings) / "registry_cache")
    return LoadedModels(bundle, f"MLflow registry champion ({settings.mlflow_registry_uri})")


def sample_folder(settings: Settings, training: BundleTrainingConfig) -> Path:
    """One folder per training budget, so a changed budget trains anew instead of loading the old bundle."""
    t = training
    key = f"{SAMPLE_SYMBOL}-{t.agent}-steps{t.agent_steps}-regime{t.regime_bars}-seed{t.seed}"
    return state_folder(settings) / "sample_bundles" / key


def sample_models(settings: Settings, training: BundleTrainingConfig, say: Say) -> LoadedModels:
    """The bundle trained on the shipped sample: loaded when cached, else trained, cached, then loaded."""
    folder = sample_folder(settings, training)
    if not (folder / "bundle" / VERSIONS_FILE).is_file():
        say(
            f"training a small bundle on the shipped {SAMPLE_SYMBOL} sample "
            f"({training.agent}, {training.agent_steps} steps); it is kept at {folder}"
        )
        _train_sample(folder, training)
        return LoadedModels(load_bundle_dir(folder / "bundle"), f"trained on the shipped {SAMPLE_SYMBOL} sample")
    return LoadedModels(load_bundle_dir(folder / "bundle"), f"{SAMPLE_SYMBOL} sample bundle cached at {folder}")


def _train_sample(folder: Path, training: BundleTrainingConfig) -> None:
    """Train into a staging folder and move it in place whole: a crash never leaves a half bundle."""
    from models.marketdata.samples import SAMPLES
    from serving.decision.training import train_bundle

    sample = next(s for s in SAMPLES if s.symbol == SAMPLE_SYMBOL)
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    train_bundle(sample.load().frame, sample.kind, staging, training, progress=log.debug)
    shutil.rmtree(staging / "training")
    if folder.exists():  # another process trained the same budget meanwhile: keep the first
        shutil.rmtree(staging)
        return
    staging.rename(folder)


def config_mismatches(config: MLOptimizationConfig, bundle: ModelBundle) -> dict[str, dict[str, Any]]:
    """Fields of the seed's configs that differ from the served models: ``{field: {config, serving}}``."""
    out: dict[str, dict[str, Any]] = {}
    spec = getattr(bundle.actor, "spec", None)
    if isinstance(spec, ExportedActor):
        ddpg = config.ddpg_config
        pairs: dict[str, tuple[Any, Any]] = {
            "ddpg_config.state_dim": (ddpg.state_dim, spec.state_dim),
            "ddpg_config.action_dim": (ddpg.action_dim, spec.action_dim),
        }
        if spec.algorithm == "ddpg":
            pairs["ddpg_config.hidden_layers"] = (ddpg.hidden_layers, spec.layer_sizes[1:-1])
        out.update({k: {"config": c, "serving": s} for k, (c, s) in pairs.items() if c != s})
    served = bundle.bandit.config
    for name in ("exploration_rate", "max_concurrent_strategies"):
        wanted, actual = getattr(config.bandit_config, name), getattr(served, name)
        if wanted != actual:
            out[f"bandit_config.{name}"] = {"config": wanted, "serving": actual}
    return out


def describe_mismatches(mismatches: dict[str, dict[str, Any]]) -> str:
    parts = [f"{name}={m['config']} (served: {m['serving']})" for name, m in mismatches.items()]
    return (
        "the configs differ from the served models, which keep what they were trained with: "
        + "; ".join(parts)
        + ". The configs describe models to train; they do not reshape a trained one."
    )
