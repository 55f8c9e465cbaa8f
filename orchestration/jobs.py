"""Jobs: the platform's main job and its pieces."""

from dagster import AssetSelection, define_asset_job

from assets.market_data import GROUP as MARKET_DATA_GROUP
from assets.partitions import symbols_partitions

# The main job: every asset that exists so far, one run per symbol partition.
platform_job = define_asset_job(
    name="platform_job",
    selection=AssetSelection.groups(MARKET_DATA_GROUP),
    partitions_def=symbols_partitions,
    description="Materialize market data (and, as the platform grows, features and models) for one symbol.",
)
