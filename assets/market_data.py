"""Market-data assets: one per kind of data, partitioned by symbol, with quality checks."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.partitions import symbols_partitions
from assets.resources import MarketDataResource
from models.marketdata.quality import Gap, crossed_quote_count, find_gaps, is_time_ordered
from models.marketdata.schema import TIME, DataKind

GROUP = "market_data"
CHECKS = ("time_monotonic", "no_crossed_quotes", "no_long_gaps")


def checks_for(kind: DataKind) -> tuple[str, ...]:
    """Trades carry no quotes, so the crossed-quote check does not apply to them."""
    return tuple(c for c in CHECKS if not (kind is DataKind.TRADES and c == "no_crossed_quotes"))


def asset_name(kind: DataKind) -> str:
    return f"market_{kind.value}"


def build_market_data_asset(kind: DataKind) -> AssetsDefinition:
    """The curated table of ``kind`` per symbol: every ingested batch merged, time-ordered."""
    name = asset_name(kind)

    @asset(
        name=name,
        group_name=GROUP,
        partitions_def=symbols_partitions,
        check_specs=[AssetCheckSpec(check, asset=name) for check in checks_for(kind)],
        description=f"Validated {kind.value} per symbol (Parquet), merged from every `rtopt ingest` batch.",
        kinds={"parquet", "pandas"},
    )
    def _market_data(context: AssetExecutionContext, market_data: MarketDataResource) -> Iterator[MaterializeResult]:
        symbol = context.partition_key
        store = market_data.store()
        if not store.manifests(kind, symbol):
            hint = f"rtopt ingest FILE --symbol {symbol} --kind {kind.value}"
            raise Failure(f"no {kind.value} ingested for {symbol}: run `{hint}`")
        curated = store.curate(kind, symbol)
        path = store.write_curated(kind, symbol, curated.frame)
        gaps = find_gaps(curated.frame[TIME], timedelta(minutes=market_data.max_gap_minutes))
        yield MaterializeResult(
            metadata=_metadata(curated.frame, curated.batch_rejects + len(curated.conflicts), gaps, str(path)),
            check_results=_checks(kind, curated.frame, gaps, market_data.max_gap_minutes),
        )

    return _market_data


def _metadata(frame: pd.DataFrame, rejects: int, gaps: list[Gap], path: str) -> dict[str, Any]:
    ts = frame[TIME]
    longest = gaps[0].length.total_seconds() / 60 if gaps else 0.0
    return {
        "rows": len(frame),
        "rejects": rejects,
        "first": ts.iloc[0].isoformat(),
        "last": ts.iloc[-1].isoformat(),
        "gaps": len(gaps),
        "longest_gap_minutes": round(longest, 2),
        "path": MetadataValue.path(path),
        "preview": MetadataValue.md(frame.head(5).to_markdown(index=False)),
    }


def _checks(kind: DataKind, frame: pd.DataFrame, gaps: list[Gap], max_gap: float) -> list[AssetCheckResult]:
    strict = kind in (DataKind.BARS, DataKind.BOOK)
    crossed = crossed_quote_count(frame)
    top = [f"{g.start.isoformat()} -> {g.end.isoformat()}" for g in gaps[:5]]
    results = [
        AssetCheckResult(
            check_name="time_monotonic",
            passed=is_time_ordered(frame, strict),
            metadata={"strict": strict},
        ),
        AssetCheckResult(check_name="no_crossed_quotes", passed=crossed == 0, metadata={"crossed_rows": crossed}),
        AssetCheckResult(
            check_name="no_long_gaps",
            passed=not gaps,
            severity=AssetCheckSeverity.WARN,
            metadata={"max_gap_minutes": max_gap, "gaps": len(gaps), "longest": MetadataValue.json(top)},
        ),
    ]
    return [r for r in results if r.check_name in checks_for(kind)]


market_data_assets = [build_market_data_asset(kind) for kind in DataKind]
