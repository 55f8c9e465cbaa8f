"""Pick the Feast online store: Redis when it answers, else Feast's SQLite store (logged)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OnlineStoreChoice:
    """Which backend serves online features, and why."""

    backend: Literal["redis", "sqlite"]
    redis_url: str
    sqlite_path: Path | None
    reason: str

    @property
    def redis_connection(self) -> str | None:
        """Feast's Redis connection string (``host:port,db=N``) for ``redis_url``."""
        if self.backend != "redis":
            return None
        pool = redis.ConnectionPool.from_url(self.redis_url)
        kw = pool.connection_kwargs
        extra = f",password={kw['password']}" if kw.get("password") else ""
        return f"{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)},db={kw.get('db', 0)}{extra}"


def redis_answers(url: str, timeout_s: float = 0.5) -> tuple[bool, str]:
    """PING ``url``; returns (answered, why not)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return False, f"{exc.__class__.__name__}: {exc}"
    return True, "PING answered"


def choose_online_store(url: str, sqlite_path: Path | None, probe: bool = True) -> OnlineStoreChoice:
    """Redis at ``url`` if it answers (or if ``sqlite_path`` is None: prod never falls back)."""
    if sqlite_path is None:
        return OnlineStoreChoice("redis", url, None, "prod: Redis required")
    if not probe:
        return OnlineStoreChoice("sqlite", url, sqlite_path, "Redis not probed")
    ok, why = redis_answers(url)
    if ok:
        choice = OnlineStoreChoice("redis", url, None, f"Redis at {_redact(url)} answered PING")
    else:
        choice = OnlineStoreChoice("sqlite", url, sqlite_path, f"Redis at {_redact(url)} unreachable ({why})")
    log.info("feast online store: %s: %s", choice.backend, choice.reason)
    return choice


def _redact(url: str) -> str:
    """Hide a password in a URL before it is logged."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
