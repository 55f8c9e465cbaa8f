"""Role tokens from the environment, 401 versus 403, and the permission table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serving.safety.auth import (
    ENDPOINTS,
    PERMISSIONS,
    AuthError,
    Permission,
    Principal,
    Role,
    TokenAuth,
    audit_name,
    permits,
)
from serving.serve import ingress

ENV = {
    "RTOPT_TOKEN_ADMIN": "admin-token-0123456789",
    "RTOPT_TOKEN_RISK": "risk-token-0123456789",
    "RTOPT_TOKEN_TRADER": "trader-token-0123456789",
}


@pytest.fixture
def auth() -> TokenAuth:
    return TokenAuth.from_env(ENV)


@pytest.mark.parametrize(
    ("variable", "role"),
    [("RTOPT_TOKEN_ADMIN", Role.ADMIN), ("RTOPT_TOKEN_RISK", Role.RISK), ("RTOPT_TOKEN_TRADER", Role.TRADER)],
)
def test_authenticate_given_a_role_token_returns_that_role(auth: TokenAuth, variable: str, role: Role) -> None:
    assert auth.authenticate(f"Bearer {ENV[variable]}") == Principal(role=role)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic risk-token-0123456789", "risk-token"])
def test_authenticate_given_no_usable_header_returns_401(auth: TokenAuth, header: str | None) -> None:
    error = auth.authenticate(header)

    assert isinstance(error, AuthError) and error.status == 401 and "Bearer token is required" in error.reason


def test_authenticate_given_an_unknown_token_returns_401(auth: TokenAuth) -> None:
    assert auth.authenticate("Bearer risk-token-0123456780") == AuthError(
        status=401, reason="authorization: token not accepted"
    )


def test_authenticate_given_no_token_configured_returns_403() -> None:
    error = TokenAuth.from_env({}).authenticate("Bearer anything-at-all-123")

    assert isinstance(error, AuthError) and error.status == 403


def test_from_env_given_an_unset_or_empty_variable_leaves_that_role_without_a_token() -> None:
    auth = TokenAuth.from_env({"RTOPT_TOKEN_RISK": ENV["RTOPT_TOKEN_RISK"], "RTOPT_TOKEN_ADMIN": "  "})

    assert auth.roles == {Role.RISK}
    assert auth.authenticate(f"Bearer {ENV['RTOPT_TOKEN_TRADER']}") == AuthError(
        status=401, reason="authorization: token not accepted"
    )


def test_from_env_given_a_short_token_raises_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="RTOPT_TOKEN_TRADER"):
        TokenAuth.from_env({"RTOPT_TOKEN_TRADER": "short"})


def test_from_env_given_two_roles_sharing_a_token_raises() -> None:
    with pytest.raises(ValueError, match="share one token"):
        TokenAuth.from_env({"RTOPT_TOKEN_ADMIN": ENV["RTOPT_TOKEN_RISK"], "RTOPT_TOKEN_RISK": ENV["RTOPT_TOKEN_RISK"]})


def test_authorize_given_a_trader_resolving_a_veto_returns_403(auth: TokenAuth) -> None:
    error = auth.authorize(f"Bearer {ENV['RTOPT_TOKEN_TRADER']}", Permission.RESOLVE_VETO)

    assert error == AuthError(status=403, reason="authorization: role trader may not resolve_veto")


def test_authorize_given_a_bad_token_returns_401_before_any_permission_check(auth: TokenAuth) -> None:
    error = auth.authorize("Bearer nope-nope-nope-nope", Permission.READ)

    assert isinstance(error, AuthError) and error.status == 401


TABLE = {
    Role.TRADER: {Permission.READ, Permission.PROPOSE, Permission.KILL},
    Role.RISK: {
        Permission.READ,
        Permission.PROPOSE,
        Permission.KILL,
        Permission.RESUME,
        Permission.CHANGE_LIMITS,
        Permission.RESOLVE_VETO,
    },
    Role.ADMIN: set(Permission),
}
"""The role model written out: a trader may stop trading but not restart it; only admin manages models."""


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_permits_given_the_table_returns_what_each_role_may_do(role: Role, permission: Permission) -> None:
    assert permits(role, permission) is (permission in TABLE[role])
    assert permits(role, permission) is (permission in PERMISSIONS[role])


@pytest.mark.parametrize(
    ("route", "allowed"),
    [
        ("POST /v1/admin/kill", {Role.TRADER, Role.RISK, Role.ADMIN}),
        ("POST /v1/admin/resume", {Role.RISK, Role.ADMIN}),
        ("POST /v1/admin/limits", {Role.RISK, Role.ADMIN}),
        ("POST /v1/admin/reload", {Role.ADMIN}),
        ("GET /v1/shadow/{name}/paired", {Role.ADMIN}),
        ("GET /v1/vetoes", {Role.TRADER, Role.RISK, Role.ADMIN}),
        ("POST /v1/vetoes/{veto_id}/approve", {Role.RISK, Role.ADMIN}),
        ("POST /v1/vetoes/{veto_id}/reject", {Role.RISK, Role.ADMIN}),
    ],
)
def test_authorize_given_each_endpoint_and_role_returns_the_role_or_403(
    auth: TokenAuth, route: str, allowed: set[Role]
) -> None:
    for role in Role:
        answer = auth.authorize(f"Bearer {ENV[f'RTOPT_TOKEN_{role.value.upper()}']}", ENDPOINTS[route])

        expected = (
            Principal(role=role)
            if role in allowed
            else AuthError(status=403, reason=f"authorization: role {role.value} may not {ENDPOINTS[route].value}")
        )
        assert answer == expected, (route, role)


def test_endpoints_given_the_serve_ingress_name_every_operator_route_and_only_real_routes() -> None:
    source = Path(ingress.__file__).read_text()
    routes = {f"{verb.upper()} {path}" for verb, path in re.findall(r'@api\.(get|post)\("([^"]+)"\)', source)}
    operator = {r for r in routes if r.split(" ")[1].startswith(("/v1/admin/", "/v1/vetoes", "/v1/shadow/"))}

    assert operator and operator <= set(ENDPOINTS) <= routes
    for route in ENDPOINTS:
        if route.startswith(("GET /v1/vetoes", "POST /v1/vetoes")):
            continue  # the veto routes authorize in serving.safety.veto_http (READ, RESOLVE_VETO)
        calls = (f'self._authorize(request, "{route}")', f'self._authorized_body(request, "{route}")')
        assert any(call in source for call in calls), route


def test_audit_name_given_a_principal_and_a_name_returns_role_colon_name() -> None:
    assert audit_name(Principal(role=Role.RISK), " carol ") == "risk:carol"


def test_audit_name_given_a_blank_name_raises_naming_by() -> None:
    with pytest.raises(ValueError, match="by: required"):
        audit_name(Principal(role=Role.TRADER), "  ")
