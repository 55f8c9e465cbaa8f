"""Role tokens from the environment, 401 versus 403, and the permission table."""

from __future__ import annotations

import pytest

from serving.safety.auth import PERMISSIONS, AuthError, Permission, Principal, Role, TokenAuth, permits

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


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_permits_given_the_table_returns_admin_and_risk_everything_and_trader_read_propose(
    role: Role, permission: Permission
) -> None:
    expected = role is not Role.TRADER or permission in (Permission.READ, Permission.PROPOSE)

    assert permits(role, permission) is expected
    assert permits(role, permission) is (permission in PERMISSIONS[role])
