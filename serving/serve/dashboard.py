"""The operator's dashboard: one page over ``GET /v1/status`` and the veto endpoints.

- ``GET /dashboard``: the page (``static/dashboard.html``); ``GET /dashboard/dashboard.js`` and
  ``/dashboard/dashboard.css``: its script and style. Plain HTML, vanilla JS and inline SVG: no CDN, no build.

The page polls ``v1/status`` and ``v1/vetoes`` every 2 s (relative URLs, so it works under any route prefix)
and draws feature importance over time, per-strategy PnL and success rate, exposure per symbol, each
shard's risk state, shadow vs champion, and the pending vetoes with Approve / Reject buttons. The token it
sends (``Authorization: Bearer``) is typed by the person and kept in the tab's ``sessionStorage``; the page
itself holds no secret and needs none to load. Data reaches the DOM through ``textContent`` only, and the
Content-Security-Policy below allows no inline script and no other origin, so a strategy name or a veto
reason can never run as code; ``frame-ancestors 'none'`` keeps the Approve button out of other sites' frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

ASSETS: Mapping[str, str] = MappingProxyType(
    {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
)
"""The page's files besides the HTML, and their media types."""
HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
)


def static_text(name: str) -> str:
    """A file of ``serving/serve/static`` (shipped as package data)."""
    return (resources.files("serving.serve") / "static" / name).read_text(encoding="utf-8")


def dashboard_html() -> str:
    """The page's HTML."""
    return static_text("dashboard.html")


def dashboard_router() -> APIRouter:
    """``GET /dashboard`` and its two assets; the files are read here, so a missing one fails at startup."""
    page = dashboard_html()
    assets = {name: static_text(name) for name in ASSETS}
    router = APIRouter()

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=dict(HEADERS))

    @router.get("/dashboard/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in assets:
            return Response(status_code=404)
        return Response(assets[name], media_type=ASSETS[name], headers=dict(HEADERS))

    return router
