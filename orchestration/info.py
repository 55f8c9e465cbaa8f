"""What `rtopt info` reports: every piece of state, where it lives, which backend serves it."""

from __future__ import annotations

from orchestration.settings import Settings


def describe(settings: Settings) -> dict[str, object]:
    online = settings.online_store
    return {
        "environment": settings.environment.value,
        "home": str(settings.home),
        "dagster": {"home": str(settings.dagster_home), "storage": settings.dagster_storage},
        "mlflow": {
            "tracking_uri": settings.mlflow_tracking_uri,
            "registry_uri": settings.mlflow_registry_uri,
            "artifact_root": settings.mlflow_artifact_root,
        },
        "feast": {
            "repo": str(settings.feast_repo),
            "feature_store_yaml": str(settings.feast_yaml),
            "registry": str(settings.home / "feast" / "registry.db"),
            "offline_features": str(settings.offline_features_root),
        },
        "online_store": {
            "backend": online.backend,
            "location": online.redis_url if online.backend == "redis" else str(online.sqlite_path),
            "reason": online.reason,
        },
        "market_data": {
            "root": str(settings.market_data_root),
            "landing": str(settings.market_data_root / "landing"),
            "rejects": str(settings.market_data_root / "rejects"),
            "curated": str(settings.market_data_root / "curated"),
        },
        "audit": {"dsn": settings.audit_dsn},
    }


def render(info: dict[str, object], indent: int = 0) -> str:
    lines: list[str] = []
    for key, value in info.items():
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            lines.append(render(value, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {value}")
    return "\n".join(lines)
