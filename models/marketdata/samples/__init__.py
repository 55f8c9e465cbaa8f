"""Real market data shipped with rtopt, so the demo runs on a machine with nothing else.

Slices of the public test data of nautilus_trader (tests/test_data): one week of BTC-PERP
1-minute bars, one week of GBP/USD bid and ask bars, and the small tick, trade, quote and
order-book files whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.marketdata.ingest import LoadResult, load_bid_ask, load_file
from models.marketdata.schema import DataKind

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, kw_only=True, slots=True)
class SampleDataset:
    """One shipped dataset: what it is, where it lies, how to read it."""

    symbol: str
    kind: DataKind
    files: tuple[str, ...]
    """File names inside the samples folder; two files for bars mean bid then ask."""
    time_format: str | None
    description: str

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(SAMPLES_DIR / f for f in self.files)

    def load(self) -> LoadResult:
        if len(self.paths) == 2:
            return load_bid_ask(*self.paths, time_format=self.time_format)
        return load_file(self.paths[0], self.kind, self.time_format)


SAMPLES: tuple[SampleDataset, ...] = (
    SampleDataset(
        symbol="BTC-PERP",
        kind=DataKind.BARS,
        files=("btc_perp_1m_2022-01-03_09.csv.gz",),
        time_format=None,
        description="BTC-PERP perpetual future, 1-minute bars, 2022-01-03 to 2022-01-09",
    ),
    SampleDataset(
        symbol="GBPUSD",
        kind=DataKind.BARS,
        files=("gbpusd_1m_bid_2012-02-05_11.csv.gz", "gbpusd_1m_ask_2012-02-05_11.csv.gz"),
        time_format=None,
        description="GBP/USD spot, 1-minute bid and ask bars joined with a spread, 2012-02-05 to 11",
    ),
    SampleDataset(
        symbol="EURUSD",
        kind=DataKind.QUOTES,
        files=("eurusd_quote_ticks_2020-01-01.csv.gz",),
        time_format="compact",
        description="EUR/USD top-of-book quote ticks, 2020-01-01 17:00 to 23:00",
    ),
    SampleDataset(
        symbol="BTCUSDT",
        kind=DataKind.TRADES,
        files=("binance_btcusdt_trades.parquet",),
        time_format=None,
        description="Binance BTC/USDT spot trades, 2021-01-08",
    ),
    SampleDataset(
        symbol="BTCUSDT",
        kind=DataKind.QUOTES,
        files=("binance_btcusdt_quotes.parquet",),
        time_format=None,
        description="Binance BTC/USDT best bid/ask with sizes, 2021-01-08",
    ),
    SampleDataset(
        symbol="BTCUSDT-FUT",
        kind=DataKind.BOOK,
        files=("binance_futures_btcusdt_book25.csv.gz",),
        time_format="unix_us",
        description="Binance futures BTCUSDT 25-level order-book snapshots, 2020-09-01",
    ),
)
