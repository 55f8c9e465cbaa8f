"""The dashboard in headless Chromium over a real engine's status and a real veto gate.

The app here is a plain FastAPI app (no Ray) with the routes the Serve ingress has: ``/dashboard``, a
``/v1/status`` that answers the ingress's ``merge_statuses`` over one shard's ``DecisionEngine.status()``,
and ``veto_router`` over a ``VetoGate``. It runs under uvicorn on a free port in a thread; Playwright
drives Debian's Chromium (``/usr/bin/chromium``: no browser download). The rendered page is kept as
``tests/artifacts/dashboard.png``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from serving.decision.bundle import load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Decision
from serving.safety.auth import Role, TokenAuth
from serving.safety.explain import ExplanationConfig
from serving.safety.veto import PendingVeto, VetoGate, VetoOutcome, VetoRequest, VetoRules
from serving.safety.veto_http import GateBackend, veto_router
from serving.serve.dashboard import dashboard_router
from serving.serve.ingress import merge_statuses
from serving.serve.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ENV = {"RTOPT_TOKEN_RISK": "risk-token-0123456789", "RTOPT_TOKEN_TRADER": "trader-token-0123456789"}
WAIT_MS = 10_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread, until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="dashboard-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)


def status_of(engine: DecisionEngine) -> dict[str, Any]:
    """What the ingress's ``GET /v1/status`` answers for one shard running ``engine``."""
    return merge_statuses([{"shard": 0, **engine.status(), "unhealthy": None}], {"last_check": None, "error": None})


def app_over(engine: DecisionEngine, gate: VetoGate) -> FastAPI:
    app = FastAPI()
    app.include_router(dashboard_router())
    app.include_router(veto_router(GateBackend(gate), TokenAuth.from_env(ENV)))

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        return status_of(engine)

    return app


def hold(gate: VetoGate, decision: Decision, **changes: Any) -> PendingVeto:
    request = VetoRequest.from_decision(decision)
    if changes:
        fields = {**request.to_dict(), **changes}
        fields.pop("delta")
        request = VetoRequest(**fields)
    veto = gate.review(request)
    assert veto is not None
    return veto


def js_signed(x: float, digits: int) -> str:
    """The page's ``signed``: a plus sign before a positive number."""
    return f"{x:+.{digits}f}" if x > 0 else f"{x:.{digits}f}"


def top_feature(status: dict[str, Any]) -> str:
    points = [p for shard in status["shards"] for p in shard["feature_importance"]]
    means: dict[str, float] = {}
    for point in points:
        for name, value in point["importance"].items():
            means[name] = means.get(name, 0.0) + value / len(points)
    return max(means, key=lambda name: means[name])


