"""`rtopt veto list|approve|reject`: answer held decisions on a running Serve app, over HTTP.

    rtopt veto list [--url URL]
    rtopt veto approve VETO_ID --reason R --by NAME [--url URL]
    rtopt veto reject VETO_ID --reason R --by NAME [--url URL]

The commands call ``GET /v1/vetoes`` and ``POST /v1/vetoes/{id}/approve|reject`` (``serving.safety.veto_http``)
with ``Authorization: Bearer $RTOPT_TOKEN_RISK`` (``--token-env`` names another variable, e.g.
``RTOPT_TOKEN_ADMIN``); the token is never a command-line argument, where ``ps`` would show it. Any role may
list; only risk and admin may answer (a trader's token gets 403). The server's answer is printed as JSON; a
refusal (401, 403, 404, 409, 422) or an unreachable server is an error. ``RoleClient`` is shared with
``rtopt kill|resume --url`` (``orchestration.risk_cli``).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from orchestration.settings import Settings

VETO_COMMANDS = ("veto",)
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TOKEN_ENV = "RTOPT_TOKEN_RISK"


class VetoClientError(ValueError):
    """The server refused or could not be reached; ``status`` is 0 when no HTTP answer came."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status, self.detail = status, detail


class RoleClient:
    """The guarded endpoints of one Serve app, called with one role's token (``serving.safety.auth``)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        if not token:
            raise ValueError("token: required (set the role's RTOPT_TOKEN_* variable)")
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str) -> dict[str, Any]:
        return self._call("GET", path, None)

    def post(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict[str, str] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers if body is None else {**self._headers, "Content-Type": "application/json"}
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            raise VetoClientError(error.code, _detail(error.read())) from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise VetoClientError(0, f"{self.base_url}: not reachable ({error})") from None


class VetoClient(RoleClient):
    """The veto endpoints of one Serve app."""

    def vetoes(self) -> dict[str, Any]:
        return self.get("/v1/vetoes")

    def resolve(self, veto_id: str, verb: str, *, reason: str, by: str) -> dict[str, Any]:
        if verb not in ("approve", "reject"):
            raise ValueError(f"verb: 'approve' or 'reject', got {verb!r}")
        return self.post(f"/v1/vetoes/{urllib.parse.quote(veto_id, safe='')}/{verb}", {"reason": reason, "by": by})


def role_token(variable: str, purpose: str) -> str:
    """The token in ``variable``; its absence is an error saying what it is needed for."""
    token = os.environ.get(variable, "").strip()
    if not token:
        raise ValueError(f"{variable}: unset; export the {purpose}")
    return token


def _detail(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("detail", raw.decode(errors="replace")))
    except (ValueError, AttributeError):
        return raw.decode(errors="replace")


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help=f"the Serve app (default {DEFAULT_URL})")
    common.add_argument("--token-env", default=DEFAULT_TOKEN_ENV, help="variable holding the bearer token")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    veto = sub.add_parser("veto", help="held decisions: list them, approve or reject one (admin or risk token)")
    veto_sub = veto.add_subparsers(dest="veto_command", required=True)
    veto_sub.add_parser("list", parents=[common], help="pending and recently resolved vetoes")
    for verb in ("approve", "reject"):
        resolve = veto_sub.add_parser(verb, parents=[common], help=f"{verb} a held decision")
        resolve.add_argument("veto_id")
        resolve.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        resolve.add_argument("--by", required=True, help="who decided (must differ from the proposer)")


def run_veto_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``rtopt veto ...``; ``settings`` is unused (the state is the server's), kept for the CLI's signature."""
    token = role_token(args.token_env, "risk (or admin) token to answer vetoes")
    client = VetoClient(args.url, token, timeout_s=args.timeout)
    if args.veto_command == "list":
        answer = client.vetoes()
    else:
        answer = client.resolve(args.veto_id, args.veto_command, reason=args.reason, by=args.by)
    print(json.dumps(answer, indent=2))
    return 0
