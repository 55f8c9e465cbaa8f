"""Strategy arms: small pure classes from a feature mapping (and their own state) to an immutable ``Signal``.

Arms: ``Momentum``, ``MeanReversion``, ``MarketMaking`` (Avellaneda-Stoikov quotes around the microprice),
``Pairs``, ``CrossVenueArbitrage`` and ``VolatilityBreakout``; each has a frozen keyword-only config.
``STRATEGIES`` lists the kinds and ``build_strategies`` builds the arms the meta-controller chooses from;
``SignalBank`` runs a tuple of arms per tick in one compiled call (the engine's path).
"""

from models.strategies.bank import SignalBank
from models.strategies.base import JSONScalar, Quotes, Signal, StateDict, Strategy, hysteresis_side
from models.strategies.directional import (
    MeanReversion,
    MeanReversionConfig,
    Momentum,
    MomentumConfig,
    VolatilityBreakout,
    VolatilityBreakoutConfig,
)
from models.strategies.market_making import MarketMaking, MarketMakingConfig
from models.strategies.registry import STRATEGIES, StrategyConfig, StrategySpec, build_strategies, spec_for
from models.strategies.relative_value import CrossVenueArbitrage, CrossVenueArbitrageConfig, Pairs, PairsConfig

__all__ = [
    "STRATEGIES",
    "CrossVenueArbitrage",
    "CrossVenueArbitrageConfig",
    "JSONScalar",
    "MarketMaking",
    "MarketMakingConfig",
    "MeanReversion",
    "MeanReversionConfig",
    "Momentum",
    "MomentumConfig",
    "Pairs",
    "PairsConfig",
    "Quotes",
    "Signal",
    "SignalBank",
    "StateDict",
    "Strategy",
    "StrategyConfig",
    "StrategySpec",
    "VolatilityBreakout",
    "VolatilityBreakoutConfig",
    "build_strategies",
    "hysteresis_side",
    "spec_for",
]