@pytest.fixture(scope="module")
def engine_and_decisions(
    decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> tuple[DecisionEngine, list[Decision]]:
    """1,500 real bars through an engine that explains every 5th decision, with the champion shadowed."""
    bundle = load_bundle_dir(decision_bundle_dir)
    config = EngineConfig(clock="market", explanation=ExplanationConfig(sample_every=5, budget_ms=math.inf))
    engine = DecisionEngine(bundle, config)
    engine.set_shadow("challenger", bundle)
    return engine, [engine.process(event) for event in btc_events[:1_500]]


@pytest.fixture
def gate_and_veto(engine_and_decisions: tuple[DecisionEngine, list[Decision]]) -> tuple[VetoGate, PendingVeto]:
    """A gate holding one of the engine's real orders (any size is held)."""
    _, decisions = engine_and_decisions
    order = next(d for d in decisions if d.position_size != d.previous_position)
    gate = VetoGate(VetoRules(max_size=0.0))
    return gate, hold(gate, order)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab in its own context (its own sessionStorage); JS errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == []


def sign_in(page: Page, token: str, by: str) -> None:
    page.fill("#token", token)
    page.fill("#by", by)
    page.click("#save-auth")


def test_dashboard_given_engine_status_renders_every_panel_with_data(
    engine_and_decisions: tuple[DecisionEngine, list[Decision]], gate_and_veto: tuple[VetoGate, PendingVeto], page: Page
) -> None:
    engine, _ = engine_and_decisions
    gate, veto = gate_and_veto
    status = status_of(engine)
    with serving(app_over(engine, gate)) as url:
        page.goto(f"{url}/dashboard")
        sign_in(page, ENV["RTOPT_TOKEN_TRADER"], "trader:dan")

        expect(page.locator("#app-status")).to_have_text("running", timeout=WAIT_MS)
        expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE")
        expect(page.locator("#summary")).to_contain_text(str(status["decisions_generated"]))
        assert_importance(page, status)
        assert_strategies(page, status)
        assert_exposure(page, status)
        assert_shadow(page, status)
        row = page.locator(f'#pending tr[data-veto-id="{veto.veto_id}"]')
        expect(row).to_contain_text(veto.request.strategy)
        expect(row).to_contain_text(veto.request.symbol)
        expect(row).to_contain_text("max_size")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def assert_importance(page: Page, status: dict[str, Any]) -> None:
    expect(page.locator("#importance polyline")).to_have_count(5)
    expect(page.locator("#importance .legend span").first).to_have_text(top_feature(status))


def assert_strategies(page: Page, status: dict[str, Any]) -> None:
    strategies = status["shards"][0]["strategies"]
    expect(page.locator("#strategies g[data-strategy]")).to_have_count(len(strategies))
    for arm, stats in strategies.items():
        bar = page.locator(f'#strategies g[data-strategy="{arm}"]')
        rate = "—" if stats["decisions"] == 0 else f"{100 * stats['success_rate']:.1f}%"
        expect(bar).to_contain_text(rate)
        expect(bar).to_contain_text(js_signed(stats["pnl_bps"], 1))


def assert_exposure(page: Page, status: dict[str, Any]) -> None:
    for symbol, position in status["positions"].items():
        expect(page.locator(f'#exposure tr[data-symbol="{symbol}"]')).to_contain_text(
            js_signed(position["position"], 4)
        )


def assert_shadow(page: Page, status: dict[str, Any]) -> None:
    challenger = status["shadow"]["shard0"]["challenger"]
    row = page.locator('#shadow tr[data-shadow="shard0/challenger"]')
    expect(row).to_contain_text(f"{100 * challenger['agreement_rate']:.1f}%")
    expect(row).to_contain_text(str(challenger["decisions"]))


def test_approve_given_a_risk_token_resolves_the_veto_in_the_gate_and_drops_it_from_pending(
    engine_and_decisions: tuple[DecisionEngine, list[Decision]], gate_and_veto: tuple[VetoGate, PendingVeto], page: Page
) -> None:
    engine, _ = engine_and_decisions
    gate, veto = gate_and_veto
    with serving(app_over(engine, gate)) as url:
        page.goto(f"{url}/dashboard")
        sign_in(page, ENV["RTOPT_TOKEN_RISK"], "risk:carol")
        row = page.locator(f'#pending tr[data-veto-id="{veto.veto_id}"]')
        row.locator("input.reason").fill("checked with the desk", timeout=WAIT_MS)
        row.get_by_role("button", name="Approve").click()

        expect(row).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator("#veto-message")).to_have_text(f"approved {veto.veto_id} by risk:carol")
        expect(page.locator(f'#resolved tr[data-veto-id="{veto.veto_id}"]')).to_contain_text("approved")
    resolution = gate.resolution(veto.veto_id)
    assert resolution is not None and gate.pending() == ()
    assert (resolution.outcome, resolution.by, resolution.role) == (VetoOutcome.APPROVED, "risk:carol", Role.RISK)
    assert resolution.reason == "checked with the desk"


def test_approve_given_a_trader_token_shows_403_and_keeps_the_veto_pending(
    engine_and_decisions: tuple[DecisionEngine, list[Decision]], gate_and_veto: tuple[VetoGate, PendingVeto], page: Page
) -> None:
    engine, _ = engine_and_decisions
    gate, veto = gate_and_veto
    with serving(app_over(engine, gate)) as url:
        page.goto(f"{url}/dashboard")
        sign_in(page, ENV["RTOPT_TOKEN_TRADER"], "trader:dan")
        row = page.locator(f'#pending tr[data-veto-id="{veto.veto_id}"]')
        row.locator("input.reason").fill("looks fine", timeout=WAIT_MS)
        row.get_by_role("button", name="Approve").click()

        expect(page.locator("#veto-message")).to_contain_text("HTTP 403", timeout=WAIT_MS)
        expect(row).to_have_count(1)
    assert gate.pending() == (veto,)


def test_dashboard_given_markup_in_a_veto_shows_it_as_text(
    engine_and_decisions: tuple[DecisionEngine, list[Decision]], gate_and_veto: tuple[VetoGate, PendingVeto], page: Page
) -> None:
    engine, decisions = engine_and_decisions
    gate, _ = gate_and_veto
    markup = '<img src="x" onerror="document.title=1">'
    order = [d for d in decisions if d.position_size != d.previous_position][1]
    veto = hold(gate, order, strategy=markup)
    with serving(app_over(engine, gate)) as url:
        page.goto(f"{url}/dashboard")
        sign_in(page, ENV["RTOPT_TOKEN_TRADER"], "trader:dan")

        expect(page.locator(f'#pending tr[data-veto-id="{veto.veto_id}"]')).to_contain_text(markup, timeout=WAIT_MS)
        expect(page.locator("#pending img")).to_have_count(0)
        assert page.title() == "rtopt dashboard"


def test_dashboard_given_a_fresh_engine_and_no_token_says_no_data_yet(decision_bundle_dir: Path, page: Page) -> None:
    engine = DecisionEngine(load_bundle_dir(decision_bundle_dir), EngineConfig(clock="market"))
    with serving(app_over(engine, VetoGate())) as url:
        page.goto(f"{url}/dashboard")

        expect(page.locator("#importance")).to_have_text("no data yet", timeout=WAIT_MS)
        expect(page.locator("#exposure")).to_have_text("no positions yet")
        expect(page.locator("#shadow")).to_have_text("no shadow running")
        expect(page.locator("#vetoes-note")).to_have_text("enter a token (any role) to list vetoes")
        expect(page.locator("#pending tbody tr")).to_have_count(0)
