"""The scenario's parts without Ray: its config, the run-config merge, and the client's failure counting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orchestration.scenario import ScenarioConfig
from orchestration.scenario_chain import _merge
from orchestration.scenario_cli import scenario_redis_url
from orchestration.scenario_data import ShiftSpec
from orchestration.scenario_traffic import Pace, Traffic


class _Decisions(BaseHTTPRequestHandler):
    """Answers ``POST /v1/decisions``: 200 with one decision per event, an error for ``bad`` events, and
    503 for every request after the server's ``fail_after`` requests."""

    def do_POST(self) -> None:
        server: Any = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.seen += 1
        if server.seen > server.fail_after:
            self._reply(503, {"detail": "overloaded"})
            return
        decisions = [
            {"error": "bad event"} if e.get("bad") else {"model_versions": {"actor": "rtopt-ppo/1"}}
            for e in body["events"]
        ]
        self._reply(200, {"decisions": decisions})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def app() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Decisions)
    server.seen, server.fail_after = 0, 1_000  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_traffic_given_all_events_answered_returns_counts_per_actor_and_event_errors(app: ThreadingHTTPServer) -> None:
    events: list[dict[str, Any]] = [{"i": i, "bad": i == 3} for i in range(10)]
    traffic = Traffic(_url(app), events, Pace(2, 0.0), head=4)

    traffic.start()
    traffic.join(timeout=30)
    report = traffic.stop()

    assert report.requests == 4 and report.events_sent == 10
    assert report.failed_requests == 0 and report.failures == ()
    assert report.decisions == 9 and report.event_errors == 1
    assert report.actor_versions == {"rtopt-ppo/1": 9}
    assert report.exhausted is True


def test_traffic_given_503_answers_returns_them_counted_as_failed_requests(app: ThreadingHTTPServer) -> None:
    app.fail_after = 2  # type: ignore[attr-defined]
    traffic = Traffic(_url(app), [{"i": i} for i in range(5)], Pace(1, 0.0))

    traffic.start()
    traffic.join(timeout=30)
    report = traffic.stop()

    assert report.requests == 5 and report.failed_requests == 3
    assert report.failures[0].startswith("HTTP 503")
    assert report.decisions == 2


def test_traffic_given_nothing_listening_returns_connection_failures_counted() -> None:
    traffic = Traffic("http://127.0.0.1:9", [{"i": 0}, {"i": 1}], Pace(1, 0.0), timeout_s=5.0)

    traffic.start()
    traffic.join(timeout=30)
    report = traffic.stop()

    assert report.failed_requests == 2 and report.decisions == 0
    assert "ConnectionError" in report.failures[0]


def test_merge_given_nested_run_configs_returns_budgets_over_the_request_keeping_the_rest() -> None:
    request = {"ops": {"ppo_agent": {"config": {"symbol": "BTC-PERP"}}, "regime_model": {"config": {"symbol": "X"}}}}
    budgets = {"ops": {"ppo_agent": {"config": {"total_steps": 256}}}}

    merged = _merge(request, budgets)

    assert merged == {
        "ops": {
            "ppo_agent": {"config": {"symbol": "BTC-PERP", "total_steps": 256}},
            "regime_model": {"config": {"symbol": "X"}},
        }
    }
    assert request["ops"]["ppo_agent"]["config"] == {"symbol": "BTC-PERP"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"total_steps": 10}, "total_steps"),
        ({"regime_bars": 100}, "regime_bars"),
        ({"drift_window": 6_000}, "drift_window"),
        ({"gate_timeout_s": 0.0}, "gate_timeout_s"),
    ],
)
def test_scenario_config_given_bad_field_raises_naming_it(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        ScenarioConfig(**kwargs)


def test_shift_spec_given_too_few_recent_bars_raises_naming_recent_bars() -> None:
    with pytest.raises(ValueError, match=r"^recent_bars: "):
        ShiftSpec(recent_bars=10)


def test_scenario_redis_url_given_shared_url_returns_same_server_with_the_scenario_database() -> None:
    assert scenario_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/15"
    assert (
        scenario_redis_url("rediss://:pw@cache:6380?ssl_cert_reqs=none")
        == "rediss://:pw@cache:6380/15?ssl_cert_reqs=none"
    )
    with pytest.raises(ValueError, match=r"^REDIS_URL: "):
        scenario_redis_url("unix:///tmp/redis.sock")
