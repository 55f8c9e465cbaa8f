"""The Serve app's admin endpoints that promotion and the shadow sensors call, over plain HTTP (urllib).

- ``POST /v1/admin/reload``: every shard re-reads the registry aliases and hot-swaps; the answer is
  ``{"shards": [{"shard", "ready", "models": {"champion": names | None, "challenger": ...}, "unhealthy"}]}``.
- ``GET /v1/shadow/{name}/paired``: the paired per-decision PnL and the bandit's logs of one shadow
  (``serving.lifecycle.comparison`` reads it).

Both take ``Authorization: Bearer <admin token>``, the admin role's token (``RTOPT_TOKEN_ADMIN``,
``serving.safety.auth``): no other role may reload models or read a shadow's PnL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any


class ServeRequestError(RuntimeError):
    """The Serve app refused or could not be reached; ``status`` is 0 when no HTTP answer came."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status, self.detail = status, detail


def call(method: str, url: str, token: str, timeout_s: float) -> dict[str, Any]:
    """One admin call; the JSON object answered, or ``ServeRequestError``."""
    if not token:
        raise ValueError("token: the Serve admin token is required (RTOPT_TOKEN_ADMIN)")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    request = urllib.request.Request(url, headers=headers, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ServeRequestError(error.code, error.read().decode(errors="replace")[:2_000]) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ServeRequestError(0, f"{url}: not reachable ({error})") from None
    except ValueError as error:
        raise ServeRequestError(0, f"{url}: the answer is not JSON ({error})") from None
    if not isinstance(answer, dict):
        raise ServeRequestError(0, f"{url}: expected a JSON object, got {type(answer).__name__}")
    return answer


def serve_reload(url: str, token: str, *, timeout_s: float = 120.0) -> Callable[[], list[dict[str, Any]]]:
    """A callable that reloads the app at ``url`` and returns each shard's health (``promote``'s ``reload``).

    The timeout is generous: each shard fetches and loads the new bundle before it answers.
    """
    target = url.rstrip("/") + "/v1/admin/reload"

    def reload() -> list[dict[str, Any]]:
        shards = call("POST", target, token, timeout_s).get("shards")
        if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
            raise ServeRequestError(0, f"{target}: the answer has no 'shards' list of objects")
        return shards

    return reload


def fetch_paired(url: str, token: str, name: str = "challenger", *, timeout_s: float = 30.0) -> dict[str, Any]:
    """``GET /v1/shadow/{name}/paired``: the shadow's paired series and bandit logs, merged over the shards."""
    return call("GET", f"{url.rstrip('/')}/v1/shadow/{urllib.parse.quote(name, safe='')}/paired", token, timeout_s)
