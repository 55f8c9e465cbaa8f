"""Jobs: the platform's main job and its pieces."""

from dagster import AssetSelection, define_asset_job

from assets.drift import GROUP as MONITORING_GROUP
from assets.features import GROUP as FEATURES_GROUP
from assets.features import feature_store_definitions
from assets.market_data import GROUP as MARKET_DATA_GROUP
from assets.models import GROUP as MODELS_GROUP
from assets.partitions import symbols_partitions

# The main job: one run per symbol partition, market data -> offline features -> online store.
platform_job = define_asset_job(
    name="platform_job",
    selection=AssetSelection.groups(MARKET_DATA_GROUP, FEATURES_GROUP)
    - AssetSelection.assets(feature_store_definitions),
    partitions_def=symbols_partitions,
    description="Market data, offline features and the online store for one symbol.",
)

# Registering the Feast definitions is not per symbol; it runs before the first platform_job run.
feature_store_job = define_asset_job(
    name="feature_store_job",
    selection=AssetSelection.assets(feature_store_definitions),
    description="`feast apply` of feature_repo/ against the environment's registry.",
)

# Training: every model asset, each an MLflow run and a registered version.
training_job = define_asset_job(
    name="training_job",
    selection=AssetSelection.groups(MODELS_GROUP),
    description="Train and register the agents and the bandit (MLflow), moving aliases on validation.",
)

# Monitoring: the regime-aware drift report (Evidently, logged to MLflow) and its check; drift_sensor reacts.
drift_job = define_asset_job(
    name="drift_job",
    selection=AssetSelection.groups(MONITORING_GROUP),
    description="Regime-aware drift report of a symbol's recent features vs its training rows.",
)
