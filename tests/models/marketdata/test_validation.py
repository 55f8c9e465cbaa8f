"""Hand-made files with one kind of bad row each: the right reason, the right line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.marketdata.ingest import load_bid_ask, load_file
from models.marketdata.loaders import LoaderError
from models.marketdata.schema import TIME, DataKind
from models.marketdata.timeparse import TimeFormatError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2024-01-02 00:00:00,10,11,9,10.5,100",
    "2024-01-02 00:01:00,10.5,11,10,10.8,120",
]


def write(tmp_path: Path, body: list[str], header: str = HEADER, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n".join(body) + "\n")
    return path


BAD_BARS = [
    ("2024-01-02 00:02:00,nan,11,9,10,1", "nan_or_inf"),
    ("2024-01-02 00:02:00,10,inf,9,10,1", "nan_or_inf"),
    ("2024-01-02 00:02:00,0,11,9,10,1", "non_positive_price"),
    ("2024-01-02 00:02:00,10,11,-9,10,1", "non_positive_price"),
    ("2024-01-02 00:02:00,10,9,11,10,1", "high_below_low"),
    ("2024-01-02 00:02:00,10,11,9,12,1", "close_outside_range"),
    ("2024-01-02 00:02:00,8,11,9,10,1", "open_outside_range"),
    ("2024-01-02 00:02:00,10,11,9,10,-1", "negative_size"),
    ("2024-01-02 00:02:00,10,eleven,9,10,1", "unparseable_number"),
    ("2024-01-02 00:02:00,10,,9,10,1", "missing_value"),
    ("not-a-time,10,11,9,10,1", "unparseable_timestamp"),
    ("2024-01-02 00:02:00,10,11,9", "unparseable_line"),
    ("2024-01-02 00:01:00,10,11,9,10,1", "duplicate"),
    ("2024-01-02 00:00:30,10,11,9,10,1", "out_of_order"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_BARS)
def test_load_file_given_one_bad_bar_returns_reason_and_line(tmp_path: Path, row: str, reason: str) -> None:
    path = write(tmp_path, [*GOOD, row, "2024-01-02 00:03:00,10.8,11.2,10.7,11,90"])

    result = load_file(path, DataKind.BARS)

    assert result.accepted_count == 3
    assert result.rejects[["_line", "reason"]].to_dict("records") == [{"_line": 4, "reason": reason}]
    assert result.rejects["_raw"].iloc[0] == row


def test_load_file_given_good_rows_leaves_them_unaltered(tmp_path: Path) -> None:
    path = write(tmp_path, [*GOOD, "2024-01-02 00:02:00,10,11,9,12,1"])

    result = load_file(path, DataKind.BARS)

    assert result.frame["close"].tolist() == [10.5, 10.8]
    assert result.frame[TIME].tolist() == [
        pd.Timestamp("2024-01-02 00:00:00", tz="UTC"),
        pd.Timestamp("2024-01-02 00:01:00", tz="UTC"),
    ]


def test_load_file_given_crossed_quote_tick_returns_crossed_quote(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ["20240102 100000000,1.1000,1.1002,0", "20240102 100000500,1.1005,1.1001,0"],
        header="",
        name="ticks.csv",
    )

    result = load_file(path, DataKind.QUOTES)

    assert result.accepted_count == 1
    assert result.rejects["reason"].tolist() == ["crossed_quote"]
    assert result.rejects["_line"].tolist() == [2]


def test_load_file_given_same_timestamp_quotes_keeps_both_but_drops_exact_repeat(tmp_path: Path) -> None:
    body = ["2024-01-02T10:00:00Z,1.10,1.11", "2024-01-02T10:00:00Z,1.10,1.12", "2024-01-02T10:00:00Z,1.10,1.12"]
    path = write(tmp_path, body, header="time,Bid,ASK\n", name="q.csv")

    result = load_file(path, DataKind.QUOTES)

    assert result.accepted_count == 2
    assert result.rejects[["_line", "reason"]].to_dict("records") == [{"_line": 4, "reason": "duplicate"}]


def test_load_file_given_uppercase_names_and_unnamed_time_column_reads_bars(tmp_path: Path) -> None:
    path = tmp_path / "upper.csv"
    path.write_text(",Open,HIGH,low,Close,Volume\n2024-01-02 00:00:00,10,11,9,10.5,100\n")

    result = load_file(path, DataKind.BARS)

    assert result.accepted_count == 1
    assert list(result.frame.columns) == [TIME, "open", "high", "low", "close", "volume"]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("dayfirst", "03/04/2024 10:00", "2024-04-03 10:00"),
        ("monthfirst", "03/04/2024 10:00", "2024-03-04 10:00"),
        ("%d.%m.%Y %H:%M", "03.04.2024 10:00", "2024-04-03 10:00"),
        ("compact", "20240403 100000250", "2024-04-03 10:00:00.250"),
        ("unix_ms", "1712138400000", "2024-04-03 10:00"),
    ],
)
def test_load_file_given_stated_time_format_parses_it(tmp_path: Path, fmt: str, text: str, expected: str) -> None:
    path = write(tmp_path, [f"{text},10,11,9,10.5,100"], header="date,open,high,low,close,volume\n")

    result = load_file(path, DataKind.BARS, fmt)

    assert result.frame[TIME].iloc[0] == pd.Timestamp(expected, tz="UTC")


def test_load_file_given_ambiguous_slash_dates_raises_asking_for_format(tmp_path: Path) -> None:
    path = write(tmp_path, ["03/04/2024 10:00,10,11,9,10.5,100"], header="date,open,high,low,close,volume\n")

    with pytest.raises(TimeFormatError, match="dayfirst"):
        load_file(path, DataKind.BARS)


def test_load_file_given_day_above_twelve_detects_dayfirst(tmp_path: Path) -> None:
    body = ["03/04/2024 10:00,10,11,9,10.5,100", "25/04/2024 10:00,10,11,9,10.5,100"]
    path = write(tmp_path, body, header="date,open,high,low,close,volume\n")

    result = load_file(path, DataKind.BARS)

    assert result.frame[TIME].dt.month.tolist() == [4, 4]


def test_load_file_given_offset_timestamps_converts_to_utc(tmp_path: Path) -> None:
    path = write(tmp_path, ["2024-01-02T01:00:00+01:00,10,11,9,10.5,100"])

    result = load_file(path, DataKind.BARS)

    assert result.frame[TIME].iloc[0] == pd.Timestamp("2024-01-02 00:00", tz="UTC")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"timestamp,open,high,low,close\n", "no rows"),
        (b"\x00\x01\x02binary", "binary"),
        (b"2024-01-02,1,2\n", "headerless layouts"),
        (b"timestamp,price\n2024-01-02,1\n", "missing required"),
        (b"foo,open,high,low,close\nx,1,2,0.5,1\n", "no time column"),
    ],
)
def test_load_file_given_unusable_file_raises_loader_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    with pytest.raises(LoaderError, match=message):
        load_file(path, DataKind.BARS)


def test_load_file_given_missing_file_raises_loader_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="no such file"):
        load_file(tmp_path / "nope.csv", DataKind.BARS)


def test_load_file_given_parquet_with_nan_price_rejects_row_with_reason(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02 00:00", "2024-01-02 00:01"], utc=True),
            "price": [100.0, float("nan")],
            "quantity": [1.0, 2.0],
            "trade_id": [1, 2],
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")

    result = load_file(tmp_path / "t.parquet", DataKind.TRADES)

    assert result.accepted_count == 1
    assert result.rejects[["_line", "reason"]].to_dict("records") == [{"_line": 2, "reason": "nan_or_inf"}]


def test_load_bid_ask_given_minute_on_one_side_rejects_missing_other_side(tmp_path: Path) -> None:
    bid = write(tmp_path, [*GOOD, "2024-01-02 00:02:00,10,11,9,10,1"], name="bid.csv")
    ask = write(tmp_path, ["2024-01-02 00:00:00,10.1,11.1,9.1,10.6,100", "2024-01-02 00:01:00,10.6,11.1,10.1,10.9,120"])
    ask.rename(tmp_path / "ask.csv")

    result = load_bid_ask(bid, tmp_path / "ask.csv")

    assert result.accepted_count == 2
    assert result.rejects[["_line", "reason"]].to_dict("records") == [{"_line": 4, "reason": "missing_other_side"}]
    assert result.frame["spread"].round(10).tolist() == [0.1, 0.1]
    assert result.frame["close"].tolist() == [10.55, 10.850000000000001]
