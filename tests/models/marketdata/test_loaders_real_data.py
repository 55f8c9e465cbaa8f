"""Golden counts: every file in ../shared/data loads, with the rows and rejects it really has."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.marketdata.ingest import load_bid_ask, load_file
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import TIME, DataKind

GOLDEN = [
    ("btc_perp_1m_2022-01.csv", DataKind.BARS, None, 45_031, "2021-12-31T23:01:00+00:00", "2022-02-01T05:31:00+00:00"),
    (
        "gbpusd_1m_bid_2012-02.csv",
        DataKind.BARS,
        None,
        30_117,
        "2012-02-01T00:00:00+00:00",
        "2012-03-01T00:00:00+00:00",
    ),
    (
        "gbpusd_1m_ask_2012-02.csv",
        DataKind.BARS,
        None,
        30_117,
        "2012-02-01T00:00:00+00:00",
        "2012-03-01T00:00:00+00:00",
    ),
    (
        "eurusd_quote_ticks_2020-01.csv",
        DataKind.QUOTES,
        "compact",
        9_500,
        "2020-01-01T17:00:00.065000+00:00",
        "2020-01-01T23:00:52.125000+00:00",
    ),
    (
        "binance_btcusdt_trades.parquet",
        DataKind.TRADES,
        None,
        2_001,
        "2021-01-08T00:00:00.278000+00:00",
        "2021-01-08T00:00:46.355000+00:00",
    ),
    (
        "binance_btcusdt_quotes.parquet",
        DataKind.QUOTES,
        None,
        451,
        "2021-01-08T00:00:01.076000+00:00",
        "2021-01-08T00:00:46.674000+00:00",
    ),
    (
        "binance_futures_btcusdt_book25.csv",
        DataKind.BOOK,
        None,
        10,
        "2020-09-01T00:00:03.696000+00:00",
        "2020-09-01T00:00:04.005000+00:00",
    ),
]


@pytest.mark.parametrize(("name", "kind", "fmt", "rows", "first", "last"), GOLDEN)
def test_load_file_given_shared_file_returns_golden_counts(
    shared_data: Path, name: str, kind: DataKind, fmt: str | None, rows: int, first: str, last: str
) -> None:
    result = load_file(shared_data / name, kind, fmt)

    assert result.accepted_count == rows
    assert result.rejected_count == 0
    ts = result.frame[TIME]
    assert str(ts.dtype) == "datetime64[ns, UTC]"
    assert (ts.iloc[0].isoformat(), ts.iloc[-1].isoformat()) == (first, last)


def test_load_file_given_compact_ticks_without_format_detects_compact(shared_data: Path) -> None:
    auto = load_file(shared_data / "eurusd_quote_ticks_2020-01.csv", DataKind.QUOTES)
    stated = load_file(shared_data / "eurusd_quote_ticks_2020-01.csv", DataKind.QUOTES, "compact")

    pd.testing.assert_frame_equal(auto.frame, stated.frame)
    assert list(auto.frame.columns) == [TIME, "bid", "ask", "volume"]


def test_load_file_given_btc_perp_keeps_values_unaltered(shared_data: Path) -> None:
    result = load_file(shared_data / "btc_perp_1m_2022-01.csv", DataKind.BARS)
    raw = pd.read_csv(shared_data / "btc_perp_1m_2022-01.csv")

    for column in ("open", "high", "low", "close", "volume"):
        assert (result.frame[column].to_numpy() == raw[column].to_numpy()).all()


def test_load_bid_ask_given_gbpusd_month_returns_spread_and_rejects_crossed_minutes(shared_data: Path) -> None:
    result = load_bid_ask(shared_data / "gbpusd_1m_bid_2012-02.csv", shared_data / "gbpusd_1m_ask_2012-02.csv")

    # 347 real minutes close with bid above ask (checked independently with pandas below).
    bid = pd.read_csv(shared_data / "gbpusd_1m_bid_2012-02.csv")
    ask = pd.read_csv(shared_data / "gbpusd_1m_ask_2012-02.csv")
    crossed = int((bid["close"] > ask["close"]).sum())
    assert crossed == 347
    assert result.rejected_count == crossed
    assert set(result.rejects["reason"]) == {"crossed_quote"}
    assert result.accepted_count == 30_117 - crossed
    assert (result.frame["spread"] >= 0).all()
    assert (result.frame["spread"] == result.frame["ask"] - result.frame["bid"]).all()


def test_load_book_given_25_levels_returns_canonical_level_columns(shared_data: Path) -> None:
    result = load_file(shared_data / "binance_futures_btcusdt_book25.csv", DataKind.BOOK)

    assert {"bid_price_0", "ask_size_24"} <= set(result.frame.columns)
    assert (result.frame["bid_price_0"] < result.frame["ask_price_0"]).all()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s.symbol}-{s.kind}")
def test_sample_load_given_shipped_file_returns_rows_within_shared_source(sample: object) -> None:
    from models.marketdata.samples import SampleDataset

    assert isinstance(sample, SampleDataset)
    result = sample.load()

    assert result.accepted_count > 0
    assert result.frame[TIME].is_monotonic_increasing
