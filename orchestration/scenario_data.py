"""The scenario's market data: the shipped real BTC-PERP week, the recent part with the simulator's shift injected.

The week is cut in two files, as a live feed would deliver it: the history (as recorded) and the recent
bars, rebuilt with ``models.marketdata.shift.inject_shift`` (volatility times ``vol_multiplier`` and a
drift per bar from the first recent bar on). Both go through the normal ingestion (validation, batch
manifests, the symbol partition), so the assets see nothing special.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.marketdata.samples import SAMPLES
from models.marketdata.schema import TIME
from models.marketdata.shift import SHIFTED, inject_shift
from models.marketdata.simulator import RegimeShift
from serving.decision.replay import frame_payloads


@dataclass(frozen=True, kw_only=True, slots=True)
class ShiftSpec:
    """The structural break injected into the recent bars (``RegimeShift`` fields, ``at`` from the data)."""

    recent_bars: int = 5_000
    """Bars from the end of the week that arrive after the break (the drift window reads the last of them).
    Half the week: the retraining's 60/20/20 split (``PROTOCOL_V1``) then trains on some shifted bars and
    validates on shifted bars only; with a shorter tail every shifted bar would sit in the test part."""
    vol_multiplier: float = 3.0
    drift_per_bar: float = -0.0001
    spread_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.recent_bars < 100:
            raise ValueError(f"recent_bars: must be >= 100, got {self.recent_bars}")


@dataclass(frozen=True, slots=True)
class ScenarioData:
    symbol: str
    history_file: Path
    recent_file: Path
    shift: RegimeShift
    warmup: list[dict[str, Any]]
    """The last history bars as Serve payloads: they warm the streaming features before the break."""
    recent: list[dict[str, Any]]
    """The post-shift bars as Serve payloads (event ids continue the history's)."""


def prepare_data(folder: Path, spec: ShiftSpec, symbol: str = "BTC-PERP", warmup_bars: int = 300) -> ScenarioData:
    """Write ``history.parquet`` and ``recent.parquet`` under ``folder`` and build the Serve payloads."""
    sample = next(s for s in SAMPLES if s.symbol == symbol)
    frame = sample.load().frame.sort_values(TIME, kind="stable").reset_index(drop=True)
    if spec.recent_bars + warmup_bars >= len(frame):
        raise ValueError(f"recent_bars: {spec.recent_bars} leaves no history in {len(frame)} {symbol} bars")
    cut = len(frame) - spec.recent_bars
    shift = RegimeShift(
        at=frame[TIME].iloc[cut].to_pydatetime(),
        vol_multiplier=spec.vol_multiplier,
        drift_per_bar=spec.drift_per_bar,
        spread_multiplier=spec.spread_multiplier,
    )
    shifted = inject_shift(frame, shift)
    folder.mkdir(parents=True, exist_ok=True)
    history_file, recent_file = folder / "history.parquet", folder / "recent.parquet"
    columns = [c for c in frame.columns if c != SHIFTED]
    _write(shifted.iloc[:cut][columns], history_file)
    _write(shifted.iloc[cut:][columns], recent_file)
    payloads = frame_payloads(shifted[columns], symbol)
    return ScenarioData(symbol, history_file, recent_file, shift, payloads[cut - warmup_bars : cut], payloads[cut:])


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.reset_index(drop=True).to_parquet(path, index=False)
