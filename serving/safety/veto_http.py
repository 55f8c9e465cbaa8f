"""The veto endpoints: list pending and resolved vetoes, approve or reject one, with role tokens.

- ``GET /v1/vetoes``: ``{"pending": [...], "resolved": [...]}`` (``PendingVeto`` / ``VetoResolution``
  dicts); any role (``read``).
- ``POST /v1/vetoes/{veto_id}/approve`` and ``.../reject`` with ``{"reason": ..., "by": ...}``: admin or
  risk (``resolve_veto``). 200 with ``{"resolution": ...}``; 401 without a usable token; 403 for a role
  that may not, or when ``by`` is the decision's proposer (``VetoRules.require_distinct_approver``); 404
  for an unknown id; 409 when it is already resolved (or its deadline passed); 422 for a bad body.

The handlers talk to a ``VetoBackend``, so the same code serves one in-process gate (``GateBackend``) and
the Serve app, where each decision shard owns a gate: the shard exposes ``list_answer`` / ``resolve_answer``
(plain data, so it crosses Ray), the ingress wraps each shard handle in a ``HandleVetoBackend`` and fans
out with ``ShardedVetoBackend`` (a veto id lives on one shard; the others answer 404).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.safety.auth import AuthError, Permission, Role, TokenAuth
from serving.safety.veto import VetoGate, VetoOutcome
from serving.safety.veto_errors import VetoError

Answer = tuple[int, dict[str, Any]]
"""(HTTP status, JSON body)."""
Verb = Literal["approve", "reject"]
_OUTCOME = {"approve": VetoOutcome.APPROVED, "reject": VetoOutcome.REJECTED}


def list_answer(gate: VetoGate, *, resolved_limit: int = 100) -> dict[str, Any]:
    """The gate's vetoes as JSON-ready data, after applying any due timeout default."""
    gate.expire()
    resolved = gate.resolved()[-resolved_limit:] if resolved_limit > 0 else ()
    return {"pending": [v.to_dict() for v in gate.pending()], "resolved": [r.to_dict() for r in resolved]}


def resolve_answer(gate: VetoGate, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> Answer:
    """One approve or reject as (status, body): plain data, so a Ray shard can return it to the ingress."""
    try:
        resolution = gate.resolve(veto_id, _OUTCOME[verb], by=by, role=Role(role), reason=reason)
    except VetoError as error:
        return error.status, {"detail": str(error)}
    except ValueError as error:
        return 422, {"detail": str(error)}
    return 200, {"resolution": resolution.to_dict()}


class VetoBackend(Protocol):
    async def vetoes(self) -> dict[str, Any]: ...

    async def resolve(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> Answer: ...


class GateBackend:
    """One gate in this process."""

    def __init__(self, gate: VetoGate) -> None:
        self.gate = gate

    async def vetoes(self) -> dict[str, Any]:
        return list_answer(self.gate)

    async def resolve(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> Answer:
        return resolve_answer(self.gate, veto_id, verb, by=by, role=role, reason=reason)


class HandleVetoBackend:
    """A Serve deployment handle whose deployment has ``vetoes()`` and ``resolve_veto(...)`` methods
    returning ``list_answer(gate)`` and ``resolve_answer(gate, ...)``."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def vetoes(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.handle.vetoes.remote()
        return answer

    async def resolve(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> Answer:
        status, body = await self.handle.resolve_veto.remote(veto_id, verb, by=by, role=role, reason=reason)
        return int(status), dict(body)


class ShardedVetoBackend:
    """Several backends (one per shard): lists are merged, a resolve goes to the shard that knows the id."""

    def __init__(self, backends: Sequence[VetoBackend]) -> None:
        if not backends:
            raise ValueError("backends: at least one")
        self.backends = tuple(backends)

    async def vetoes(self) -> dict[str, Any]:
        merged: dict[str, list[Any]] = {"pending": [], "resolved": []}
        for backend in self.backends:
            answer = await backend.vetoes()
            merged["pending"] += answer["pending"]
            merged["resolved"] += answer["resolved"]
        return merged

    async def resolve(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> Answer:
        answer: Answer = (404, {"detail": f"veto {veto_id}: no such veto"})
        for backend in self.backends:
            answer = await backend.resolve(veto_id, verb, by=by, role=role, reason=reason)
            if answer[0] != 404:
                return answer
        return answer


def denied(error: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse({"detail": error.reason}, status_code=error.status, headers=headers)


async def list_vetoes(request: Request, backend: VetoBackend, auth: TokenAuth) -> JSONResponse:
    """``GET /v1/vetoes``."""
    principal = auth.authorize(request.headers.get("authorization"), Permission.READ)
    if isinstance(principal, AuthError):
        return denied(principal)
    return JSONResponse(await backend.vetoes())


async def resolve_veto(
    request: Request, veto_id: str, verb: Verb, backend: VetoBackend, auth: TokenAuth
) -> JSONResponse:
    """``POST /v1/vetoes/{veto_id}/approve`` or ``/reject``; the role comes from the token, never the body."""
    principal = auth.authorize(request.headers.get("authorization"), Permission.RESOLVE_VETO)
    if isinstance(principal, AuthError):
        return denied(principal)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("reason", "by")):
        return JSONResponse({"detail": 'body: {"reason": str, "by": str} required'}, status_code=422)
    status, answer = await backend.resolve(
        veto_id, verb, by=body["by"], role=principal.role.value, reason=body["reason"]
    )
    return JSONResponse(answer, status_code=status)


def veto_router(backend: VetoBackend, auth: TokenAuth) -> APIRouter:
    """The three routes on an ``APIRouter``, for an app that is not a Serve ingress class."""
    router = APIRouter()

    @router.get("/v1/vetoes")
    async def vetoes(request: Request) -> JSONResponse:
        return await list_vetoes(request, backend, auth)

    @router.post("/v1/vetoes/{veto_id}/approve")
    async def approve(veto_id: str, request: Request) -> JSONResponse:
        return await resolve_veto(request, veto_id, "approve", backend, auth)

    @router.post("/v1/vetoes/{veto_id}/reject")
    async def reject(veto_id: str, request: Request) -> JSONResponse:
        return await resolve_veto(request, veto_id, "reject", backend, auth)

    return router
