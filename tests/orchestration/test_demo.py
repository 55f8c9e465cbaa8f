"""`make demo` end to end: shipped real data ingested, platform_job run per symbol, results in Dagster."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from dagster import AssetKey, DagsterInstance

from models.marketdata.samples import SAMPLES
from orchestration.demo import run_demo
from orchestration.settings import load_settings, prepare


@pytest.mark.expensive
def test_run_demo_given_fresh_rtopt_home_returns_zero_and_materializes_every_shipped_symbol(
    rtopt_home: Path, definitions_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """``definitions_module``: run_demo's job binds its store from the definitions' own settings, so they
    must be resolved under this test's RTOPT_HOME too, as they are in a fresh `rtopt demo` process."""
    settings = load_settings()
    prepare(settings)

    code = run_demo(settings)

    out = capsys.readouterr().out
    assert code == 0, out
    for symbol in {s.symbol for s in SAMPLES}:
        assert f"    {symbol} " in out
    assert "FAILED" not in out
    assert "=FAIL" not in out
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("symbols") == ["BTC-PERP", "GBPUSD", "EURUSD", "BTCUSDT", "BTCUSDT-FUT"]
        assert instance.get_materialized_partitions(AssetKey("market_bars")) == {"BTC-PERP", "GBPUSD"}
        assert instance.get_materialized_partitions(AssetKey("market_quotes")) == {"EURUSD", "BTCUSDT"}
        assert instance.get_materialized_partitions(AssetKey("market_trades")) == {"BTCUSDT"}
        assert instance.get_materialized_partitions(AssetKey("market_book")) == {"BTCUSDT-FUT"}
    assert (settings.market_data_root / "curated" / "bars" / "GBPUSD.parquet").is_file()
