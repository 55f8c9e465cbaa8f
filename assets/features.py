"""Feature assets: offline features per symbol, the applied Feast repo, the online store."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.market_data import asset_name
from assets.partitions import symbols_partitions
from assets.resources import FeatureStoreResource, MarketDataResource
from models.features import FEATURES, compute_features, events_frame, feature_names
from models.features.checks import CheckOutcome, nan_after_warmup, point_in_time, value_ranges
from models.marketdata.schema import TIME, DataKind
from serving.features.feast_repo import FEATURE_SERVICE, FEATURE_VIEW, apply_repo

GROUP = "features"
SOURCE_ORDER = (DataKind.BARS, DataKind.QUOTES, DataKind.TRADES)
NAMES = feature_names()
WARMUP = max(d.warmup for d in FEATURES)


def load_events(market_data: MarketDataResource, symbol: str) -> tuple[DataKind, pd.DataFrame]:
    """The symbol's event stream: bars if it has them, else quotes, else trades."""
    store = market_data.store()
    for kind in SOURCE_ORDER:
        if store.curated_path(kind, symbol).exists():
            return kind, events_frame(store.read_curated(kind, symbol), kind)
    raise Failure(f"no curated bars, quotes or trades for {symbol}: materialize the market-data assets first")


def _result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(check_name=name, passed=outcome.passed, metadata=dict(outcome.details))


@asset(
    group_name=GROUP,
    partitions_def=symbols_partitions,
    deps=[asset_name(k) for k in SOURCE_ORDER],
    check_specs=[
        AssetCheckSpec("no_nan_after_warmup", asset="offline_features"),
        AssetCheckSpec("point_in_time", asset="offline_features"),
        AssetCheckSpec("value_ranges", asset="offline_features"),
    ],
    kinds={"parquet", "pandas"},
)
def offline_features(
    context: AssetExecutionContext, market_data: MarketDataResource, feature_store: FeatureStoreResource
) -> Iterator[MaterializeResult]:
    """The 21 market features of a symbol, batch engine, rows after warm-up (Feast's file source)."""
    symbol = context.partition_key
    kind, events = load_events(market_data, symbol)
    if len(events) <= WARMUP + 1:
        raise Failure(f"{symbol}: {len(events)} events, fewer than the {WARMUP + 1} the features need")
    features = compute_features(events)
    table = features.iloc[WARMUP:].rename(columns={TIME: "event_timestamp"})
    table.insert(0, "symbol", symbol)
    path = Path(feature_store.offline_root) / f"{symbol}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
    cut = WARMUP + (len(events) - WARMUP) // 2
    yield MaterializeResult(
        metadata=_metadata(kind, table, path),
        check_results=[
            _result("no_nan_after_warmup", nan_after_warmup(features, NAMES, WARMUP)),
            _result("point_in_time", point_in_time(events, compute_features, NAMES, cut)),
            _result("value_ranges", value_ranges(features, FEATURES, WARMUP)),
        ],
    )


def _metadata(kind: DataKind, table: pd.DataFrame, path: Path) -> dict[str, Any]:
    return {
        "source_kind": kind.value,
        "rows": len(table),
        "warmup_rows_dropped": WARMUP,
        "first": table["event_timestamp"].iloc[0].isoformat(),
        "last": table["event_timestamp"].iloc[-1].isoformat(),
        "path": MetadataValue.path(str(path)),
        "latest": MetadataValue.json({n: float(table[n].iloc[-1]) for n in NAMES}),
    }


@asset(group_name=GROUP, kinds={"feast"})
def feature_store_definitions(feature_store: FeatureStoreResource) -> MaterializeResult:
    """The Feast repository applied to the registry (``feast apply``)."""
    applied = apply_repo(feature_store.store(), Path(feature_store.repo))
    return MaterializeResult(
        metadata={
            "feature_views": list(applied.feature_views),
            "feature_services": list(applied.feature_services),
            "entities": list(applied.entities),
            "yaml": feature_store.yaml_file,
        }
    )


@asset(
    group_name=GROUP,
    partitions_def=symbols_partitions,
    deps=[offline_features, feature_store_definitions],
    kinds={"feast", "redis"},
)
def online_features(context: AssetExecutionContext, feature_store: FeatureStoreResource) -> MaterializeResult:
    """The symbol's latest feature vector in the online store (Redis or SQLite), via Feast."""
    symbol = context.partition_key
    path = Path(feature_store.offline_root) / f"{symbol}.parquet"
    latest = pd.read_parquet(path).tail(1).reset_index(drop=True)
    store = feature_store.store()
    store.write_to_online_store(FEATURE_VIEW, latest)
    read = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE), entity_rows=[{"symbol": symbol}]
    )
    got = read.to_dict()
    missing = [n for n in NAMES if got[n][0] is None]
    if missing:
        raise Failure(f"{symbol}: online store did not return {missing} after the write")
    return MaterializeResult(
        metadata={
            "event_timestamp": latest["event_timestamp"].iloc[0].isoformat(),
            "online_store": store.config.online_store.type,
            "feature_service": FEATURE_SERVICE,
        }
    )


feature_assets = [offline_features, feature_store_definitions, online_features]
