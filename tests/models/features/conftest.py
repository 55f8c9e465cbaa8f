"""Real datasets from ../shared/data as canonical event frames, and both engines' features on them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.features import compute_features, events_frame, stream_features
from models.marketdata.ingest import load_bid_ask, load_file
from models.marketdata.schema import DataKind

REAL_DATASETS = ("btc_perp_1m", "gbpusd_1m_bid_ask", "eurusd_quote_ticks", "btcusdt_quotes", "btcusdt_trades")


def _load(shared_data: Path, name: str) -> pd.DataFrame:
    if name == "btc_perp_1m":
        return events_frame(load_file(shared_data / "btc_perp_1m_2022-01.csv", DataKind.BARS).frame, "bars")
    if name == "gbpusd_1m_bid_ask":
        joined = load_bid_ask(shared_data / "gbpusd_1m_bid_2012-02.csv", shared_data / "gbpusd_1m_ask_2012-02.csv")
        return events_frame(joined.frame, "bars")
    if name == "eurusd_quote_ticks":
        ticks = load_file(shared_data / "eurusd_quote_ticks_2020-01.csv", DataKind.QUOTES, "compact")
        return events_frame(ticks.frame, "quotes")
    if name == "btcusdt_quotes":
        return events_frame(load_file(shared_data / "binance_btcusdt_quotes.parquet", DataKind.QUOTES).frame, "quotes")
    return events_frame(load_file(shared_data / "binance_btcusdt_trades.parquet", DataKind.TRADES).frame, "trades")


@pytest.fixture(scope="session")
def real_events(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {name: _load(shared_data, name) for name in REAL_DATASETS}


@pytest.fixture(scope="session")
def real_features(real_events: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per dataset: (batch, incremental) feature frames, computed once for the session."""
    return {name: (compute_features(ev), stream_features(ev)) for name, ev in real_events.items()}


@pytest.fixture(scope="session")
def gbpusd_sides(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    bid = load_file(shared_data / "gbpusd_1m_bid_2012-02.csv", DataKind.BARS).frame
    ask = load_file(shared_data / "gbpusd_1m_ask_2012-02.csv", DataKind.BARS).frame
    return events_frame(bid, "bars"), events_frame(ask, "bars")
