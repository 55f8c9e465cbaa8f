"""Who may do what over HTTP: one bearer token per role, and a permission table.

Tokens come from the environment only (``RTOPT_TOKEN_ADMIN``, ``RTOPT_TOKEN_RISK``, ``RTOPT_TOKEN_TRADER``),
read once where the app is built (``TokenAuth.from_env``); a role whose variable is unset or empty has no
token, so no request can act as it. Tokens are compared with ``hmac.compare_digest`` against every role's
token, so the time taken does not say which role (if any) a guess came close to.

Statuses, as RFC 9110 defines them: 401 when the request carries no usable credentials (no or a malformed
``Authorization`` header, or a token no role has), 403 when it is authenticated but its role lacks the
permission, or when no role has a token at all (the endpoints are off).

The roles (``PERMISSIONS``; ``ENDPOINTS`` maps every guarded HTTP route to its permission):

- **trader**: reads, proposes, and may trip the kill switch (anyone who sees trouble may stop trading);
- **risk**: everything a trader may, plus resume, change the limits and answer vetoes;
- **admin**: everything, including the model operations (reload, a shadow's paired PnL) no other role has.

A change made over HTTP is audited as ``<role>:<name>`` (``audit_name``): the role from the token, the name
from the request, so the record says both who acted and with what authority.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

TOKEN_ENV = MappingProxyType({"admin": "RTOPT_TOKEN_ADMIN", "risk": "RTOPT_TOKEN_RISK", "trader": "RTOPT_TOKEN_TRADER"})
MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused when loaded: a guessable token is worse than none."""


class Role(StrEnum):
    ADMIN = "admin"
    RISK = "risk"
    TRADER = "trader"


class Permission(StrEnum):
    READ = "read"
    """Status, pending and resolved vetoes."""
    PROPOSE = "propose"
    """Submit events and decisions."""
    KILL = "kill"
    """Trip the kill switch (HALTED)."""
    RESUME = "resume"
    """Reset the kill switch: trade again (ACTIVE)."""
    CHANGE_LIMITS = "change_limits"
    RESOLVE_VETO = "resolve_veto"
    """Approve or reject a held decision."""
    MANAGE_MODELS = "manage_models"
    """Reload the registry's models; read a shadow's paired PnL (the promotion evidence)."""


_TRADER = frozenset({Permission.READ, Permission.PROPOSE, Permission.KILL})
_RISK = _TRADER | {Permission.RESUME, Permission.CHANGE_LIMITS, Permission.RESOLVE_VETO}
PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {Role.ADMIN: frozenset(Permission), Role.RISK: _RISK, Role.TRADER: _TRADER}
)
ENDPOINTS: Mapping[str, Permission] = MappingProxyType(
    {
        "GET /v1/vetoes": Permission.READ,
        "POST /v1/vetoes/{veto_id}/approve": Permission.RESOLVE_VETO,
        "POST /v1/vetoes/{veto_id}/reject": Permission.RESOLVE_VETO,
        "POST /v1/admin/kill": Permission.KILL,
        "POST /v1/admin/resume": Permission.RESUME,
        "POST /v1/admin/limits": Permission.CHANGE_LIMITS,
        "POST /v1/admin/reload": Permission.MANAGE_MODELS,
        "GET /v1/shadow/{name}/paired": Permission.MANAGE_MODELS,
        "GET /v1/drift": Permission.MANAGE_MODELS,
    }
)
"""The permission each guarded route of the Serve app needs (the ingress looks its routes up here)."""


def permits(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def audit_name(principal: Principal, name: str) -> str:
    """``<role>:<name>``, the ``by`` of an audited change made over HTTP (``name``: who, as the request says)."""
    if not name.strip():
        raise ValueError("by: required, the name of the person acting")
    return f"{principal.role.value}:{name.strip()}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """An authenticated caller: the role its token belongs to."""

    role: Role


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthError:
    """Why a request is refused, with the HTTP status to answer (401 or 403)."""

    status: int
    reason: str


class TokenAuth:
    """Bearer-token authentication and role permissions (see the module docstring)."""

    def __init__(self, tokens: Mapping[Role, str]) -> None:
        kept = {Role(role): token for role, token in tokens.items() if token}
        for role, token in kept.items():
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(f"{TOKEN_ENV[role]}: at least {MIN_TOKEN_LENGTH} characters, got {len(token)}")
        if len(set(kept.values())) != len(kept):
            raise ValueError("tokens: two roles share one token, so a request's role would be ambiguous")
        self._tokens = {role: token.encode() for role, token in kept.items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenAuth:
        """Tokens from ``RTOPT_TOKEN_ADMIN`` / ``_RISK`` / ``_TRADER`` in ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        return cls({Role(role): env.get(name, "").strip() for role, name in TOKEN_ENV.items()})

    @property
    def roles(self) -> frozenset[Role]:
        """Roles that have a token."""
        return frozenset(self._tokens)

    def authenticate(self, header: str | None) -> Principal | AuthError:
        """The role of ``Authorization: Bearer <token>``, or why not."""
        if not self._tokens:
            return AuthError(status=403, reason="authorization: no role has a token (RTOPT_TOKEN_* unset)")
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AuthError(status=401, reason="authorization: a Bearer token is required")
        given = token.strip().encode()
        matched = None
        for role, expected in self._tokens.items():
            # Compare against every token, not up to the first match, so timing reveals nothing.
            if hmac.compare_digest(given, expected):
                matched = role
        if matched is None:
            return AuthError(status=401, reason="authorization: token not accepted")
        return Principal(role=matched)

    def authorize(self, header: str | None, permission: Permission) -> Principal | AuthError:
        """``authenticate``, then 403 unless the role has ``permission``."""
        principal = self.authenticate(header)
        if isinstance(principal, AuthError) or permits(principal.role, permission):
            return principal
        return AuthError(status=403, reason=f"authorization: role {principal.role.value} may not {permission.value}")
