"""The HTTP ingress: routes events to the shard that owns their symbol and answers for the whole app.

- ``POST /v1/decisions``: one event (a JSON object) or a batch ``{"events": [...]}``. One event: 200
  with ``{"decision": ...}``, 422 naming the field of an invalid event, 404 for a symbol not served.
  A batch: 200 with ``{"decisions": [...]}``, where a rejected event has ``{"error": ...}`` in its
  place and the others are decided (in order per symbol). 413 above ``max_batch``; 503 when the
  queues are full (bounded: ``max_queued_requests``) or no champion is loaded. Answered by
  ``serving.serve.decisions`` (a plain ASGI route ahead of FastAPI's routing: the hot path).
- ``GET /v1/status``: the seed's fields (status, active_models, decisions_generated, daily_pnl) summed
  over shards, plus positions, shadow metrics, rejects and risk events per shard.
- ``GET /healthz``: 200 only when every shard has its models and the online store answers.
- ``GET /metrics``: Prometheus text.
- ``GET /dashboard``: the operator's page (``serving.serve.dashboard``); ``GET /v1/vetoes`` and
  ``POST /v1/vetoes/{id}/approve|reject`` with a role token (``serving.safety.auth``).
- ``POST /v1/admin/kill`` (trader, risk or admin), ``/resume`` and ``/limits`` (risk or admin), ``/reload``
  (admin): ``Authorization: Bearer <role token>``; 401 without a usable token, 403 for a role that may not
  (``serving.safety.auth.ENDPOINTS``). Changes are audited as ``<role>:<by>``.
- ``GET /v1/drift``: per-feature online PSI, performance drift and the rollback guard, merged over shards;
  admin token (it holds live PnL). The online drift sensor reads it.
- ``GET /v1/shadow/{name}/paired``: a shadow's paired per-decision PnL and the bandit's off-policy log, merged
  over shards (``serving.lifecycle.comparison``), for the shadow-comparison sensor; admin token.
"""

import asyncio
import json
import logging
import threading
import time
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from ray import serve
from ray.serve.handle import DeploymentHandle

from serving.decision.registry import resolve
from serving.lifecycle.comparison import merge_paired
from serving.lifecycle.guard import GUARD, reducing_orders
from serving.monitoring.online import merge_drift
from serving.safety.auth import ENDPOINTS, AuthError, Principal, TokenAuth, audit_name
from serving.safety.veto_http import HandleVetoBackend, ShardedVetoBackend, denied, list_vetoes, resolve_veto
from serving.serve.config import ServeConfig, use_registry
from serving.serve.dashboard import dashboard_router
from serving.serve.decisions import DecisionsEndpoint, DecisionsRoute, RequestError, document
from serving.serve.local import colocated_shards
from serving.serve.metrics import ServeMetrics

log = logging.getLogger(__name__)
api = FastAPI(title="rtopt decisions", version="1")
api.include_router(dashboard_router())
api.add_middleware(DecisionsRoute)  # POST /v1/decisions, without FastAPI's routing (serving.serve.decisions)
document(api)  # ... and still in /docs


