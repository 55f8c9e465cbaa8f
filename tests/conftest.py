"""Shared fixtures: where the real data lies, and a skip when a fresh machine has none."""

from __future__ import annotations

from pathlib import Path

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
def rtopt_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Prepared local settings under a fresh RTOPT_HOME; every variable prepare() exports is restored."""
    exported = ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FEAST_FS_YAML_FILE_PATH")
    for name in (*exported, "RTOPT_REDIS_CONNECTION", "RTOPT_ENV"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv("RTOPT_ENV")
    monkeypatch.setenv("RTOPT_HOME", str(tmp_path / "home"))
    settings = load_settings()
    prepare(settings)
    return settings
