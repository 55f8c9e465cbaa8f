"""The Parquet store: idempotent batches, rejects files, merges across batches."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.marketdata.ingest import load_file
from models.marketdata.schema import DataKind
from models.marketdata.store import MarketDataStore, check_symbol

HEADER = "timestamp,open,high,low,close\n"


def bars_file(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_write_batch_given_same_file_twice_returns_same_batch(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "store")
    path = bars_file(tmp_path, "a.csv", ["2024-01-02 00:00,1,2,1,1.5", "2024-01-02 00:01,1,2,1,9"])

    first = store.write_batch("BTC-PERP", load_file(path, DataKind.BARS), None)
    second = store.write_batch("BTC-PERP", load_file(path, DataKind.BARS), None)

    assert first.batch_id == second.batch_id
    assert len(store.manifests(DataKind.BARS, "BTC-PERP")) == 1
    rejects = pd.read_csv(first.rejects_path)
    assert rejects[["line", "reason"]].to_dict("records") == [{"line": 3, "reason": "close_outside_range"}]
    assert (first.accepted, first.rejected) == (1, 1)


def test_curate_given_overlapping_batches_merges_and_reports_conflicts(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "store")
    a = bars_file(tmp_path, "a.csv", ["2024-01-02 00:00,1,2,1,1.5", "2024-01-02 00:01,1,2,1,1.6"])
    b = bars_file(tmp_path, "b.csv", ["2024-01-02 00:01,1,2,1,1.6", "2024-01-02 00:02,1,2,1,1.7"])
    c = bars_file(tmp_path, "c.csv", ["2024-01-02 00:02,1,2,1,1.9"])
    for path in (a, b, c):
        store.write_batch("X", load_file(path, DataKind.BARS), None)

    curated = store.curate(DataKind.BARS, "X")

    assert curated.frame["close"].tolist() == [1.5, 1.6, 1.7]
    assert curated.conflicts["reason"].tolist() == ["duplicate"]


def test_curate_given_no_batches_raises_pointing_to_ingest(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="rtopt ingest"):
        MarketDataStore(tmp_path).curate(DataKind.TRADES, "X")


@pytest.mark.parametrize("bad", ["", "BTC/USDT", "../etc", "a" * 40, "-X"])
def test_check_symbol_given_unsafe_name_raises_naming_symbol(bad: str) -> None:
    with pytest.raises(ValueError, match="symbol"):
        check_symbol(bad)
