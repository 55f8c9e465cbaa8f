"""Market features of one symbol, as the streaming engine and the batch engine compute them.

Data flow: entity ``symbol`` -> file source over the offline Parquet -> push source (the
streaming pipeline pushes each symbol's latest vector) -> feature view -> feature service.
The feature service name is versioned; every model records the name it was trained on.
"""

from datetime import timedelta

from entities import symbol
from feast import FeatureService, FeatureView, Field, FileSource, PushSource
from feast.types import Float64
from offline_paths import OFFLINE_FEATURES

from models.features.definitions import feature_names

market_features_file = FileSource(
    name="market_features_offline",
    path=str(OFFLINE_FEATURES),
    timestamp_field="event_timestamp",
    description="Offline features per symbol (Parquet), written by the offline_features asset.",
)

market_features_push = PushSource(
    name="market_features_push",
    batch_source=market_features_file,
    description="The streaming pipeline pushes each symbol's latest feature vector here.",
)

market_features = FeatureView(
    name="market_features",
    entities=[symbol],
    ttl=timedelta(days=3650),
    schema=[Field(name=name, dtype=Float64) for name in feature_names()],
    online=True,
    source=market_features_push,
    description="The 21 single-symbol features of models/features (formulas in the README).",
    tags={"engine": "models.features", "version": "1"},
)

decision_v1 = FeatureService(
    name="decision_v1",
    features=[market_features],
    description="The vector the decision path reads; models record this name.",
)
