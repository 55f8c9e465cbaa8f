"""The decision path: in one process (risk and audit included), and through the Ray Serve endpoint.

- ``decision_inprocess_p50_us`` / ``_p99_us``: ``DecisionEngine.process`` on a parsed event, with the
  risk monitor and the audit trail as the Serve shards and the Python API open it (SQLite behind a journal,
  ``serving.decision.audit_journal``: one write per decision, batches chained into the store; every decision
  is checked to be in the store, chain intact, afterwards), after the warm-up.
  Baseline in the same run: the actor's forward pass alone (``decision_actor_only_p50_us``).
  ``decision_inprocess_all_controls_*``: every pre-trade control on (``bench.bench_safety.ALL_ON``) and the
  veto gate reviewing every order (with a rule that does not fire).
- ``serve_decision_p50_ms`` / ``_p99_ms``: one event per HTTP request, sequential client with a kept-alive
  session, through the single-shard app with its shard in the ingress replica (``ServeConfig.colocate``);
  ``serve_noop_p50_ms``: the same client against a no-op deployment in the same Ray instance, its requests
  interleaved with ours (one each in turn). Target: ours <= no-op + 1 ms. ``serve_sharded_decision_*``: the
  same through the two-deployment app (ingress -> ``DecisionShard`` handle), with its own interleaved no-op
  (``serve_sharded_noop_p50_ms``), started after it on the same machine.
- ``serve_decisions_per_s``: several concurrent clients posting batches of events for distinct symbols
  (colocated app).

``python -m bench.bench_decision --serve-only`` measures the Serve keys alone.
"""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.bench_safety import ALL_ON
from bench.common import latencies_us, pct, print_table
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from models.streaming.events import parse_event
from serving.decision.audit import AuditLog, AuditTrail
from serving.decision.audit_journal import JournaledAudit
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.replay import frame_payloads
from serving.decision.training import BundleTrainingConfig, train_bundle
from serving.safety.veto import VetoRules

CLIENTS, BATCH, BATCHES_PER_CLIENT = 4, 200, 10


def _bundle(folder: Path) -> tuple[ModelBundle, list[dict[str, Any]], Path]:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    cut = int(len(frame) * 0.6)
    config = BundleTrainingConfig(agent_steps=1_024, regime_bars=1_000, seed=0)
    bundle = train_bundle(frame.iloc[:cut], DataKind.BARS, folder, config)
    return bundle, frame_payloads(frame.iloc[cut:], sample.symbol), folder / "bundle"


def inprocess(bundle: ModelBundle, payloads: list[dict[str, Any]], folder: Path) -> dict[str, float]:
    timed = _audited_us(bundle, payloads, folder / "audit.db")
    bare = _engine_us(bundle, payloads, None)
    guarded = EngineConfig(clock="market", risk=ALL_ON, vetoes=VetoRules(max_size=2.0), capital=1e6)
    every = _audited_us(bundle, payloads, folder / "audit-all.db", guarded)
    obs = np.zeros(len(bundle.scaler.center) + 9, dtype=np.float32)
    actor = latencies_us(lambda: bundle.actor(obs), n=5_000)
    return {
        "decision_inprocess_p50_us": pct(timed, 50),
        "decision_inprocess_p99_us": pct(timed, 99),
        "decision_inprocess_no_audit_p50_us": pct(bare, 50),
        "decision_inprocess_all_controls_p50_us": pct(every, 50),
        "decision_inprocess_all_controls_p99_us": pct(every, 99),
        "decision_actor_only_p50_us": pct(actor, 50),
    }


def _audited_us(
    bundle: ModelBundle, payloads: list[dict[str, Any]], path: Path, config: EngineConfig | None = None
) -> np.ndarray:
    """``_engine_us`` with the engine's audit trail as the Serve shards and the Python API open it (journaled);
    afterwards every decision must be in the store with the chain intact, or the figure does not count."""
    audit = JournaledAudit(AuditLog(path))
    timed = _engine_us(bundle, payloads, audit, config)
    decisions = sum(1 for record in audit.records() if record.kind in ("decision", "reject"))
    broken = audit.verify()
    audit.close()
    if decisions != len(payloads) or broken is not None:
        raise RuntimeError(f"audit {path}: {decisions} records for {len(payloads)} events, chain break {broken}")
    return timed


def _engine_us(
    bundle: ModelBundle, payloads: list[dict[str, Any]], audit: AuditTrail | None, config: EngineConfig | None = None
) -> np.ndarray:
    engine = DecisionEngine(bundle, config or EngineConfig(clock="market"), audit=audit)
    events = iter([parse_event(p) for p in payloads])
    return latencies_us(lambda: engine.process(next(events)), n=len(payloads) - 500, warmup=500)


