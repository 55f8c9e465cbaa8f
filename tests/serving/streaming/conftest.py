"""Real Redis for the streaming tests: the shared server under a unique key prefix, or a private one.

Every test gets its own prefix (``test-stream-<hex>``) and its keys are deleted afterwards, so tests
never see each other's streams. The restart tests get a private ``RedisServer``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from models.marketdata.samples import SAMPLES
from models.streaming.events import MarketEvent
from models.streaming.replay import events_from_dataset
from serving.streaming.redis_io import DEFAULT_URL, StreamKeys
from tests.serving.streaming.redis_server import RedisServer

REDIS_URL = os.environ.get("REDIS_URL", DEFAULT_URL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared development Redis; the tests that need it skip when it does not answer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({exc})")
    return REDIS_URL


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def keys(client: redis.Redis) -> Iterator[StreamKeys]:
    """A fresh key prefix; everything under it is deleted after the test."""
    prefix = f"test-stream-{uuid.uuid4().hex[:12]}"
    yield StreamKeys(prefix=prefix)
    stale = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if stale:
        client.delete(*stale)


@pytest.fixture(scope="session")
def btc_bars() -> list[MarketEvent]:
    return events_from_dataset(next(d for d in SAMPLES if d.symbol == "BTC-PERP"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis-data"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.kill()
