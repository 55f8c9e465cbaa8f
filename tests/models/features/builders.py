"""Hand-made and seeded synthetic event frames for the feature tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.features import FeatureConfig, compute_features, stream_features
from models.features.definitions import DEFAULT_CONFIG
from models.seeding import make_rng

Column = Sequence[float] | np.ndarray | None

# Parity tolerance. rtol is the contract; atol only absorbs rounding residue (~1e-17) of values that
# are mathematically 0, e.g. ma_cross when SMA_10 equals SMA_30, or a z-score of a close equal to the mean.
RTOL = 1e-9
ATOL = 1e-12


def event_frame(
    close: Sequence[float],
    *,
    start: str = "2024-01-02T00:00:00Z",
    step: str = "1min",
    **columns: Column,
) -> pd.DataFrame:
    """A canonical event frame; columns given as None are left out."""
    frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=len(close), freq=step, tz="UTC")})
    frame["close"] = np.asarray(close, dtype=np.float64)
    for name, values in columns.items():
        if values is not None:
            frame[name] = np.asarray(values, dtype=np.float64)
    return frame


def synthetic_events(n: int, seed: int) -> pd.DataFrame:
    """A seeded random walk with every event field present: OHLC, volume (some zero), quotes and sizes."""
    rng = make_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    close = np.round(close, 2)  # a tick grid, so flat stretches and repeated values occur
    spread = np.round(rng.uniform(0.01, 0.05, n), 2)
    volume = np.where(rng.uniform(size=n) < 0.1, 0.0, rng.lognormal(10.0, 1.0, n))
    return event_frame(
        close,
        high=close + rng.uniform(0.0, 0.1, n),
        low=close - rng.uniform(0.0, 0.1, n),
        volume=volume,
        bid=close - spread / 2,
        ask=close + spread / 2,
        bid_size=rng.uniform(0.1, 5.0, n),
        ask_size=rng.uniform(0.1, 5.0, n),
    )


def both_engines(events: pd.DataFrame, config: FeatureConfig = DEFAULT_CONFIG) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(batch, incremental) features of the same events."""
    return compute_features(events, config), stream_features(events, config)
