"""The flow controls: order-rate throttle, repeated-execution throttle, duplicate keys, the price-drift window.

None of them queues: an order over a limit is denied at once and the caller decides what to do next (the
engine re-targets on the next event). They hold no lock of their own: the monitor calls them under its lock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import NamedTuple


class WindowCount(NamedTuple):
    """One fixed window ``[start_ns, start_ns + window_ns)`` of the rate throttle."""

    start_ns: int
    window_ns: int
    received: int
    forwarded: int
    denied: int


class OrderRateThrottle:
    """At most ``limit`` orders forwarded in any sliding window of ``window_ns``; the rest are denied.

    A sliding log (the forwarded times within the window) rather than a fixed-window counter: a fixed
    window lets ``2 * limit`` orders through around a boundary. Counters are kept per fixed window too, for
    the invariant: in every window ``forwarded <= limit`` and ``forwarded + denied == received``.
    """

    def __init__(self, limit: int | None, window_ns: int, kept_windows: int = 1_000) -> None:
        self.limit, self.window_ns = limit, window_ns
        self._sent: deque[int] = deque()
        self._windows: deque[WindowCount] = deque(maxlen=kept_windows)
        """Closed windows; the open one is ``_open`` and its counts (plain ints: no record built per order)."""
        self._open: tuple[int, int] | None = None
        self._received = self._forwarded = 0
        self._last_ns = 0

    def admit(self, now_ns: int) -> bool:
        """Count the order in; True when it may go out."""
        now_ns = self._last_ns = max(now_ns, self._last_ns)  # a clock step back must not reopen a window
        while self._sent and self._sent[0] <= now_ns - self.window_ns:
            self._sent.popleft()
        admitted = self.limit is None or len(self._sent) < self.limit
        if admitted:
            self._sent.append(now_ns)
        self._count(now_ns, admitted)
        return admitted

    def _count(self, now_ns: int, admitted: bool) -> None:
        start = now_ns - now_ns % self.window_ns
        if self._open is None or self._open[0] != start or self._open[1] != self.window_ns:
            self._close()
            self._open = (start, self.window_ns)
        self._received += 1
        self._forwarded += admitted

    def _close(self) -> None:
        if (current := self._current()) is not None:
            self._windows.append(current)
        self._open, self._received, self._forwarded = None, 0, 0

    def _current(self) -> WindowCount | None:
        if self._open is None:
            return None
        start, width = self._open
        return WindowCount(start, width, self._received, self._forwarded, self._received - self._forwarded)

    def windows(self) -> list[WindowCount]:
        """The last ``kept_windows`` windows, oldest first, the open one last."""
        current, keep = self._current(), self._windows.maxlen
        if current is None:
            return list(self._windows)
        return [*self._windows, current][-keep:] if keep else []


class RepeatedExecutionThrottle:
    """Orders per (strategy, symbol) within a sliding window; over the limit, the strategy is disabled."""

    def __init__(self, limit: int | None, window_ns: int) -> None:
        self.limit, self.window_ns = limit, window_ns
        self._sent: dict[tuple[str, str], deque[int]] = {}

    def would_exceed(self, strategy: str, symbol: str, now_ns: int) -> bool:
        """True when one more order of ``strategy`` on ``symbol`` at ``now_ns`` goes over the limit."""
        if self.limit is None:
            return False
        sent = self._sent.get((strategy, symbol))
        if sent is None:
            return False
        while sent and sent[0] <= now_ns - self.window_ns:
            sent.popleft()
        return len(sent) >= self.limit

    def record(self, strategy: str, symbol: str, now_ns: int) -> None:
        sent = self._sent.get((strategy, symbol))
        if sent is None:
            sent = self._sent[(strategy, symbol)] = deque()
        sent.append(now_ns)

    def forget(self, strategy: str) -> None:
        """A re-enabled strategy starts with a clean count."""
        for key in [k for k in self._sent if k[0] == strategy]:
            del self._sent[key]


class IdempotencyKeys:
    """The keys of forwarded orders, the oldest forgotten first past ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)


class PriceWindow:
    """Per symbol, the reference mids of the last ``window_ns`` of event time: the drift collar's anchor.

    Times and mids live in two deques of plain numbers rather than one of ``(time, mid)`` tuples: a window holds
    thousands of entries, and tuples are objects the garbage collector walks on every full collection.
    """

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._times: dict[str, deque[int]] = {}
        self._mids: dict[str, deque[float]] = {}

    def anchor(self, symbol: str, timestamp_ns: int, mid: float) -> float:
        """Add ``mid`` seen at ``timestamp_ns``; the oldest mid within ``(timestamp_ns - window, timestamp_ns]``."""
        times, mids = self._times.get(symbol), self._mids.get(symbol)
        if times is None or mids is None:  # not setdefault: that builds a deque on every call
            times, mids = self._times[symbol], self._mids[symbol] = deque(), deque()
        times.append(timestamp_ns)
        mids.append(mid)
        while times[0] <= timestamp_ns - self.window_ns:
            times.popleft()
            mids.popleft()
        return mids[0]
