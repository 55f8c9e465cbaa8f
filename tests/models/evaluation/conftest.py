"""Shared fixtures: the shipped BTC-PERP sample as a replay, and the single-symbol strategy arms."""

from __future__ import annotations

import pytest

from models.env import MarketReplay, btc_perp_replay
from models.strategies import (
    CrossVenueArbitrageConfig,
    MarketMakingConfig,
    MeanReversionConfig,
    MomentumConfig,
    Strategy,
    VolatilityBreakoutConfig,
    build_strategies,
)


@pytest.fixture(scope="session")
def btc_replay() -> MarketReplay:
    """One week of BTC-PERP 1-minute bars (10,080 rows, features defined from row 60)."""
    return btc_perp_replay()


@pytest.fixture(scope="session")
def single_symbol_arms() -> tuple[Strategy, ...]:
    """Every arm that reads single-symbol data (pairs needs a second symbol); only ever run on copies."""
    return build_strategies(
        [
            MomentumConfig(),
            MeanReversionConfig(),
            MarketMakingConfig(),
            VolatilityBreakoutConfig(),
            CrossVenueArbitrageConfig(),
        ]
    )