async def json_object(request: Request) -> dict[str, Any]:
    """An operator request's body as a JSON object (``{}`` when empty); ``RequestError`` naming ``body`` if not."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise RequestError(422, "body", "body: not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(422, "body", f"body: must be a JSON object, got {type(body).__name__}")
    return body


def merge_statuses(statuses: list[dict[str, Any]], registry: dict[str, Any]) -> dict[str, Any]:
    """One status over all shards: counts and PnL summed, the rest per shard."""
    ready = [s for s in statuses if s.get("status") != "not_ready"]
    states = {s.get("trading_state") for s in ready}
    return {
        "status": "running" if ready and states == {"ACTIVE"} else ("halted" if "HALTED" in states else "degraded"),
        "active_models": ready[0]["active_models"] if ready else {},
        "decisions_generated": sum(int(s.get("decisions_generated", 0)) for s in ready),
        "daily_pnl": sum(float(s.get("daily_pnl", 0.0)) for s in ready),
        "positions": {k: v for s in ready for k, v in s.get("positions", {}).items()},
        "shadow": {f"shard{s['shard']}": s.get("shadow", {}) for s in ready},
        "rejected": {f"shard{s['shard']}": s.get("rejected", {}) for s in ready},
        "risk_events": [e for s in ready for e in s.get("risk_events", [])],
        "shards": statuses,
        "registry": registry,
    }


@serve.ingress(api)
class Ingress:
    def __init__(self, shards: list[DeploymentHandle], config: dict[str, Any]) -> None:
        self.config = ServeConfig(**config)
        use_registry(self.config)
        self.shards: list[Any] = colocated_shards(config) if self.config.colocate else shards
        self.metrics = ServeMetrics()
        self.decisions = DecisionsEndpoint(self.shards, self.metrics, self.config.max_batch)
        self.registry_state: dict[str, Any] = {"last_check": None, "error": None}
        self.auth = TokenAuth.from_env()
        self.veto_backend = ShardedVetoBackend([HandleVetoBackend(s) for s in self.shards])
        self._stop = threading.Event()
        self._trips_spread: set[str] = set()
        """Rollback-guard trips already sent to the other shards as REDUCING."""
        if self.config.registry_poll_s > 0:
            threading.Thread(target=self._poll_registry, name="registry-poll", daemon=True).start()

    async def _statuses(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(shard.status.remote() for shard in self.shards)))

    @api.get("/v1/status")
    async def status(self) -> dict[str, Any]:
        return merge_statuses(await self._statuses(), self.registry_state)

    @api.get("/healthz")
    async def healthz(self) -> Response:
        shards = list(await asyncio.gather(*(shard.health.remote() for shard in self.shards)))
        store = await asyncio.to_thread(self._online_store)
        ready = all(s["ready"] for s in shards) and store["ok"]
        body = {"ready": ready, "online_store": store, "shards": shards, "registry": self.registry_state}
        return JSONResponse(body, status_code=200 if ready else 503)

    def _online_store(self) -> dict[str, Any]:
        if self.config.redis_url is None:
            return {"ok": True, "backend": "not redis: nothing to ping"}
        try:
            redis.Redis.from_url(self.config.redis_url, socket_timeout=1.0).ping()
        except redis.RedisError as error:
            return {"ok": False, "backend": "redis", "error": str(error)}
        return {"ok": True, "backend": "redis"}

    @api.get("/metrics")
    async def metrics_text(self) -> Response:
        self.metrics.refresh(await self._statuses())
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    def _authorize(self, request: Request, route: str) -> Principal | JSONResponse:
        """The caller, when its role may use ``route`` (a key of ``ENDPOINTS``); else the 401 or 403 answer."""
        principal = self.auth.authorize(request.headers.get("authorization"), ENDPOINTS[route])
        return denied(principal) if isinstance(principal, AuthError) else principal

    async def _authorized_body(self, request: Request, route: str) -> tuple[Principal, dict[str, Any]] | JSONResponse:
        """The caller and its JSON object body; else the 401/403 answer, or the 422 naming ``body``."""
        principal = self._authorize(request, route)
        if isinstance(principal, JSONResponse):
            return principal
        try:
            return principal, await json_object(request)
        except RequestError as error:
            return error.response()

    @api.post("/v1/admin/reload")
    async def reload(self, request: Request) -> Response:
        principal = self._authorize(request, "POST /v1/admin/reload")
        if isinstance(principal, JSONResponse):
            return principal
        health = await asyncio.to_thread(self._apply_registry)
        return JSONResponse({"shards": health})

    @api.get("/v1/shadow/{name}/paired")
    async def shadow_paired(self, name: str, request: Request) -> Response:
        """Shadow ``name``'s paired PnL and bandit logs over every shard; the admin token (PnL is not public)."""
        principal = self._authorize(request, "GET /v1/shadow/{name}/paired")
        if isinstance(principal, JSONResponse):
            return principal
        parts = await asyncio.gather(*(shard.shadow_paired.remote(name) for shard in self.shards))
        try:
            return JSONResponse(merge_paired(name, list(parts)))
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, status_code=409)

    @api.get("/v1/drift")
    async def drift(self, request: Request) -> Response:
        """Online feature PSI, performance drift and the rollback guard per shard (``serving.monitoring.online``)."""
        principal = self._authorize(request, "GET /v1/drift")
        if isinstance(principal, JSONResponse):
            return principal
        parts = await asyncio.gather(*(shard.drift.remote() for shard in self.shards))
        return JSONResponse({**merge_drift(list(parts)), "registry": self.registry_state})

    @api.post("/v1/admin/kill")
    async def kill(self, request: Request) -> Response:
        """Every shard HALTED; ``{"cause", "by"}`` are optional (a kill must never fail for want of a form)."""
        allowed = await self._authorized_body(request, "POST /v1/admin/kill")
        if isinstance(allowed, JSONResponse):
            return allowed
        principal, body = allowed
        cause, by = str(body.get("cause") or "operator"), audit_name(principal, str(body.get("by") or "api"))
        statuses = await asyncio.gather(*(shard.kill.remote(f"api: {cause}", by) for shard in self.shards))
        return JSONResponse({"shards": [s.get("trading_state") for s in statuses]})

    @api.get("/v1/vetoes")
    async def vetoes(self, request: Request) -> Response:
        return await list_vetoes(request, self.veto_backend, self.auth)

    @api.post("/v1/vetoes/{veto_id}/approve")
    async def approve_veto(self, veto_id: str, request: Request) -> Response:
        return await resolve_veto(request, veto_id, "approve", self.veto_backend, self.auth)

    @api.post("/v1/vetoes/{veto_id}/reject")
    async def reject_veto(self, veto_id: str, request: Request) -> Response:
        return await resolve_veto(request, veto_id, "reject", self.veto_backend, self.auth)

    @api.post("/v1/admin/resume")
    async def resume(self, request: Request) -> Response:
        allowed = await self._authorized_body(request, "POST /v1/admin/resume")
        if isinstance(allowed, JSONResponse):
            return allowed
        principal, body = allowed
        cause, by = str(body.get("cause", "")).strip(), str(body.get("by", "")).strip()
        if not cause or not by:
            return RequestError(
                422, "cause" if not cause else "by", "cause, by: a person resumes, saying why"
            ).response()
        by = audit_name(principal, by)
        statuses = await asyncio.gather(*(shard.resume.remote(cause, by) for shard in self.shards))
        return JSONResponse({"shards": [s.get("trading_state") for s in statuses]})

    @api.post("/v1/admin/limits")
    async def limits(self, request: Request) -> Response:
        """Change risk limits on every shard; each change is an audit record with the old and new values."""
        allowed = await self._authorized_body(request, "POST /v1/admin/limits")
        if isinstance(allowed, JSONResponse):
            return allowed
        principal, body = allowed
        values, by = body.get("limits"), str(body.get("by", "")).strip()
        if not isinstance(values, dict) or not by:
            return RequestError(
                422, "limits" if not isinstance(values, dict) else "by", "limits: {...}, by: name"
            ).response()
        by = audit_name(principal, by)
        try:
            changes = await asyncio.gather(*(shard.set_limits.remote(values, by) for shard in self.shards))
        except (ValueError, TypeError) as error:
            return RequestError(422, "limits", str(error)).response()
        return JSONResponse({"changes": changes})

    def _apply_registry(self) -> list[dict[str, Any]]:
        champion, challenger = resolve("champion", self.config.agent), resolve("challenger", self.config.agent)
        self.registry_state = {"last_check": time.time(), "error": None}
        healths = [shard.apply_models.remote(champion, challenger).result() for shard in self.shards]
        for index, cause in reducing_orders(healths, self._trips_spread):
            self.shards[index].reduce.remote(cause, GUARD).result()
        return healths

    def _poll_registry(self) -> None:
        while not self._stop.wait(self.config.registry_poll_s):
            try:
                self._apply_registry()
            except Exception as error:  # any registry failure: keep serving the last good models, say so
                self.registry_state = {"last_check": time.time(), "error": f"{type(error).__name__}: {error}"}
                log.warning("registry poll failed, serving the last good models: %s", error)


IngressDeployment = serve.deployment(name="Ingress")(Ingress)
