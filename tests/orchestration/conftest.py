"""Fixtures for the orchestration tests: every piece of state under the test's own tmp_path.

``prepare()`` writes ``DAGSTER_HOME``, ``MLFLOW_*``, ``FEAST_FS_YAML_FILE_PATH``, ``RTOPT_HOME`` and
``RTOPT_REDIS_CONNECTION`` straight into ``os.environ``; each is registered with monkeypatch first
so the process environment is restored after every test, and no test ever sees a real ./.rtopt.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from orchestration.online_store import redis_answers
from orchestration.settings import DEFAULT_REDIS_URL

EXPORTED_BY_PREPARE = (
    "DAGSTER_HOME",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "FEAST_FS_YAML_FILE_PATH",
    "RTOPT_HOME",
    "RTOPT_REDIS_CONNECTION",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rtopt_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """RTOPT_HOME in tmp_path, RTOPT_ENV local; what ``prepare()`` exports is undone after the test."""
    for name in (*EXPORTED_BY_PREPARE, "RTOPT_ENV", "REDIS_URL"):
        # setenv first: delenv of an unset variable records nothing, so a later os.environ write would leak.
        monkeypatch.setenv(name, os.environ.get(name, ""))
        monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    home = tmp_path / "rtopt-home"
    monkeypatch.setenv("RTOPT_HOME", str(home))
    return home


@pytest.fixture
def redis_url() -> str:
    """The Redis server the local environment uses; skips the test when it does not answer."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    answered, why = redis_answers(url)
    if not answered:
        pytest.skip(f"Redis at {url} does not answer ({why})")
    return url


@pytest.fixture
def definitions_module(rtopt_home: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``orchestration.definitions`` imported under this test's RTOPT_HOME.

    The module resolves settings once at import, as ``dagster dev`` does once per process; importing
    it afresh here gives each test the module a new process would load for its environment.
    """
    monkeypatch.setitem(sys.modules, "orchestration.definitions", ModuleType("placeholder"))
    monkeypatch.delitem(sys.modules, "orchestration.definitions")
    return importlib.import_module("orchestration.definitions")
