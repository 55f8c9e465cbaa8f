"""Where every piece of state lives. The one place the environment is chosen: ``RTOPT_ENV``.

``local`` (the default) keeps everything under one git-ignored folder (``RTOPT_HOME``, default
``./.rtopt``): Dagster on SQLite, MLflow on SQLite with a local artifact folder, Feast's registry
and file offline store, the market-data store. The online store is Redis at ``REDIS_URL``
(default ``redis://127.0.0.1:6379/0``) when it answers, else Feast's SQLite online store.

``prod`` takes every backend from the environment and refuses to fall back: ``REDIS_URL``,
``MLFLOW_TRACKING_URI``, ``RTOPT_DAGSTER_PG_URL`` and ``RTOPT_AUDIT_DSN`` are required.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orchestration.online_store import OnlineStoreChoice, choose_online_store

log = logging.getLogger(__name__)

FEATURE_REPO = Path(__file__).resolve().parents[1] / "feature_repo"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Environment(StrEnum):
    LOCAL = "local"
    PROD = "prod"


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Resolved locations and backends; build it with ``load_settings``."""

    environment: Environment
    home: Path
    dagster_home: Path
    dagster_storage: str
    mlflow_tracking_uri: str
    mlflow_registry_uri: str
    mlflow_artifact_root: str
    feast_repo: Path
    feast_yaml: Path
    online_store: OnlineStoreChoice
    market_data_root: Path
    offline_features_root: Path
    audit_dsn: str

    def feast_env(self) -> dict[str, str]:
        """Variables the Feast YAML files expand (Feast runs ``os.path.expandvars`` on them)."""
        return {
            "RTOPT_HOME": str(self.home),
            "RTOPT_REDIS_CONNECTION": self.online_store.redis_connection or "",
        }


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ValueError(f"{name}: required when RTOPT_ENV=prod (no embedded fallback in prod)")
    return value


def load_settings(env: Mapping[str, str] | None = None, probe_redis: bool = True) -> Settings:
    """Resolve settings from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    raw_env = env.get("RTOPT_ENV", Environment.LOCAL.value).strip().lower()
    try:
        environment = Environment(raw_env)
    except ValueError:
        raise ValueError(f"RTOPT_ENV: {raw_env!r} is not one of {[e.value for e in Environment]}") from None
    home = Path(env.get("RTOPT_HOME", ".rtopt")).expanduser().resolve()
    redis_url = env.get("REDIS_URL", DEFAULT_REDIS_URL)
    if environment is Environment.PROD:
        return _prod(env, home, _require(env, "REDIS_URL"))
    online = choose_online_store(redis_url, home / "feast" / "online_store.db", probe=probe_redis)
    tracking = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return Settings(
        environment=environment,
        home=home,
        dagster_home=home / "dagster",
        dagster_storage=f"sqlite ({home / 'dagster'})",
        mlflow_tracking_uri=tracking,
        mlflow_registry_uri=tracking,
        mlflow_artifact_root=(home / "mlflow" / "artifacts").as_uri(),
        feast_repo=FEATURE_REPO,
        feast_yaml=FEATURE_REPO / ("feature_store.yaml" if online.backend == "redis" else "feature_store.sqlite.yaml"),
        online_store=online,
        market_data_root=home / "market_data",
        offline_features_root=home / "features" / "offline",
        audit_dsn=f"sqlite:///{home / 'audit' / 'audit.db'}",
    )


def _prod(env: Mapping[str, str], home: Path, redis_url: str) -> Settings:
    tracking = _require(env, "MLFLOW_TRACKING_URI")
    return Settings(
        environment=Environment.PROD,
        home=home,
        dagster_home=home / "dagster",
        dagster_storage="postgres (RTOPT_DAGSTER_PG_URL)",
        mlflow_tracking_uri=tracking,
        mlflow_registry_uri=env.get("MLFLOW_REGISTRY_URI", tracking),
        mlflow_artifact_root=env.get("MLFLOW_ARTIFACT_ROOT", "(tracking server default)"),
        feast_repo=FEATURE_REPO,
        feast_yaml=FEATURE_REPO / "feature_store.prod.yaml",
        online_store=choose_online_store(redis_url, None, probe=False),
        market_data_root=Path(env.get("RTOPT_MARKET_DATA", str(home / "market_data"))),
        offline_features_root=home / "features" / "offline",
        audit_dsn=_require(env, "RTOPT_AUDIT_DSN"),
    )


def prepare(settings: Settings) -> None:
    """Create the state folders and Dagster's instance config; export what child tools read."""
    folders = (
        settings.dagster_home,
        settings.market_data_root,
        settings.offline_features_root,
        settings.home / "mlflow",
    )
    for folder in (*folders, settings.home / "feast"):
        folder.mkdir(parents=True, exist_ok=True)
    dagster_yaml = settings.dagster_home / "dagster.yaml"
    if not dagster_yaml.exists():
        dagster_yaml.write_text(_dagster_yaml(settings.environment))
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    os.environ["MLFLOW_REGISTRY_URI"] = settings.mlflow_registry_uri
    os.environ["FEAST_FS_YAML_FILE_PATH"] = str(settings.feast_yaml)
    os.environ.update(settings.feast_env())
    log.info("online store: %s (%s)", settings.online_store.backend, settings.online_store.reason)


def _dagster_yaml(environment: Environment) -> str:
    if environment is Environment.PROD:
        return "storage:\n  postgres:\n    postgres_url:\n      env: RTOPT_DAGSTER_PG_URL\n"
    # SQLite storage is Dagster's default under DAGSTER_HOME; telemetry off for a local tool.
    return "telemetry:\n  enabled: false\n"
