"""Market features: each one an O(1) incremental operator and a vectorised batch twin, held to parity.

Streaming: ``FeatureEngine`` (one per symbol) and ``PairFeatureEngine``. Batch: ``compute_features``
and ``compute_pair_features`` over the canonical event frame that ``events_frame`` builds from curated
bars, quotes or trades. ``FEATURES`` / ``PAIR_FEATURES`` document every feature (formula, warm-up,
bounds); ``features_markdown`` renders them for the README.
"""

from models.features.batch import EVENT_COLUMNS, compute_features, events_frame, timestamp_ns
from models.features.definitions import (
    FEATURE_NAMES,
    FEATURES,
    PAIR_FEATURE_NAMES,
    PAIR_FEATURES,
    FeatureConfig,
    FeatureDef,
    PairConfig,
    feature_names,
    feature_table,
    features_markdown,
    pair_feature_names,
    pair_feature_table,
)
from models.features.engine import FeatureEngine, compile_kernels, stream_features
from models.features.pairs import PairFeatureEngine, align_pair, compute_pair_features, stream_pair_features

__all__ = [
    "EVENT_COLUMNS",
    "FEATURES",
    "FEATURE_NAMES",
    "PAIR_FEATURES",
    "PAIR_FEATURE_NAMES",
    "FeatureConfig",
    "FeatureDef",
    "FeatureEngine",
    "PairConfig",
    "PairFeatureEngine",
    "align_pair",
    "compile_kernels",
    "compute_features",
    "compute_pair_features",
    "events_frame",
    "feature_names",
    "feature_table",
    "features_markdown",
    "pair_feature_names",
    "pair_feature_table",
    "stream_features",
    "stream_pair_features",
    "timestamp_ns",
]
