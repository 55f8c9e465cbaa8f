"""Resources bound from the settings: the one place assets meet the environment."""

from __future__ import annotations

from dagster import ConfigurableResource

from assets.resources import MarketDataResource
from orchestration.settings import Settings


def build_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    return {"market_data": MarketDataResource(root=str(settings.market_data_root))}
