"""Sensors: a drifted ``feature_drift_report`` requests one retraining run.

One run per drift event: the run key is the report materialization's storage id, so Dagster never
launches two runs for one report, even if the cursor were lost. The cursor is the last storage id
handled, so a restarted daemon does not look at old reports again. Only the newest report since the
last tick decides: older ones in the same tick are superseded (retraining reads the latest data anyway).
"""

from __future__ import annotations

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

from assets.drift import ASSET
from assets.models import model_assets

TRIGGER_TAG = "rtopt/trigger"
REASON_TAG = "rtopt/drift_reason"
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
