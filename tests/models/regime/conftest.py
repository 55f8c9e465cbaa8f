"""Detectors fitted once per session: the protocol fit (quotes), its quote-free twin, and a small fit."""

from __future__ import annotations

import pandas as pd
import pytest

from models.marketdata.samples import SAMPLES
from models.regime import (
    PROTOCOL_BARS,
    TRAIN_SEEDS,
    RegimeConfig,
    RegimeDetector,
    fit_regime_detector,
    simulated_frames,
)

SMALL_SEEDS = (0, 1)
SMALL_BARS = 4_000


@pytest.fixture(scope="session")
def train_frames() -> list[pd.DataFrame]:
    return simulated_frames(TRAIN_SEEDS, PROTOCOL_BARS)


@pytest.fixture(scope="session")
def protocol_detector(train_frames: list[pd.DataFrame]) -> RegimeDetector:
    """The default config on the protocol's training seeds: the detector the accuracy claim is about."""
    return fit_regime_detector(train_frames, RegimeConfig())


@pytest.fixture(scope="session")
def quote_free_detector(train_frames: list[pd.DataFrame]) -> RegimeDetector:
    """The same fit without the spread inputs, for bars without bid and ask (the BTC-PERP sample)."""
    return fit_regime_detector(train_frames, RegimeConfig(use_quotes=False))


@pytest.fixture(scope="session")
def small_frames() -> list[pd.DataFrame]:
    return simulated_frames(SMALL_SEEDS, SMALL_BARS)


@pytest.fixture(scope="session")
def small_config() -> RegimeConfig:
    return RegimeConfig(row_stride=4)


@pytest.fixture(scope="session")
def small_detector(small_frames: list[pd.DataFrame], small_config: RegimeConfig) -> RegimeDetector:
    return fit_regime_detector(small_frames, small_config)


@pytest.fixture(scope="session")
def btc_perp_bars() -> pd.DataFrame:
    """The shipped BTC-PERP 1-minute bars (OHLCV, no quotes), 2022-01-03 to 09."""
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    return sample.load().frame
