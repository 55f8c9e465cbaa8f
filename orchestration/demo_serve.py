"""The demo's last step: the registered champion behind Ray Serve, fed the held-out real data over HTTP."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests

from models.marketdata.samples import SAMPLES
from orchestration.settings import Settings
from serving.decision.replay import frame_payloads
from serving.serve.config import ServeConfig
from serving.serve.ports import free_port

HELD_OUT = 0.8
"""The training assets fit on the first 60% and validate on the next 20%: the last 20% is unseen."""
BATCH = 500


def _print_decision(d: dict[str, Any]) -> None:
    print(
        f"    {d['event_time']}  {d['action']:<4} size {d['position_size']:+.3f}  {d['strategy']:<19} "
        f"regime {d['regime']:<15} confidence {d['confidence']:.3f}  risk {d['risk_score']:.3f}  "
        f"{d['latency_us']:.0f} us"
    )


def serve_demo(settings: Settings) -> int:
    """Start the app, post the held-out BTC-PERP bars in batches, print decisions and status, stop."""
    from serving.serve.runner import start, stop

    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    payloads = frame_payloads(frame.iloc[int(len(frame) * HELD_OUT) :], sample.symbol)
    store = settings.online_store
    config = ServeConfig(
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        model_cache=str(settings.home / "serving" / "models"),
        symbols=(sample.symbol,),
        clock="market",
        registry_poll_s=0,
        redis_url=store.redis_url if store.backend == "redis" else None,
        audit_dsn=settings.audit_dsn,
        port=free_port(),
    )
    print(f"5/5 Ray Serve: champion models behind POST /v1/decisions; {len(payloads)} held-out bars over HTTP")
    url = start(config)
    try:
        decisions = _post_all(f"{url}/v1/decisions", payloads)
        trades = [d for d in decisions if d["action"] != "HOLD"]
        print(f"    {len(decisions)} decisions: {dict(Counter(d['action'] for d in decisions))}; first trades:")
        for d in trades[:5]:
            _print_decision(d)
        status = requests.get(f"{url}/v1/status", timeout=30).json()
        health = requests.get(f"{url}/healthz", timeout=30)
        print(f"    status {status['status']}, models {status['active_models']}")
        print(f"    decisions_generated {status['decisions_generated']}, daily_pnl {status['daily_pnl']:+.2f}")
        print(f"    healthz {health.status_code} ready={health.json()['ready']}; curl {url}/v1/status while it runs")
    finally:
        stop()
    print("    Serve app shut down")
    return 0 if len(decisions) == len(payloads) else 1


def _post_all(url: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    session, out = requests.Session(), list[dict[str, Any]]()
    for start in range(0, len(payloads), BATCH):
        reply = session.post(url, json={"events": payloads[start : start + BATCH]}, timeout=120)
        reply.raise_for_status()
        out.extend(d for d in reply.json()["decisions"] if "error" not in d)
    return out
