"""The scenario's record: ``bench/scenario.json`` and its table, read back from Dagster, MLflow and the audit log."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import DagsterInstance, RunsFilter
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from orchestration.scenario_chain import SCENARIO_TAG, SENSORS
from orchestration.scenario_traffic import TrafficReport
from orchestration.settings import Settings
from serving.decision.audit import open_audit
from serving.lifecycle.promotion import RECORD_KIND, REFUSED_KIND

if TYPE_CHECKING:
    from orchestration.scenario import Clock
    from orchestration.scenario_chain import Chain

MODELS = ("rtopt-regime", "rtopt-bandit", "rtopt-ppo", "rtopt-ddpg")
LIFECYCLE_KINDS = frozenset({*RECORD_KIND.values(), *REFUSED_KIND.values()})
REQUIRED_KEYS = (
    "drift_detected",
    "drift_detection_delay_s",
    "retrain_run_id",
    "challenger_version",
    "gate_decision",
    "gate",
    "swap_failed_requests",
    "drift_to_serving_s",
)


def collect_records(
    instance: DagsterInstance,
    settings: Settings,
    scenario_id: str,
    traffic: TrafficReport,
    chain: Chain,
    clock: Clock,
) -> dict[str, Any]:
    """What the scenario left behind: runs, sensor ticks, aliases, audit records, traffic, timings."""
    marks = clock.marks
    delay = marks["drift_detected"] - marks["shift_ingested"] if "drift_detected" in marks else None
    return {
        "scenario_id": scenario_id,
        "started_at": datetime.fromtimestamp(clock.wall0, UTC).isoformat(),
        "drift_detection_delay_s": None if delay is None else round(delay, 3),
        "swap_failed_requests": traffic.failed_requests,
        "traffic": asdict(traffic),
        "timeline_s": dict(marks),
        "total_s": marks.get("end"),
        "dagster_runs": _runs(instance, scenario_id),
        "sensor_ticks": _ticks(chain, clock.wall0),
        "mlflow_aliases": _aliases(settings),
        "audit": _audit(settings),
        "dagster_home": str(settings.dagster_home),
    }


def _runs(instance: DagsterInstance, scenario_id: str) -> list[dict[str, Any]]:
    records = instance.get_run_records(RunsFilter(tags={SCENARIO_TAG: scenario_id}), ascending=True)
    return [
        {
            "run_id": r.dagster_run.run_id,
            "job": r.dagster_run.job_name,
            "status": r.dagster_run.status.value,
            "tags": {
                k: v
                for k, v in r.dagster_run.tags.items()
                if k.startswith(("rtopt/", "dagster/sensor", "dagster/run_key"))
            },
        }
        for r in records
    ]


def _ticks(chain: Chain, since: float) -> list[dict[str, Any]]:
    """The ticks the instance holds for the scenario's sensor evaluations (what the UI lists), oldest first."""
    out = []
    for name in SENSORS:
        for tick in chain.recorder.ticks(name):
            if tick.timestamp >= since:
                out.append(
                    {
                        "sensor": name,
                        "timestamp": tick.timestamp,
                        "status": tick.status.value,
                        "run_ids": list(tick.run_ids),
                        "run_keys": list(tick.run_keys),
                        "skip_reason": tick.skip_reason,
                        "cursor": tick.cursor,
                    }
                )
    return sorted(out, key=lambda t: t["timestamp"])


def _aliases(settings: Settings) -> dict[str, dict[str, str]]:
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)
    out = {}
    for name in MODELS:
        try:
            model = client.get_registered_model(name)
        except MlflowException:
            continue
        out[name] = {alias: str(version) for alias, version in sorted(model.aliases.items())}
    return out


def _audit(settings: Settings) -> dict[str, Any]:
    audit = open_audit(settings.audit_dsn)
    try:
        kinds = Counter(r.kind for r in audit.records())
        lifecycle = [
            {"seq": r.seq, "kind": r.kind, **json.loads(r.payload)}
            for r in audit.records()
            if r.kind in LIFECYCLE_KINDS
        ]
        chain_ok = audit.verify() is None
    finally:
        audit.close()
    return {"records_by_kind": dict(kinds), "lifecycle": lifecycle, "hash_chain_ok": chain_ok}


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def print_table(report: dict[str, Any]) -> None:
    gate = report.get("gate") or {}
    traffic = report.get("traffic", {})
    rows = [
        ("drift_detected", report.get("drift_detected")),
        ("drift_share", (report.get("drift") or {}).get("drift_share")),
        ("drift_detection_delay_s", report.get("drift_detection_delay_s")),
        ("retrain_run_id", report.get("retrain_run_id")),
        ("challenger_version", report.get("challenger_version")),
        ("gate_decision", report.get("gate_decision")),
        ("gate_reason", gate.get("reason")),
        ("paired_decisions", gate.get("n_decisions")),
        ("swap_failed_requests", report.get("swap_failed_requests")),
        ("requests / decisions", f"{traffic.get('requests')} / {traffic.get('decisions')}"),
        ("decisions by actor", traffic.get("actor_versions")),
        ("drift_to_serving_s", report.get("drift_to_serving_s")),
        ("total_s", report.get("total_s")),
    ]
    width = max(len(k) for k, _ in rows)
    print("\nEnd-to-end scenario")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print(json.dumps({k: report.get(k) for k in REQUIRED_KEYS}, default=str))
