"""The market-data assets: materialize() on a real store in tmp_path, golden values on shipped real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetsDefinition, DagsterInstance, ExecuteInProcessResult, materialize

from assets.market_data import asset_name, checks_for, market_data_assets
from assets.resources import MarketDataResource
from models.marketdata.ingest import LoadResult, load_bid_ask, load_file
from models.marketdata.samples import SAMPLES, SampleDataset
from models.marketdata.schema import TIME, DataKind
from models.marketdata.store import MarketDataStore

START = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def _asset(kind: DataKind) -> AssetsDefinition:
    (found,) = [a for a in market_data_assets if a.key.to_user_string() == asset_name(kind)]
    return found


def _sample(symbol: str, kind: DataKind) -> SampleDataset:
    (found,) = [s for s in SAMPLES if s.symbol == symbol and s.kind is kind]
    return found


def _materialize(root: Path, kind: DataKind, symbol: str, max_gap_minutes: float = 60.0) -> ExecuteInProcessResult:
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", [symbol])
        return materialize(
            [_asset(kind)],
            partition_key=symbol,
            resources={"market_data": MarketDataResource(root=str(root), max_gap_minutes=max_gap_minutes)},
            instance=instance,
            raise_on_error=False,
        )


def _metadata(result: ExecuteInProcessResult, kind: DataKind) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node(asset_name(kind))
    return {name: value.value for name, value in event.metadata.items()}


def _checks(result: ExecuteInProcessResult) -> dict[str, tuple[bool, AssetCheckSeverity, dict[str, Any]]]:
    return {
        e.check_name: (e.passed, e.severity, {name: value.value for name, value in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }


def _write_bars_csv(path: Path, minutes: list[int], closes: list[float]) -> Path:
    """One bar per entry of ``minutes`` (offsets from START); OHLC bracket the close by 0.5."""
    lines = ["timestamp,open,high,low,close,volume"]
    for minute, close in zip(minutes, closes, strict=True):
        stamp = (START + timedelta(minutes=minute)).isoformat()
        lines.append(f"{stamp},{close},{close + 0.5},{close - 0.5},{close},1.0")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("symbol", "kind", "rows", "rejects"),
    [
        ("BTC-PERP", DataKind.BARS, 10_080, 0),
        ("GBPUSD", DataKind.BARS, 7_046, 114),
        ("EURUSD", DataKind.QUOTES, 9_500, 0),
    ],
)
def test_materialize_given_shipped_sample_returns_golden_rows_and_passing_checks(
    tmp_path: Path, symbol: str, kind: DataKind, rows: int, rejects: int
) -> None:
    store = MarketDataStore(tmp_path)
    sample = _sample(symbol, kind)
    manifest = store.write_batch(symbol, sample.load(), sample.time_format)

    result = _materialize(tmp_path, kind, symbol)

    assert result.success
    metadata = _metadata(result, kind)
    assert (metadata["rows"], metadata["rejects"], metadata["gaps"]) == (rows, rejects, 0)
    assert (metadata["first"], metadata["last"]) == (manifest.first, manifest.last)
    checks = _checks(result)
    assert set(checks) == set(checks_for(kind))
    assert all(passed for passed, _, _ in checks.values())
    curated = store.read_curated(kind, symbol)
    assert metadata["path"] == str(store.curated_path(kind, symbol))
    pd.testing.assert_frame_equal(curated, pd.read_parquet(manifest.data_path))


def test_materialize_given_overlapping_batches_returns_union_and_counts_conflicts(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    first = _write_bars_csv(tmp_path / "a.csv", list(range(10)), [100.0 + m for m in range(10)])
    second_closes = [100.0 + m for m in range(5, 15)]
    second_closes[2] = 50.0  # minute 7 disagrees with the first batch
    second = _write_bars_csv(tmp_path / "b.csv", list(range(5, 15)), second_closes)
    for path in (first, second):
        store.write_batch("TEST", load_file(path, DataKind.BARS), None)

    result = _materialize(tmp_path, DataKind.BARS, "TEST")

    assert result.success
    metadata = _metadata(result, DataKind.BARS)
    assert (metadata["rows"], metadata["rejects"]) == (15, 1)
    curated = store.read_curated(DataKind.BARS, "TEST")
    minute_7 = curated[curated[TIME] == pd.Timestamp(START + timedelta(minutes=7))]
    assert minute_7["close"].tolist() == [107.0]


def test_materialize_given_bars_with_three_hour_gap_returns_failed_warn_gap_check(tmp_path: Path) -> None:
    minutes = [*range(10), *range(190, 200)]
    path = _write_bars_csv(tmp_path / "gap.csv", minutes, [100.0] * len(minutes))
    MarketDataStore(tmp_path).write_batch("GAPPY", load_file(path, DataKind.BARS), None)

    result = _materialize(tmp_path, DataKind.BARS, "GAPPY", max_gap_minutes=60.0)

    assert result.success, "a WARN check must not fail the run"
    passed, severity, metadata = _checks(result)["no_long_gaps"]
    assert not passed
    assert severity is AssetCheckSeverity.WARN
    assert metadata["gaps"] == 1
    assert metadata["longest"] == [
        f"{(START + timedelta(minutes=9)).isoformat()} -> {(START + timedelta(minutes=190)).isoformat()}"
    ]
    assert _metadata(result, DataKind.BARS)["longest_gap_minutes"] == 181.0
    assert _checks(result)["time_monotonic"][0]
    assert _checks(result)["no_crossed_quotes"][0]


def test_materialize_given_crossed_row_that_bypassed_validation_returns_failed_crossed_check(tmp_path: Path) -> None:
    """The check guards the curated table against batches written without the loader's validation.

    ``write_batch`` stores whatever LoadResult it is given (a future loader, a hand-made fix-up),
    so a hand-built result is the honest way to land a crossed quote in the store.
    """
    source = tmp_path / "quotes.csv"
    source.write_text("hand-made batch\n")
    frame = pd.DataFrame(
        {
            TIME: pd.to_datetime([START, START + timedelta(seconds=1), START + timedelta(seconds=2)]),
            "bid": [1.1000, 1.1010, 1.1002],
            "ask": [1.1002, 1.1005, 1.1004],
        }
    )
    no_rejects = pd.DataFrame({"_line": pd.Series(dtype="int64"), "reason": [], "detail": [], "_raw": []})
    lines = pd.Series([1, 2, 3], dtype="int64")
    MarketDataStore(tmp_path).write_batch(
        "CROSSED", LoadResult(DataKind.QUOTES, frame, no_rejects, (source,), lines), None
    )

    result = _materialize(tmp_path, DataKind.QUOTES, "CROSSED")

    passed, severity, metadata = _checks(result)["no_crossed_quotes"]
    assert not passed
    assert severity is AssetCheckSeverity.ERROR
    assert metadata["crossed_rows"] == 1


def test_materialize_given_partition_without_ingested_data_returns_failure_naming_rtopt_ingest(
    tmp_path: Path,
) -> None:
    result = _materialize(tmp_path, DataKind.BARS, "NODATA")

    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    assert "no bars ingested for NODATA" in message
    assert "rtopt ingest FILE --symbol NODATA --kind bars" in message
    assert not MarketDataStore(tmp_path).curated_path(DataKind.BARS, "NODATA").exists()


def test_materialize_given_real_gbpusd_february_2012_returns_golden_rows_and_four_weekend_gaps(
    tmp_path: Path, shared_data: Path
) -> None:
    store = MarketDataStore(tmp_path)
    joined = load_bid_ask(shared_data / "gbpusd_1m_bid_2012-02.csv", shared_data / "gbpusd_1m_ask_2012-02.csv")
    store.write_batch("GBPUSD", joined, None)

    result = _materialize(tmp_path, DataKind.BARS, "GBPUSD")

    assert result.success
    metadata = _metadata(result, DataKind.BARS)
    assert (metadata["rows"], metadata["rejects"], metadata["gaps"]) == (29_770, 347, 4)
    assert metadata["longest_gap_minutes"] == 2883.0  # Fri 2012-02-10 21:58 to Sun 2012-02-12 22:01
    passed, severity, gaps = _checks(result)["no_long_gaps"]
    assert (passed, severity, gaps["gaps"]) == (False, AssetCheckSeverity.WARN, 4)
    assert gaps["longest"][0] == "2012-02-10T21:58:00+00:00 -> 2012-02-12T22:01:00+00:00"
    assert _checks(result)["no_crossed_quotes"][2]["crossed_rows"] == 0
