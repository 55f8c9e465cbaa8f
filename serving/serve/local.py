"""A co-located decision shard: the ingress holds the engine itself instead of a handle to another replica.

With one shard and one ingress replica, the hop ingress -> ``DecisionShard`` replica (a Ray actor call: the
request and the decisions serialised, queued and sent between processes) is most of what a decision costs
over the no-op deployment. ``ServeConfig.colocate`` builds the shard inside the ingress replica instead;
``LocalHandle`` gives it a ``DeploymentHandle``'s calling convention (``handle.method.remote(...)``, awaited
or ``.result()``), so the ingress routes, sums statuses and hot-swaps exactly as with remote shards.

Calls run on a small thread pool, as Ray Serve runs a replica's synchronous methods
(``RAY_SERVE_RUN_SYNC_IN_THREADPOOL``): a model reload does not stop the event loop, and the shard's own
lock orders its calls as it does on its own replica. The exception is ``decide`` on a few events
(``INLINE_EVENTS``): it runs on the calling thread, since handing a sub-millisecond call to a thread and
waking the loop again costs about as much as the call. Symbol sharding is unchanged: one shard owns every
symbol, and there is one ingress replica to hold it (``ServeConfig`` refuses colocation otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from serving.serve.shard import DecisionShard

CALL_THREADS = 4
INLINE_EVENTS = 8
"""``decide`` on at most this many events runs on the calling thread (the event loop), larger batches on the pool."""


class LocalCall:
    """One call's outcome: awaitable on the event loop, or ``result()`` from a thread (as ``DeploymentResponse``)."""

    def __init__(self, future: Future[Any]) -> None:
        self._future = future

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._future.done():
            yield from asyncio.wrap_future(self._future).__await__()
        # Decided inline: the result as it is, without wrap_future's call_soon_threadsafe (a wake-up of the loop).
        return self._future.result()

    def result(self, timeout_s: float | None = None) -> Any:
        return self._future.result(timeout_s)


class _LocalMethod:
    def __init__(self, pool: ThreadPoolExecutor, method: Callable[..., Any], inline: bool) -> None:
        self._pool, self._method, self._inline = pool, method, inline

    def remote(self, *args: Any, **kwargs: Any) -> LocalCall:
        if not self._inline or len(args[0]) > INLINE_EVENTS:
            return LocalCall(self._pool.submit(self._method, *args, **kwargs))
        done: Future[Any] = Future()
        try:
            done.set_result(self._method(*args, **kwargs))
        except Exception as error:  # handed to the awaiting caller, as the pool's future would
            done.set_exception(error)
        return LocalCall(done)


class LocalHandle:
    """``handle.method.remote(...)`` on an object in this process (see the module docstring)."""

    def __init__(self, target: object, pool: ThreadPoolExecutor) -> None:
        self._target, self._pool = target, pool

    def __getattr__(self, name: str) -> _LocalMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _LocalMethod(self._pool, getattr(self._target, name), inline=name == "decide")


def colocated_shards(config: dict[str, Any]) -> list[LocalHandle]:
    """The single shard of a colocated application, built in this process (it loads the registry's models)."""
    pool = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="colocated-shard")
    return [LocalHandle(DecisionShard(config, 0), pool)]
