"""ParquetSink: the offline layout, replay idempotence across restarts, and MemorySink's plain record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.features.definitions import FEATURE_NAMES
from models.streaming.processor import FeatureRow
from serving.streaming.sinks import FeatureSink, MemorySink, ParquetSink, read_parquet_features

T0_NS = 1_704_196_800 * 10**9


def _rows(symbol: str, start: int, n: int) -> list[FeatureRow]:
    values = np.arange(start, start + n, dtype=np.float64)[:, None] + np.linspace(0, 1, len(FEATURE_NAMES))
    values[0, 3] = np.nan  # a feature still warming up
    return [FeatureRow(symbol, T0_NS + (start + i) * 10**9, f"{symbol}:{start + i:04d}", values[i]) for i in range(n)]


def test_parquet_sink_given_rows_returns_feast_layout_with_utc_timestamps(tmp_path: Path) -> None:
    rows = _rows("BTC-PERP", 0, 5)
    ParquetSink(tmp_path).write(rows)
    frame = read_parquet_features(tmp_path)
    assert list(frame.columns) == ["symbol", "event_timestamp", "event_id", *FEATURE_NAMES]
    assert isinstance(frame["event_timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(frame["event_timestamp"].dt.tz) == "UTC"
    assert frame["event_timestamp"].iloc[0] == pd.Timestamp("2024-01-02T12:00:00Z")
    assert frame[list(FEATURE_NAMES)].to_numpy().tobytes() == np.vstack([r.vector for r in rows]).tobytes()
    assert [p.name for p in (tmp_path / "BTC-PERP").iterdir()] == ["part-000000.parquet"]


def test_parquet_sink_given_replayed_rows_after_restart_returns_each_row_once(tmp_path: Path) -> None:
    first = ParquetSink(tmp_path)
    first.write(_rows("A", 0, 10) + _rows("B", 0, 4))
    restarted = ParquetSink(tmp_path)  # a new worker process: knows nothing but the files
    restarted.write(_rows("A", 5, 10) + _rows("B", 0, 4))
    frame = read_parquet_features(tmp_path)
    assert frame.groupby("symbol")["event_id"].apply(list).to_dict() == {
        "A": [f"A:{i:04d}" for i in range(15)],
        "B": [f"B:{i:04d}" for i in range(4)],
    }
    assert restarted.skipped == 5 + 4
    assert sorted(p.name for p in (tmp_path / "A").iterdir()) == ["part-000000.parquet", "part-000001.parquet"]
    assert sorted(p.name for p in (tmp_path / "B").iterdir()) == ["part-000000.parquet"], "nothing new, no part"


def test_parquet_sink_given_symbol_with_slash_returns_percent_encoded_folder(tmp_path: Path) -> None:
    ParquetSink(tmp_path).write(_rows("EUR/USD", 0, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["EUR%2FUSD"]
    assert read_parquet_features(tmp_path, "EUR/USD")["symbol"].unique().tolist() == ["EUR/USD"]


def test_parquet_sink_given_names_of_other_length_raises_naming_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="names"):
        ParquetSink(tmp_path, names=("a", "b")).write(_rows("X", 0, 1))


def test_memory_sink_given_repeated_writes_returns_every_row_in_order(tmp_path: Path) -> None:
    sink = MemorySink()
    assert isinstance(sink, FeatureSink) and isinstance(ParquetSink(tmp_path), FeatureSink)
    sink.write(_rows("X", 0, 2))
    sink.write(_rows("X", 0, 2))
    assert [r.event_id for r in sink.rows] == ["X:0000", "X:0001", "X:0000", "X:0001"] and sink.writes == 2
