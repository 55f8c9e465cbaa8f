"""Settings: the one place the environment and the online store are chosen, and Feast reads the result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from feast import FeatureStore

from orchestration.settings import Environment, load_settings, prepare

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@pytest.mark.redis
def test_load_settings_given_local_env_and_redis_answering_returns_redis_and_feature_store_yaml(
    tmp_path: Path, redis_url: str
) -> None:
    settings = load_settings({"RTOPT_HOME": str(tmp_path), "REDIS_URL": redis_url})

    assert settings.environment is Environment.LOCAL
    assert settings.online_store.backend == "redis"
    assert settings.feast_yaml.name == "feature_store.yaml"
    assert "answered PING" in settings.online_store.reason
    assert settings.home == tmp_path.resolve()
    assert settings.dagster_home == tmp_path.resolve() / "dagster"
    assert settings.market_data_root == tmp_path.resolve() / "market_data"


def test_load_settings_given_redis_on_closed_port_returns_sqlite_with_unreachable_reason(tmp_path: Path) -> None:
    settings = load_settings({"RTOPT_HOME": str(tmp_path), "REDIS_URL": CLOSED_PORT_URL})

    assert settings.online_store.backend == "sqlite"
    assert settings.feast_yaml.name == "feature_store.sqlite.yaml"
    assert "unreachable" in settings.online_store.reason
    assert settings.online_store.sqlite_path == tmp_path.resolve() / "feast" / "online_store.db"
    assert settings.online_store.redis_connection is None


def test_load_settings_given_password_in_redis_url_returns_reason_without_password(tmp_path: Path) -> None:
    settings = load_settings({"RTOPT_HOME": str(tmp_path), "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})

    assert "hunter2" not in settings.online_store.reason
    assert "***@127.0.0.1:1/0" in settings.online_store.reason


def test_load_settings_given_prod_without_redis_url_raises_naming_redis_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        load_settings({"RTOPT_ENV": "prod", "RTOPT_HOME": str(tmp_path)})


def test_load_settings_given_prod_without_audit_dsn_raises_naming_it(tmp_path: Path) -> None:
    env = {"RTOPT_ENV": "prod", "REDIS_URL": CLOSED_PORT_URL, "MLFLOW_TRACKING_URI": "http://mlflow:5000"}

    with pytest.raises(ValueError, match="RTOPT_AUDIT_DSN"):
        load_settings(env)


def test_load_settings_given_complete_prod_env_returns_redis_without_probing(tmp_path: Path) -> None:
    env = {
        "RTOPT_ENV": "PROD",
        "RTOPT_HOME": str(tmp_path),
        "REDIS_URL": CLOSED_PORT_URL,
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "RTOPT_AUDIT_DSN": "postgresql://audit@db/audit",
    }

    settings = load_settings(env)

    assert settings.environment is Environment.PROD
    assert settings.online_store.backend == "redis", "prod never falls back to SQLite"
    assert settings.online_store.redis_connection == "127.0.0.1:1,db=0"
    assert settings.feast_yaml.name == "feature_store.prod.yaml"
    assert settings.mlflow_registry_uri == "http://mlflow:5000"
    assert settings.audit_dsn == "postgresql://audit@db/audit"


def test_load_settings_given_unknown_environment_raises_naming_rtopt_env(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"RTOPT_ENV: 'bogus' is not one of \['local', 'prod'\]"):
        load_settings({"RTOPT_ENV": "bogus", "RTOPT_HOME": str(tmp_path)})


def test_prepare_given_local_settings_returns_folders_dagster_yaml_and_exported_env(rtopt_home: Path) -> None:
    settings = load_settings({"RTOPT_HOME": str(rtopt_home), "REDIS_URL": CLOSED_PORT_URL})

    prepare(settings)

    for folder in ("dagster", "market_data", "feast", "mlflow"):
        assert (rtopt_home / folder).is_dir()
    assert (rtopt_home / "dagster" / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert os.environ["DAGSTER_HOME"] == str(settings.dagster_home)
    assert os.environ["FEAST_FS_YAML_FILE_PATH"] == str(settings.feast_yaml)
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{rtopt_home.resolve() / 'mlflow' / 'mlflow.db'}"
    assert os.environ["RTOPT_REDIS_CONNECTION"] == ""


@pytest.mark.redis
def test_feature_store_given_redis_settings_returns_redis_online_store_config(rtopt_home: Path, redis_url: str) -> None:
    settings = load_settings({"RTOPT_HOME": str(rtopt_home), "REDIS_URL": redis_url})
    prepare(settings)

    store = FeatureStore(repo_path=str(settings.feast_repo), fs_yaml_file=settings.feast_yaml)

    assert store.config.online_store.type == "redis"
    assert store.config.online_store.connection_string == settings.online_store.redis_connection
    assert store.config.registry.path == str(rtopt_home.resolve() / "feast" / "registry.db")
    assert store.project == "rtopt"


def test_feature_store_given_sqlite_settings_returns_sqlite_online_store_under_home(rtopt_home: Path) -> None:
    settings = load_settings({"RTOPT_HOME": str(rtopt_home), "REDIS_URL": CLOSED_PORT_URL})
    prepare(settings)

    store = FeatureStore(repo_path=str(settings.feast_repo), fs_yaml_file=settings.feast_yaml)

    assert store.config.online_store.type == "sqlite"
    assert store.config.online_store.path == str(rtopt_home.resolve() / "feast" / "online_store.db")
    assert store.config.registry.path == str(rtopt_home.resolve() / "feast" / "registry.db")
