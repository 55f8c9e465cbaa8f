"""Redis Streams plumbing shared by the producer and the worker: key names, connections, retries, publish.

Keys under a prefix (default ``rtopt``; tests use a unique one each):

- ``<prefix>:events:<partition>``: the event stream of one partition, one field ``event`` = JSON payload
- ``<prefix>:deadletter``: rejected events with reason, detail, payload and source entry id
- ``<prefix>:stream:checkpoint:<partition>``: hash, ``meta`` plus one ``symbol:<symbol>`` field per symbol
- ``<prefix>:stream:counters:<partition>``: hash mirroring the worker's counters

Streams are never trimmed here: an entry trimmed before it is processed is an event lost, so
trimming belongs to an operator who trims below the consumer group's acknowledged position.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from models.streaming.events import MarketEvent
from models.streaming.processor import partition_of

log = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
EVENT_FIELD = b"event"
T = TypeVar("T")
RedisDown = (redis.ConnectionError, redis.TimeoutError)
"""Errors that mean "Redis unreachable for now" (BusyLoadingError, a server still loading its AOF, is one)."""


class StreamUnavailable(RuntimeError):  # noqa: N818 - the name callers catch; it says what is unavailable
    """Redis cannot be reached (at start, or after the retry budget is spent); names the URL."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"Redis stream at {redact(url)} unavailable: {detail}")
        self.url = url


def redact(url: str) -> str:
    """Hide a password in a Redis URL before it is logged or raised."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamKeys:
    """Redis key names of one deployment; ``prefix`` isolates deployments and tests."""

    prefix: str = "rtopt"

    def events(self, partition: int) -> str:
        return f"{self.prefix}:events:{partition}"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}:deadletter"

    def checkpoint(self, partition: int) -> str:
        return f"{self.prefix}:stream:checkpoint:{partition}"

    def counters(self, partition: int) -> str:
        return f"{self.prefix}:stream:counters:{partition}"

    def all_keys(self, parallelism: int) -> list[str]:
        parts = range(parallelism)
        return [self.deadletter, *(k for p in parts for k in (self.events(p), self.checkpoint(p), self.counters(p)))]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff for a lost Redis connection: delay_k = min(max_delay, base * 2^k)."""

    attempts: int = 8
    """Retries after the first failure; with the defaults the worker waits about 6 s in total before giving up."""
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if type(self.attempts) is not int or self.attempts < 0:
            raise ValueError(f"attempts: must be an integer >= 0, got {self.attempts!r}")
        if not 0.0 < self.base_delay_s <= self.max_delay_s:
            raise ValueError(f"base_delay_s: must be > 0 and <= max_delay_s, got {self.base_delay_s!r}")

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2.0**attempt))


def connect(url: str, *, timeout_s: float = 10.0) -> redis.Redis:
    """A client for ``url`` whose own retries are off.

    redis-py retries failed commands by default, silently; a silently retried XREADGROUP hides
    entries that were delivered into the pending list, and a retried MULTI/EXEC can apply twice. The
    worker's retry loop must see every failure, so the client reports each one.
    """
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


def with_backoff(
    fn: Callable[[], T],
    *,
    what: str,
    url: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    on_retry: Callable[[Exception], None] | None = None,
) -> T:
    """Call ``fn``; on a connection error call ``on_retry``, wait per ``policy`` and try again.

    Raises ``StreamUnavailable`` when the retries are spent. Every retry is logged at WARNING.
    """
    for attempt in range(policy.attempts + 1):
        try:
            return fn()
        except RedisDown as exc:
            if on_retry is not None:
                on_retry(exc)
            if attempt == policy.attempts:
                raise StreamUnavailable(url, f"{what} failed {attempt + 1} times, last: {exc}") from exc
            delay = policy.delay(attempt)
            log.warning(
                "%s: %s (%s); retry %d/%d in %.2f s",
                what,
                exc.__class__.__name__,
                exc,
                attempt + 1,
                policy.attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


def publish(
    client: redis.Redis,
    events: Iterable[MarketEvent | Mapping[str, Any]],
    parallelism: int,
    *,
    keys: StreamKeys = StreamKeys(),
    chunk: int = 1000,
) -> dict[int, int]:
    """XADD each event to ``<prefix>:events:<partition_of(symbol, parallelism)>``; returns counts per partition.

    Pipelined, ``chunk`` entries per round trip. A mapping is sent as its JSON (routed by its
    ``symbol``; one without is still sent, to partition of "", and dead-lettered by the worker).
    Publishing is at-least-once: re-sending after an error may duplicate entries, which the worker
    recognises by (symbol, timestamp, event id) and processes once.
    """
    if parallelism < 1 or chunk < 1:
        raise ValueError(f"parallelism and chunk: must be >= 1, got {parallelism}, {chunk}")
    streams = [keys.events(p) for p in range(parallelism)]
    counts = dict.fromkeys(range(parallelism), 0)
    routes: dict[str, int] = {}
    pipe = client.pipeline(transaction=False)
    pending = 0
    for event in events:
        if isinstance(event, MarketEvent):
            symbol, payload = event.symbol, event.to_json()
        else:
            symbol, payload = str(event.get("symbol", "")), json.dumps(event, default=str).encode()
        partition = routes.get(symbol)
        if partition is None:
            partition = routes[symbol] = partition_of(symbol, parallelism)
        pipe.xadd(streams[partition], {EVENT_FIELD: payload})
        counts[partition] += 1
        pending += 1
        if pending >= chunk:
            pipe.execute()
            pending = 0
    if pending:
        pipe.execute()
    return counts


def delete_keys(client: redis.Redis, keys: StreamKeys, parallelism: int) -> None:
    """Remove every key of a deployment (tests and benchmarks that used a fresh prefix)."""
    client.delete(*keys.all_keys(parallelism))
