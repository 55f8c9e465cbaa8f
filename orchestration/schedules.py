"""Schedules: the daily incremental backfill per symbol, then the daily drift report per symbol with bars.

Both ask for one run per symbol partition known to the instance, keyed on the scheduled day and the
symbol, so a tick evaluated twice (a daemon restart) launches nothing twice.
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.drift import ASSET, DriftReportConfig
from assets.partitions import symbols_partitions
from assets.resources import MarketDataResource
from models.marketdata.schema import DataKind

TRIGGER_TAG = "rtopt/trigger"


def _symbols(context: ScheduleEvaluationContext) -> list[str]:
    name = symbols_partitions.name
    assert name is not None
    return list(context.instance.get_dynamic_partitions(name))


def _day(context: ScheduleEvaluationContext) -> str:
    return context.scheduled_execution_time.date().isoformat()


def build_daily_backfill_schedule(job_name: str, cron: str = "0 1 * * *") -> ScheduleDefinition:
    """Re-run the per-symbol platform job daily: newly ingested batches merge, features and online store follow."""

    @schedule(
        name="daily_backfill_schedule",
        job_name=job_name,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Daily incremental backfill: market data -> offline features -> online store, every symbol.",
    )
    def _backfill(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        symbols = _symbols(context)
        if not symbols:
            return SkipReason("no symbol partition yet: run `rtopt ingest` first")
        day = _day(context)
        return [
            RunRequest(run_key=f"backfill-{day}-{s}", partition_key=s, tags={TRIGGER_TAG: "schedule"}) for s in symbols
        ]

    return _backfill


def build_daily_drift_schedule(job_name: str, cron: str = "0 2 * * *") -> ScheduleDefinition:
    """A drift report per symbol with curated bars (the regime detector reads bars), after the backfill."""

    @schedule(
        name="daily_drift_schedule",
        job_name=job_name,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Daily regime-aware drift report of every symbol with bars; drift_sensor reacts to it.",
    )
    def _drift(context: ScheduleEvaluationContext, market_data: MarketDataResource) -> list[RunRequest] | SkipReason:
        store = market_data.store()
        symbols = [s for s in _symbols(context) if store.curated_path(DataKind.BARS, s).exists()]
        if not symbols:
            return SkipReason("no symbol with curated bars yet")
        day = _day(context)
        return [
            RunRequest(
                run_key=f"drift-report-{day}-{s}",
                run_config={"ops": {ASSET: {"config": DriftReportConfig(symbol=s).model_dump()}}},
                tags={TRIGGER_TAG: "schedule", "rtopt/symbol": s},
            )
            for s in symbols
        ]

    return _drift
