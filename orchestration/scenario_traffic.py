"""The scenario's client: market events posted to Serve's ``POST /v1/decisions`` from a thread, every failure counted.

A failed request is one that raised (connection refused, reset, timeout) or answered anything but 200: the
number the swap must keep at zero. Events the app answered with a per-event error (``{"error": ...}``) are
counted apart, as are the decisions per champion actor version, which shows when the swap took effect.
The pace is set from outside (``set_pace``): slow while the chain waits on training, fast while the shadow
gate needs paired decisions, so the post-shift events last the whole scenario.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True, slots=True)
class Pace:
    """``batch`` events per request, then ``pause_s`` seconds of quiet."""

    batch: int
    pause_s: float

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch: must be >= 1, got {self.batch}")
        if self.pause_s < 0:
            raise ValueError(f"pause_s: must be >= 0, got {self.pause_s}")


@dataclass(frozen=True, slots=True)
class TrafficReport:
    requests: int
    failed_requests: int
    failures: tuple[str, ...]
    """The first few failures, as text (status and body, or the exception)."""
    events_sent: int
    decisions: int
    event_errors: int
    actor_versions: dict[str, int]
    """Champion actor (``rtopt-ppo/N``) -> decisions it made."""
    exhausted: bool
    """True when every event was sent before ``stop``: the traffic did not cover the whole scenario."""
    seconds: float


class Traffic(threading.Thread):
    """Posts ``events`` in order at the current pace until they run out or ``stop`` is called."""

    def __init__(
        self, url: str, events: list[dict[str, Any]], pace: Pace, *, head: int = 0, timeout_s: float = 60.0
    ) -> None:
        """``head``: the first request carries that many events at once (the warm-up), then the pace holds."""
        super().__init__(name="scenario-traffic", daemon=True)
        self._head = head
        self._url, self._events, self._timeout_s = f"{url}/v1/decisions", events, timeout_s
        self._pace, self._lock, self._halt = pace, threading.Lock(), threading.Event()
        self._sent = self._requests = self._decisions = self._event_errors = 0
        self._failures: list[str] = []
        self._failed = 0
        self._versions: Counter[str] = Counter()
        self._t_start = self._t_end = 0.0

    def set_pace(self, pace: Pace) -> None:
        with self._lock:
            self._pace = pace

    def sent(self) -> int:
        with self._lock:
            return self._sent

    def run(self) -> None:
        self._t_start = time.perf_counter()
        session = requests.Session()
        while not self._halt.is_set() and self._sent < len(self._events):
            with self._lock:
                pace = self._pace
            size = self._head if self._sent == 0 and self._head > 0 else pace.batch
            batch = self._events[self._sent : self._sent + size]
            self._post(session, batch)
            with self._lock:
                self._sent += len(batch)
            self._halt.wait(pace.pause_s)
        self._t_end = time.perf_counter()

    def _post(self, session: requests.Session, batch: list[dict[str, Any]]) -> None:
        self._requests += 1
        try:
            reply = session.post(self._url, json={"events": batch}, timeout=self._timeout_s)
        except requests.RequestException as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        if reply.status_code != 200:
            self._fail(f"HTTP {reply.status_code}: {reply.text[:200]}")
            return
        for decision in reply.json()["decisions"]:
            if "error" in decision:
                self._event_errors += 1
                continue
            self._decisions += 1
            self._versions[str(decision.get("model_versions", {}).get("actor", "unknown"))] += 1

    def _fail(self, why: str) -> None:
        self._failed += 1
        if len(self._failures) < 5:
            self._failures.append(why)

    def stop(self) -> TrafficReport:
        exhausted = self._sent >= len(self._events)
        self._halt.set()
        self.join()
        return TrafficReport(
            requests=self._requests,
            failed_requests=self._failed,
            failures=tuple(self._failures),
            events_sent=self._sent,
            decisions=self._decisions,
            event_errors=self._event_errors,
            actor_versions=dict(self._versions),
            exhausted=exhausted,
            seconds=self._t_end - self._t_start,
        )
