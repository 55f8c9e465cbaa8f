"""``POST /v1/decisions`` without Ray: the endpoint's answers and the ASGI route in front of FastAPI.

The shards are stub objects behind the colocated ``LocalHandle`` (the real in-process handle), so the
status codes, the body shapes and the routing by symbol are checked here in milliseconds; the tests in
test_app.py check the same contract through a running Serve app with the real engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from ray.serve.exceptions import BackPressureError

from models.streaming.processor import partition_of
from serving.serve.decisions import DecisionsEndpoint, DecisionsRoute, encode
from serving.serve.local import INLINE_EVENTS, LocalHandle
from serving.serve.metrics import ServeMetrics


class StubShard:
    """Decides HOLD for any symbol but ``DOGE`` (unknown) and rejects a non-positive ``close``, as the engine does."""

    def __init__(self, index: int, failure: Exception | None = None) -> None:
        self.index, self.failure = index, failure
        self.seen: list[str] = []

    def decide(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.failure is not None:
            raise self.failure
        out: list[dict[str, Any]] = []
        for p in payloads:
            self.seen.append(p["symbol"])
            if p["symbol"] == "DOGE":
                out.append({"error": {"reason": "unknown_symbol", "field": "symbol", "message": "symbol: DOGE"}})
            elif p.get("close", 1.0) <= 0:
                out.append({"error": {"reason": "non_positive_price", "field": "close", "message": "close: <= 0"}})
            else:
                out.append({"symbol": p["symbol"], "action": "HOLD", "hold_reason": "no_change", "latency_us": 5.0})
        return out


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def _endpoint(pool: ThreadPoolExecutor, *shards: StubShard, max_batch: int = 100) -> DecisionsEndpoint:
    return DecisionsEndpoint([LocalHandle(s, pool) for s in shards], ServeMetrics(), max_batch)


def _answer(endpoint: DecisionsEndpoint, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, content = asyncio.run(endpoint.answer(raw, 0.0))
    return status, json.loads(content)


def test_answer_given_one_event_returns_200_with_the_decision(pool: ThreadPoolExecutor) -> None:
    status, body = _answer(_endpoint(pool, StubShard(0)), {"symbol": "BTC-PERP", "close": 1.0})
    assert (status, body) == (
        200,
        {"decision": {"symbol": "BTC-PERP", "action": "HOLD", "hold_reason": "no_change", "latency_us": 5.0}},
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{nope", 422, "body"),
        (b"", 422, "body"),
        ([1, 2], 422, "body"),
        ({"events": []}, 422, "events"),
        ({"events": [{"symbol": "A"}] * 101}, 413, "events"),
        ({"close": 1.0}, 422, "symbol"),
        ({"symbol": "BTC-PERP", "close": -1.0}, 422, "close"),
    ],
)
def test_answer_given_a_bad_request_returns_4xx_naming_the_field(
    pool: ThreadPoolExecutor, body: Any, status: int, field: str
) -> None:
    got, answer = _answer(_endpoint(pool, StubShard(0)), body)
    assert (got, answer["detail"]["field"]) == (status, field)


def test_answer_given_an_unknown_symbol_returns_404_with_its_reason(pool: ThreadPoolExecutor) -> None:
    status, body = _answer(_endpoint(pool, StubShard(0)), {"symbol": "DOGE", "close": 1.0})
    assert (status, body["detail"]["reason"]) == (404, "unknown_symbol")


@pytest.mark.parametrize(
    "failure", [BackPressureError(num_queued_requests=1, max_queued_requests=1), RuntimeError("no champion")]
)
def test_answer_given_full_queues_or_no_champion_returns_503(pool: ThreadPoolExecutor, failure: Exception) -> None:
    endpoint = _endpoint(pool, StubShard(0, failure))
    # a delta: once feast is imported (it sets PROMETHEUS_MULTIPROCESS_DIR), every registry in a process shares values
    before = _overloads(endpoint)
    status, _ = _answer(endpoint, {"symbol": "BTC-PERP", "close": 1.0})
    assert status == 503
    assert _overloads(endpoint) - before == (1.0 if isinstance(failure, BackPressureError) else 0.0)


def _overloads(endpoint: DecisionsEndpoint) -> float:
    return endpoint.metrics.registry.get_sample_value("rtopt_overload_rejections_total") or 0.0


@pytest.mark.parametrize("n", [3, INLINE_EVENTS + 5])  # inline on the loop, and on the shard's thread pool
def test_answer_given_a_batch_over_shards_keeps_order_and_routes_each_symbol_to_its_shard(
    pool: ThreadPoolExecutor, n: int
) -> None:
    shards = [StubShard(0), StubShard(1), StubShard(2)]
    symbols = [f"SYM{i % 7}" for i in range(n)]
    events: list[Any] = [{"symbol": s, "close": 1.0} for s in symbols]
    events.insert(1, {"close": 1.0})
    status, body = _answer(_endpoint(pool, *shards), {"events": events})
    assert status == 200 and body["rejected"] == 1
    assert body["decisions"][1]["error"]["field"] == "symbol"
    assert [d["symbol"] for d in body["decisions"] if "error" not in d] == symbols
    for shard in shards:
        assert shard.seen == [s for s in symbols if partition_of(s, 3) == shard.index]


def test_encode_given_a_body_returns_the_bytes_json_response_renders() -> None:
    body = {"decision": {"symbol": "ÉTH", "x": 0.1, "none": None, "nested": {"a": [1, 2.5]}}}
    assert encode(body) == JSONResponse(body).body


def _client(endpoint: DecisionsEndpoint) -> TestClient:
    app = FastAPI()

    @app.get("/other")
    def other() -> dict[str, bool]:
        return {"other": True}

    app.add_middleware(DecisionsRoute, endpoint=lambda: endpoint)
    return TestClient(app)


def test_route_given_post_answers_with_json_and_other_paths_reach_fastapi(pool: ThreadPoolExecutor) -> None:
    client = _client(_endpoint(pool, StubShard(0)))
    reply = client.post("/v1/decisions", json={"symbol": "DOGE", "close": 1.0})
    assert reply.status_code == 404 and reply.headers["content-type"] == "application/json"
    assert reply.json()["detail"]["reason"] == "unknown_symbol"
    assert client.get("/other").json() == {"other": True}
    assert client.get("/v1/decisions").status_code == 405


def test_route_given_a_route_prefix_matches_the_path_below_it(pool: ThreadPoolExecutor) -> None:
    client = TestClient(_client(_endpoint(pool, StubShard(0))).app, root_path="/rtopt")
    reply = client.post("/rtopt/v1/decisions", json={"symbol": "BTC-PERP", "close": 1.0})
    assert reply.status_code == 200 and reply.json()["decision"]["symbol"] == "BTC-PERP"


def test_document_given_the_ingress_app_lists_post_decisions_with_its_answers_beside_fastapi_routes() -> None:
    from serving.serve.ingress import api

    schema = TestClient(api).get("/openapi.json").json()

    post = schema["paths"]["/v1/decisions"]["post"]
    assert set(post["responses"]) == {"200", "404", "405", "413", "422", "503"}
    assert "/v1/status" in schema["paths"] and "/healthz" in schema["paths"]
