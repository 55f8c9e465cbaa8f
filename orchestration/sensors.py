"""Sensors: a drifted ``feature_drift_report`` requests one retraining run; the shadow gate judges challengers.

One run per drift event: the run key is the report materialization's storage id, so Dagster never
launches two runs for one report, even if the cursor were lost. The cursor is the last storage id
handled, so a restarted daemon does not look at old reports again. Only the newest report since the
last tick decides: older ones in the same tick are superseded (retraining reads the latest data anyway).

Model lifecycle (issue 7): ``new_challenger_sensor`` requests ``shadow_start_job`` when the registry's
``challenger`` alias moves, so the Serve app starts shadowing it; ``shadow_comparison_sensor`` reads the
paired shadow decisions from the app and, after ``GateConfig.min_decisions`` of them, requests
``promotion_job`` with the gate's verdict (promote or archive, with the statistics). Both only judge and
request: the alias moves, audit records and hot-swaps run in the jobs (``orchestration.lifecycle_jobs``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from mlflow.exceptions import MlflowException

from assets.drift import ASSET
from assets.models import model_assets
from models.evaluation.gate import GateConfig, GateDecision
from orchestration.lifecycle_jobs import (
    ADMIN_TOKEN_ENV,
    SERVE_URL_ENV,
    challenger_run_config,
    verdict_run_config,
)
from serving.decision.registry import Agent, ModelUnavailableError, ResolvedVersions, resolve
from serving.lifecycle.comparison import ShadowComparison, version_key
from serving.lifecycle.serve_http import ServeRequestError, fetch_paired

TRIGGER_TAG = "rtopt/trigger"
REASON_TAG = "rtopt/drift_reason"
GATE_TAG = "rtopt/gate_condition"
CHALLENGER_TAG = "rtopt/challenger"
NO_CHALLENGER = "none"
FetchShadow = Callable[[], ShadowComparison | None]
"""The shadow comparison from the Serve app, or None when no app is configured."""
DRIFT_REPORT_KEY = AssetKey(ASSET)


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """The verdict a ``feature_drift_report`` materialization carries in its metadata."""

    storage_id: int
    report_run_id: str
    symbol: str
    drifted: bool
    share: float
    reason: str

    @classmethod
    def from_record(cls, record: EventLogRecord) -> DriftEvent:
        materialization = record.asset_materialization
        if materialization is None:
            raise ValueError(f"event {record.storage_id} is not an asset materialization")
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        missing = [k for k in ("symbol", "drifted", "drift_share", "drift_reason") if k not in metadata]
        if missing:
            # A report without a verdict is an error to look at, never a quiet "no drift".
            raise ValueError(f"{ASSET} materialization {record.storage_id} lacks metadata {missing}")
        drifted, share = metadata["drifted"], metadata["drift_share"]
        if not isinstance(drifted, bool) or not isinstance(share, float | int):
            raise ValueError(f"{ASSET} materialization {record.storage_id}: drifted={drifted!r}, share={share!r}")
        return cls(
            storage_id=record.storage_id,
            report_run_id=record.run_id,
            symbol=str(metadata["symbol"]),
            drifted=drifted,
            share=float(share),
            reason=str(metadata["drift_reason"]),
        )

    def run_request(self) -> RunRequest:
        return RunRequest(
            run_key=f"drift-{self.storage_id}",
            run_config=training_run_config(self.symbol),
            tags={
                TRIGGER_TAG: "drift",
                REASON_TAG: self.reason,
                "rtopt/symbol": self.symbol,
                "rtopt/drift_share": f"{self.share:.3f}",
                "rtopt/drift_report_run": self.report_run_id,
            },
        )


def training_run_config(symbol: str) -> dict[str, Any]:
    """Train every model asset on the drifted symbol (each model asset's config has a ``symbol`` field)."""
    return {"ops": {a.op.name: {"config": {"symbol": symbol}} for a in model_assets}}


def build_drift_sensor(
    job_name: str,
    name: str = "drift_sensor",
    asset_key: AssetKey = DRIFT_REPORT_KEY,
    minimum_interval_seconds: int = 60,
) -> SensorDefinition:
    """A sensor requesting the job ``job_name`` once for each new drifted ``asset_key`` report (the newest per tick)."""

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Requests {job_name} when a new {asset_key.to_user_string()} says the features drifted.",
    )
    def _drift_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        after = int(context.cursor) if context.cursor else None
        newest = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, after_storage_id=after), limit=1
        ).records
        if not newest:
            return SkipReason(f"no {asset_key.to_user_string()} since storage id {after}")
        event = DriftEvent.from_record(newest[0])
        cursor = str(event.storage_id)
        if not event.drifted:
            why = f"{event.symbol}: no drift ({event.reason})"
            return SensorResult(skip_reason=SkipReason(why), cursor=cursor)
        context.log.info(f"{event.symbol}: drift, requesting {job_name}: {event.reason}")
        return SensorResult(run_requests=[event.run_request()], cursor=cursor)

    return _drift_sensor


def serve_unreachable(error: Exception) -> SkipReason:
    """A tick that could not read the Serve app: skipped, saying why; the next tick asks again."""
    return SkipReason(f"Serve app unreachable or refusing ({error}): retrying on the next tick")


