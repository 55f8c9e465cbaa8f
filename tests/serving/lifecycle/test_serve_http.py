"""serve_reload and fetch_paired against a local HTTP server that answers as the Serve app's admin routes do."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serving.lifecycle.serve_http import ServeRequestError, fetch_paired, serve_reload

TOKEN = "admin-token-0123456789"
SHARDS = [{"shard": 0, "ready": True, "models": {"champion": {"actor": "rtopt-ppo/2"}}, "unhealthy": {}}]
PAIRED = {"name": "challenger", "versions": None, "champion_bps": [], "challenger_bps": []}


class AdminHandler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(403, {"detail": "authorization: token not accepted"})
            return False
        return True

    def do_POST(self) -> None:
        if self._authorized():
            self._answer(200, {"shards": SHARDS} if self.path == "/v1/admin/reload" else {"nope": 1})

    def do_GET(self) -> None:
        if self._authorized():
            found = self.path == "/v1/shadow/challenger/paired"
            self._answer(200 if found else 404, PAIRED if found else {"detail": "Not Found"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AdminHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5.0)


def test_serve_reload_given_admin_token_returns_shard_health(url: str) -> None:
    assert serve_reload(url, TOKEN)() == SHARDS


def test_serve_reload_given_wrong_token_raises_with_status(url: str) -> None:
    with pytest.raises(ServeRequestError, match="token not accepted") as caught:
        serve_reload(url, "wrong")()

    assert caught.value.status == 403


def test_serve_reload_given_no_server_raises_not_reachable() -> None:
    with pytest.raises(ServeRequestError, match="not reachable") as caught:
        serve_reload("http://127.0.0.1:9", TOKEN, timeout_s=2.0)()

    assert caught.value.status == 0


def test_fetch_paired_given_shadow_name_returns_the_answer_or_404(url: str) -> None:
    assert fetch_paired(url, TOKEN) == PAIRED
    with pytest.raises(ServeRequestError) as caught:
        fetch_paired(url, TOKEN, "other")
    assert caught.value.status == 404


def test_serve_reload_given_no_token_raises_before_calling() -> None:
    with pytest.raises(ValueError, match="RTOPT_TOKEN_ADMIN"):
        serve_reload("http://127.0.0.1:9", "")()