def _interleaved_ms(noop_url: str, url: str, bodies: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(no-op, ours) latencies, one request to each in turn on one kept-alive session.

    Alternating puts both series under the same machine noise (on 2 shared cores whole runs drift by
    2x), so their difference holds where two back-to-back runs would not.
    """
    session = requests.Session()
    for body in bodies[:50]:
        session.post(noop_url, json=body, timeout=30)
        session.post(url, json=body, timeout=30)
    noop: list[float] = []
    ours: list[float] = []
    for body in bodies[50:]:
        for target, out in ((noop_url, noop), (url, ours)):
            started = time.perf_counter()
            reply = session.post(target, json=body, timeout=30)
            out.append((time.perf_counter() - started) * 1e3)
            reply.raise_for_status()
    return np.asarray(noop), np.asarray(ours)


def _throughput(url: str, payloads: list[dict[str, Any]]) -> float:
    def client(k: int) -> int:
        session, done = requests.Session(), 0
        events = [{**p, "symbol": f"LOAD{k}"} for p in payloads[: BATCH * BATCHES_PER_CLIENT]]
        for start in range(0, len(events), BATCH):
            reply = session.post(url, json={"events": events[start : start + BATCH]}, timeout=60)
            reply.raise_for_status()
            done += len(reply.json()["decisions"])
        return done

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        total = sum(pool.map(client, range(CLIENTS)))
    return total / (time.perf_counter() - started)


def through_serve(bundle_dir: Path, payloads: list[dict[str, Any]], home: Path) -> dict[str, float]:
    from ray import serve

    from serving.decision.registry import register_bundle
    from serving.serve.app import build_noop
    from serving.serve.config import ServeConfig
    from serving.serve.runner import start, stop

    tracking = f"sqlite:///{home / 'mlflow.db'}"
    os.environ.update(MLFLOW_TRACKING_URI=tracking, MLFLOW_REGISTRY_URI=tracking)
    register_bundle(bundle_dir, "ppo", "bench", (home / "artifacts").as_uri(), 0.0)
    base = ServeConfig(mlflow_tracking_uri=tracking, model_cache=str(home / "cache"), clock="market", port=8431)
    url = start(base.model_copy(update={"colocate": True}))
    try:
        serve.run(build_noop(), name="noop", route_prefix="/noop", blocking=False)
        noop, ours = _interleaved_ms(f"{url}/noop", f"{url}/v1/decisions", payloads[:1_050])
        rate = _throughput(f"{url}/v1/decisions", payloads)
    finally:
        stop()
    url = start(base.model_copy(update={"port": 8432}))
    try:
        serve.run(build_noop(), name="noop", route_prefix="/noop", blocking=False)
        sharded_noop, sharded = _interleaved_ms(f"{url}/noop", f"{url}/v1/decisions", payloads[:1_050])
    finally:
        stop()
    return {
        "serve_decision_p50_ms": _ms(ours, 50),
        "serve_decision_p99_ms": _ms(ours, 99),
        "serve_noop_p50_ms": _ms(noop, 50),
        "serve_noop_p99_ms": _ms(noop, 99),
        "serve_over_noop_p50_ms": round(_ms(ours, 50) - _ms(noop, 50), 3),
        "serve_decisions_per_s": round(rate),
        "serve_sharded_decision_p50_ms": _ms(sharded, 50),
        "serve_sharded_decision_p99_ms": _ms(sharded, 99),
        "serve_sharded_noop_p50_ms": _ms(sharded_noop, 50),
        "serve_sharded_over_noop_p50_ms": round(_ms(sharded, 50) - _ms(sharded_noop, 50), 3),
    }


def _ms(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def run(*, serve_only: bool = False) -> dict[str, float | int | str]:
    """Every key; ``serve_only`` skips the in-process part (the Serve keys alone, same measurement)."""
    folder = Path(tempfile.mkdtemp(prefix="rtopt-bench-decision-"))
    bundle, payloads, bundle_dir = _bundle(folder)
    result: dict[str, float | int | str] = {} if serve_only else {**inprocess(bundle, payloads, folder)}
    result.update(through_serve(bundle_dir, payloads, folder / "serve"))
    return result


if __name__ == "__main__":
    import json
    import sys

    out = run(serve_only="--serve-only" in sys.argv[1:])
    print_table("decision path: in process (risk + audit) and through Ray Serve", [(k, v, "") for k, v in out.items()])
    print(json.dumps(out))
