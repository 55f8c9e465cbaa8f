"""Monitoring assets: a regime-aware Evidently drift report of recent features vs the training reference."""

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.features import NAMES, offline_features
from assets.models import regime_model
from assets.resources import FeatureStoreResource, MarketDataResource, MlflowResource
from models.marketdata.schema import TIME, DataKind
from serving.monitoring import (
    DriftConfig,
    DriftOutcome,
    DriftReportError,
    drift_report,
    log_drift_run,
    split_reference_window,
)
from serving.training.regime import champion_regimes

GROUP = "monitoring"
ASSET = "feature_drift_report"
SHARE_CHECK = "drift_share_below_threshold"
CALENDAR_FEATURES = ("tod_sin", "tod_cos")


class DriftReportConfig(Config):
    """Run config of the drift report; the comparison's own settings are ``serving.monitoring.DriftConfig``."""

    symbol: str = "BTC-PERP"
    window_rows: int = 1_440
    """The recent window: the last rows of the symbol's offline features (1,440 one-minute bars: a day)."""
    min_reference_rows: int = 200
    """Training rows a regime needs to count as seen (``DriftConfig.min_reference_rows``)."""
    exclude: list[str] = Field(default_factory=lambda: list(CALENDAR_FEATURES))
    """Features left out: the calendar ones are a function of the timestamp, so their "drift" only says
    which hours the regime-matched rows cover."""


def monitored_features(exclude: list[str]) -> list[str]:
    unknown = sorted(set(exclude) - set(NAMES))
    if unknown:
        raise Failure(f"exclude: {unknown} are not features (known: {list(NAMES)})")
    return [n for n in NAMES if n not in exclude]


def bar_regimes(table: pd.DataFrame, bars: pd.DataFrame) -> list[str]:
    """The champion detector's regime of every feature row, matched on the bar's timestamp."""
    by_time = pd.Series(champion_regimes(bars), index=pd.DatetimeIndex(bars[TIME]))
    matched = table["event_timestamp"].map(by_time)
    if matched.isna().any():
        raise Failure(f"{int(matched.isna().sum())} feature rows have no bar: drift needs bar-based features")
    return [str(r) for r in matched]


@asset(
    name=ASSET,
    group_name=GROUP,
    deps=[offline_features, regime_model],
    check_specs=[AssetCheckSpec(SHARE_CHECK, asset=ASSET, description="Share of drifted features below the limit.")],
    kinds={"evidently", "mlflow"},
)
def feature_drift_report(
    context: AssetExecutionContext,
    config: DriftReportConfig,
    market_data: MarketDataResource,
    feature_store: FeatureStoreResource,
    mlflow: MlflowResource,
) -> MaterializeResult:
    """Evidently drift of the symbol's latest feature window vs its training rows in the same regimes."""
    path = Path(feature_store.offline_root) / f"{config.symbol}.parquet"
    if not path.exists():
        raise Failure(f"no offline features for {config.symbol} at {path}: materialize offline_features first")
    table = pd.read_parquet(path)
    mlflow.activate()
    regimes = bar_regimes(table, market_data.store().read_curated(DataKind.BARS, config.symbol))
    inputs = split_reference_window(table[monitored_features(config.exclude)], regimes, config.window_rows)
    drift_config = DriftConfig(min_reference_rows=config.min_reference_rows)
    with tempfile.TemporaryDirectory(prefix="rtopt-drift-") as tmp:
        try:
            outcome = drift_report(*inputs, Path(tmp), drift_config)
        except DriftReportError as exc:
            raise Failure(f"{config.symbol}: drift report failed, no verdict: {exc}") from exc
        logged = log_drift_run(outcome, config.symbol, config.window_rows, mlflow.experiment, mlflow.artifact_root)
    context.log.info(f"{config.symbol}: {outcome.reason}; drifted={outcome.drifted}")
    return MaterializeResult(
        metadata=_metadata(outcome, config.symbol, logged.run_id, logged.report_uri),
        check_results=[_share_check(outcome, drift_config)],
    )


def _metadata(outcome: DriftOutcome, symbol: str, run_id: str, report_uri: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "drifted": outcome.drifted,
        "drift_share": outcome.share,
        "drift_reason": outcome.reason,
        "drift_scores": MetadataValue.json(outcome.scores),
        "drifted_features": MetadataValue.json(list(outcome.drifted_features)),
        "regimes": MetadataValue.json(outcome.regimes),
        "unseen_regimes": MetadataValue.json(outcome.unseen_regimes),
        "reference_rows": outcome.reference_rows,
        "current_rows": outcome.current_rows,
        "method": f"{outcome.method} >= {outcome.threshold}",
        "mlflow_run_id": run_id,
        "report": MetadataValue.url(report_uri),
    }


def _share_check(outcome: DriftOutcome, config: DriftConfig) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=SHARE_CHECK,
        passed=outcome.share < config.drift_share,
        severity=AssetCheckSeverity.WARN,
        metadata={"drift_share": outcome.share, "limit": config.drift_share},
    )


drift_assets = [feature_drift_report]