def http_shadow_fetch(
    serve_url_env: str = SERVE_URL_ENV, token_env: str = ADMIN_TOKEN_ENV, name: str = "challenger"
) -> FetchShadow:
    """``GET /v1/shadow/{name}/paired`` on the app ``$serve_url_env`` names (None while it is unset)."""

    def fetch() -> ShadowComparison | None:
        url = os.environ.get(serve_url_env, "").strip()
        if not url:
            return None
        return ShadowComparison.from_json(fetch_paired(url, os.environ.get(token_env, "").strip(), name))

    return fetch


def verdict_request(challenger: ResolvedVersions, decision: GateDecision) -> RunRequest:
    """One ``promotion_job`` run per challenger and verdict: the run key makes a repeated tick a no-op."""
    key, action = version_key(challenger), "promote" if decision.promote else "archive"
    return RunRequest(
        run_key=f"shadow-gate-{key}-{action}",
        run_config=verdict_run_config(challenger, decision),
        tags={TRIGGER_TAG: "shadow_gate", GATE_TAG: decision.condition, CHALLENGER_TAG: key},
    )


def shadow_gate_tick(comparison: ShadowComparison, cursor: str | None, config: GateConfig) -> SensorResult | SkipReason:
    """Judge the shadowed challenger once, on the first tick with ``min_decisions`` paired decisions.

    The cursor is the judged challenger's key: later ticks (more decisions, maybe another verdict) skip it,
    so one challenger never gets both a promote and an archive run.
    """
    if comparison.versions is None:
        return SkipReason(f"no challenger is shadowed by every shard ({comparison.detail or 'none registered'})")
    challenger = comparison.challenger
    key = version_key(challenger)
    if cursor == key:
        return SkipReason(f"{key}: judged already")
    if comparison.n < config.min_decisions:
        return SkipReason(f"{key}: {comparison.n} of {config.min_decisions} paired shadow decisions")
    decision = comparison.decide(config)
    return SensorResult(run_requests=[verdict_request(challenger, decision)], cursor=key)


def build_shadow_comparison_sensor(
    job_name: str,
    config: GateConfig | None = None,
    *,
    fetch: FetchShadow | None = None,
    serve_url_env: str = SERVE_URL_ENV,
    name: str = "shadow_comparison_sensor",
    minimum_interval_seconds: int = 300,
) -> SensorDefinition:
    """A sensor requesting ``job_name`` (``promotion_job``) with the gate's verdict on the shadowed challenger.

    ``fetch`` reads the comparison (default: over HTTP from ``$serve_url_env``); ``config`` is the gate's,
    ``min_decisions`` included.
    """
    gate = config or GateConfig()
    read = fetch or http_shadow_fetch(serve_url_env)

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"After {gate.min_decisions} shadow decisions, requests {job_name} to promote or archive.",
    )
    def _shadow_comparison_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        try:
            comparison = read()
        except ServeRequestError as error:
            return serve_unreachable(error)
        if comparison is None:
            return SkipReason(f"{serve_url_env} unset: no Serve app to read shadow decisions from")
        return shadow_gate_tick(comparison, context.cursor, gate)

    return _shadow_comparison_sensor


def new_challenger_tick(
    challenger: ResolvedVersions | None, cursor: str | None, serve_url_env: str
) -> SensorResult | SkipReason:
    """One ``shadow_start_job`` run per new challenger; the cursor is the last challenger seen."""
    key = NO_CHALLENGER if challenger is None else version_key(challenger)
    if key == cursor:
        return SkipReason(f"challenger unchanged ({key})")
    if challenger is None:
        return SensorResult(skip_reason=SkipReason("no challenger registered"), cursor=key)
    if not os.environ.get(serve_url_env, "").strip():
        why = f"{key}: new challenger; {serve_url_env} unset, no Serve app to reload (a polling app shadows it)"
        return SensorResult(skip_reason=SkipReason(why), cursor=key)
    request = RunRequest(
        run_key=f"shadow-start-{key}",
        run_config=challenger_run_config(challenger),
        tags={TRIGGER_TAG: "new_challenger", CHALLENGER_TAG: key},
    )
    return SensorResult(run_requests=[request], cursor=key)


def build_new_challenger_sensor(
    job_name: str,
    *,
    agent: Agent = "ppo",
    current: Callable[[], ResolvedVersions | None] | None = None,
    serve_url_env: str = SERVE_URL_ENV,
    name: str = "new_challenger_sensor",
    minimum_interval_seconds: int = 60,
) -> SensorDefinition:
    """A sensor requesting ``job_name`` (``shadow_start_job``) once for each new ``challenger`` in the registry.

    ``current`` reads the challenger (default: ``resolve("challenger", agent)`` on the registry the settings
    exported). An app polling the registry (``registry_poll_s > 0``) starts shadowing by itself; the run still
    pays its way: it makes the start immediate and fails, naming the shard and the model, when a shard cannot
    load the challenger. Without ``$serve_url_env`` there is no app to reload, and the tick says so.
    """
    look = current or (lambda: resolve("challenger", agent))

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Requests {job_name} when the registry's challenger alias moves, so Serve shadows it.",
    )
    def _new_challenger_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        try:
            challenger = look()
        except (MlflowException, ModelUnavailableError) as error:
            why = f"MLflow registry unreachable ({type(error).__name__}: {error}): retrying on the next tick"
            return SkipReason(why)
        return new_challenger_tick(challenger, context.cursor, serve_url_env)

    return _new_challenger_sensor
