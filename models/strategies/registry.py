"""The strategy registry: which config builds which arm, and the default set the meta-controller chooses from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from models.strategies.base import Strategy
from models.strategies.directional import (
    MeanReversion,
    MeanReversionConfig,
    Momentum,
    MomentumConfig,
    VolatilityBreakout,
    VolatilityBreakoutConfig,
)
from models.strategies.market_making import MarketMaking, MarketMakingConfig
from models.strategies.relative_value import CrossVenueArbitrage, CrossVenueArbitrageConfig, Pairs, PairsConfig

StrategyConfig = (
    MomentumConfig
    | MeanReversionConfig
    | MarketMakingConfig
    | PairsConfig
    | CrossVenueArbitrageConfig
    | VolatilityBreakoutConfig
)


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySpec:
    """One kind of strategy: its config type and the factory that builds the arm from it."""

    kind: str
    config_type: type[Any]
    build: Callable[[Any], Strategy]
    description: str


STRATEGIES: Mapping[str, StrategySpec] = MappingProxyType(
    {
        spec.kind: spec
        for spec in (
            StrategySpec(
                kind="momentum",
                config_type=MomentumConfig,
                build=Momentum,
                description="follows a volatility-scaled return confirmed by the trend",
            ),
            StrategySpec(
                kind="mean_reversion",
                config_type=MeanReversionConfig,
                build=MeanReversion,
                description="fades a stretched z-score",
            ),
            StrategySpec(
                kind="market_making",
                config_type=MarketMakingConfig,
                build=MarketMaking,
                description="Avellaneda-Stoikov quotes around the microprice, skewed by inventory",
            ),
            StrategySpec(
                kind="pairs",
                config_type=PairsConfig,
                build=Pairs,
                description="trades the z-score of two symbols' log-price spread",
            ),
            StrategySpec(
                kind="cross_venue_arbitrage",
                config_type=CrossVenueArbitrageConfig,
                build=CrossVenueArbitrage,
                description="buys the cheap venue, sells the rich one when the gap beats costs",
            ),
            StrategySpec(
                kind="volatility_breakout",
                config_type=VolatilityBreakoutConfig,
                build=VolatilityBreakout,
                description="enters a move on expanding volatility and volume, holds it for a while",
            ),
        )
    }
)
"""Every strategy kind, keyed by kind name (also each config's default arm name)."""


def spec_for(config: StrategyConfig) -> StrategySpec:
    """The registry entry whose config type ``config`` is."""
    for spec in STRATEGIES.values():
        if type(config) is spec.config_type:
            return spec
    raise TypeError(f"configs: {type(config).__name__} is not a registered strategy config")


def build_strategies(configs: Iterable[StrategyConfig] | None = None) -> tuple[Strategy, ...]:
    """Build one arm per config, in order (default: every kind with its default config).

    Arm names must be unique: the meta-controller and the audit trail tell arms apart by name.
    """
    chosen = list(configs) if configs is not None else [spec.config_type() for spec in STRATEGIES.values()]
    specs = [spec_for(config) for config in chosen]
    names = [config.name for config in chosen]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"configs: arm names must be unique, repeated {duplicates}")
    if not chosen:
        raise ValueError("configs: at least one strategy is needed")
    return tuple(spec.build(config) for spec, config in zip(specs, chosen, strict=True))
