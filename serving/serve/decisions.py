"""``POST /v1/decisions``: the endpoint's logic, and a plain ASGI route for it in front of FastAPI.

``DecisionsEndpoint.answer`` turns a request body into a status and a JSON body (see the ingress module
docstring for the contract); it needs no HTTP server, so it is tested on its own with a stub shard.

``DecisionsRoute`` is the one middleware of the ingress's FastAPI app. It answers ``/v1/decisions`` itself
and hands every other request on. FastAPI's own route for one decision costs ~55 us in process (issue 5:
"our p50 <= no-op p50 + 1 ms", and the no-op is a plain ``__call__`` deployment): matching the path
against every route, the exception and exit-stack middlewares, and solving the dependencies that hand a
class-based view its ``self``. The route finds the replica's ``Ingress`` the way Serve's class-based
views do (``serve.get_replica_context().servable_object``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from ray import serve
from ray.serve.exceptions import BackPressureError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from models.streaming.processor import partition_of
from serving.serve.metrics import ServeMetrics

PATH = "/v1/decisions"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class RequestError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def detail(self) -> dict[str, Any]:
        return {"detail": {"field": self.field, "message": self.message}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.detail(), status_code=self.status)


def encode(body: Any) -> bytes:
    """``body`` as ``JSONResponse`` renders it (compact, UTF-8, and NaN refused: a NaN answer fails loudly)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def events_of(body: Any, max_batch: int) -> tuple[list[Any], bool]:
    """The events of a request body and whether it was a single event."""
    if isinstance(body, dict) and "events" in body:
        events = body["events"]
        if not isinstance(events, list) or not events:
            raise RequestError(422, "events", "events: must be a non-empty list of event objects")
        if len(events) > max_batch:
            raise RequestError(413, "events", f"events: {len(events)} events, at most {max_batch} per request")
        return events, False
    if isinstance(body, dict):
        return [body], True
    raise RequestError(422, "body", "body: must be an event object or {'events': [...]}")


def symbol_error(event: Any) -> dict[str, str] | None:
    if not isinstance(event, dict):
        return {"reason": "bad_type", "field": "event", "message": "event: must be a JSON object"}
    symbol = event.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        return {"reason": "missing_field", "field": "symbol", "message": "symbol: required non-empty string"}
    return None


class DecisionsEndpoint:
    """Routes the events of one request to the shards that own their symbols and encodes the answer."""

    def __init__(self, shards: list[Any], metrics: ServeMetrics, max_batch: int) -> None:
        """``shards``: ``DeploymentHandle``s, or the colocated ``LocalHandle`` (``serving.serve.local``)."""
        self.shards, self.metrics, self.max_batch = shards, metrics, max_batch

    async def answer(self, raw: bytes, started: float) -> tuple[int, bytes]:
        """Status and JSON body for request body ``raw``; ``started`` is when the request came in."""
        try:
            body = json.loads(raw)
        except ValueError:
            return 422, encode(RequestError(422, "body", "body: not valid JSON").detail())
        try:
            events, single = events_of(body, self.max_batch)
            results = await self._route(events)
        except RequestError as error:
            return error.status, encode(error.detail())
        except BackPressureError:
            self.metrics.overloads.inc()
            return 503, encode({"detail": "overloaded: decision queues are full, retry later"})
        except RuntimeError as error:
            return 503, encode({"detail": str(error)})
        self.metrics.observe(results)
        self.metrics.request_latency.observe(time.perf_counter() - started)
        if not single:
            return 200, encode({"decisions": results, "rejected": sum("error" in r for r in results)})
        rejected = results[0].get("error")
        if rejected is None:
            return 200, encode({"decision": results[0]})
        return 404 if rejected["reason"] == "unknown_symbol" else 422, encode({"detail": rejected})

    async def _route(self, events: list[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(events)
        groups: dict[int, list[int]] = {}
        shards = len(self.shards)
        for i, event in enumerate(events):
            error = symbol_error(event)
            if error is not None:
                results[i] = {"error": error}
                continue
            groups.setdefault(0 if shards == 1 else partition_of(event["symbol"], shards), []).append(i)
        calls = [self.shards[k].decide.remote([events[i] for i in idx]) for k, idx in groups.items()]
        # One shard's answer is awaited as it is: gather would wrap it in a task, one more turn of the loop.
        answered = [await calls[0]] if len(calls) == 1 else await asyncio.gather(*calls)
        for idx, answers in zip(groups.values(), answered, strict=True):
            for i, answer in zip(idx, answers, strict=True):
                results[i] = answer
        return [r for r in results if r is not None]


def replica_endpoint() -> DecisionsEndpoint:
    """The endpoint of this replica's ``Ingress``, found as Serve's class-based views find their ``self``."""
    ingress: Any = serve.get_replica_context().servable_object  # typed as a callable; here the ``Ingress``
    endpoint: DecisionsEndpoint = ingress.decisions
    return endpoint


class DecisionsRoute:
    """ASGI middleware: ``/v1/decisions`` answered by the replica's ``DecisionsEndpoint``, the rest passed on."""

    def __init__(self, app: ASGIApp, endpoint: Callable[[], DecisionsEndpoint] = replica_endpoint) -> None:
        self.app, self.endpoint = app, endpoint

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http" or _route_path(scope) != PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await JSONResponse({"detail": "Method Not Allowed"}, 405, {"allow": "POST"})(scope, receive, send)
            return
        started = time.perf_counter()
        status, content = await self.endpoint().answer(await Request(scope, receive).body(), started)
        await Response(content, status, media_type="application/json")(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the application's route prefix (``root_path``), as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


OPERATION: dict[str, Any] = {
    "summary": "Decide on one market event or a batch",
    "description": (
        'One event (a JSON object with symbol, timestamp and prices) answers `{"decision": ...}`; a batch '
        '`{"events": [...]}` answers `{"decisions": [...], "rejected": n}`, a rejected event having '
        '`{"error": {reason, field, message}}` in its place.'
    ),
    "operationId": "post_decisions",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {
        "200": _answer("The decision, or the batch's decisions in order"),
        "404": _answer("One event for a symbol this app does not serve"),
        "405": _answer("Any method but POST"),
        "413": _answer("More events than max_batch"),
        "422": _answer("An invalid body or event: detail names the field and the reason"),
        "503": _answer("Decision queues full (retry later) or no champion loaded"),
    },
}
"""``POST /v1/decisions`` as the app's OpenAPI document (``/docs``, ``/openapi.json``) shows it."""


def document(app: FastAPI) -> None:
    """List ``POST /v1/decisions`` in ``app``'s OpenAPI schema: ``DecisionsRoute`` answers it, not a FastAPI route."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            built = get_openapi(title=app.title, version=app.version, routes=app.routes)
            built.setdefault("paths", {})[PATH] = {"post": OPERATION}
            app.openapi_schema = built
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
