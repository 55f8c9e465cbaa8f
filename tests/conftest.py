"""Shared fixtures: where the real data lies, and a skip when a fresh machine has none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from orchestration.settings import Settings, load_settings, prepare

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rtopt_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Prepared local settings under a fresh RTOPT_HOME; every variable prepare() exports is restored.

    MLflow's process-wide URIs (set by ``MlflowResource.activate`` and some tests) point at this home for
    the test and are unset after it, so the next test reads its own environment, not a stale registry.
    """
    exported = ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FEAST_FS_YAML_FILE_PATH")
    for name in (*exported, "RTOPT_REDIS_CONNECTION", "RTOPT_ENV"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv("RTOPT_ENV")
    monkeypatch.setenv("RTOPT_HOME", str(tmp_path / "home"))
    settings = load_settings()
    prepare(settings)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_registry_uri)
    yield settings
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it: the environment is read again
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def decision_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model bundle trained once per session on the first 60% of the shipped BTC-PERP week (small budgets)."""
    from models.marketdata.samples import SAMPLES
    from serving.decision.training import BundleTrainingConfig, train_bundle

    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    folder = tmp_path_factory.mktemp("decision-bundle")
    config = BundleTrainingConfig(agent_steps=1024, regime_bars=1_000, seed=0)
    train_bundle(frame.iloc[: int(len(frame) * 0.6)], sample.kind, folder, config)
    return folder / "bundle"


@pytest.fixture(scope="session")
def btc_events() -> list[dict[str, object]]:
    """The shipped BTC-PERP bars from 60% on (the part the bundle never saw), as wire payloads."""
    from models.marketdata.samples import SAMPLES
    from serving.decision.replay import frame_payloads

    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    return frame_payloads(frame.iloc[int(len(frame) * 0.6) :], "BTC-PERP")


@pytest.fixture(scope="session")
def lifecycle_template(tmp_path_factory: pytest.TempPathFactory, decision_bundle_dir: Path) -> Path:
    """The lifecycle tests' registry (versions 1, 2 and a broken 3), registered once; modules open copies of it."""
    from tests.serving.lifecycle.registry_setup import build_lifecycle_template

    return build_lifecycle_template(tmp_path_factory.mktemp("lifecycle-template"), decision_bundle_dir)
