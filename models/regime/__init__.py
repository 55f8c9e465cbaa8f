"""Market regime detector: causal, per event, fitted on the simulator's labelled regimes.

Hot path: ``detector.tracker()`` per symbol, then ``tracker.update(features, high=, low=, volume=)``
per event with ``FeatureEngine.update``'s vector, returning an immutable ``RegimeEstimate``. Batch:
``detect`` / ``regime_inputs`` + ``predict_many``. Lifecycle: ``fit_regime_detector``, ``save`` /
``RegimeDetector.load`` (JSON, no pickle), ``evaluate`` -> ``RegimeReport`` -> ``report_markdown``,
``regime_shares`` on real data. The evaluation protocol (seeds, grace period, target) is fixed in
``evaluate``.
"""

from models.regime.detector import RegimeDetector, RegimeEstimate, RegimeTracker, SoftmaxWeights
from models.regime.evaluate import (
    GRACE_BARS,
    PRIMARY_METRIC,
    PROTOCOL_BARS,
    TARGET_ACCURACY,
    TEST_SEEDS,
    TRAIN_SEEDS,
    VALIDATION_SEEDS,
    RegimeReport,
    detect,
    evaluate,
    regime_shares,
    report_markdown,
)
from models.regime.fit import RegimeConfig, fit_regime_detector, frame_inputs, simulated_frames
from models.regime.inputs import InputSpec, InputState, regime_inputs

__all__ = [
    "GRACE_BARS",
    "PRIMARY_METRIC",
    "PROTOCOL_BARS",
    "TARGET_ACCURACY",
    "TEST_SEEDS",
    "TRAIN_SEEDS",
    "VALIDATION_SEEDS",
    "InputSpec",
    "InputState",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeEstimate",
    "RegimeReport",
    "RegimeTracker",
    "SoftmaxWeights",
    "detect",
    "evaluate",
    "fit_regime_detector",
    "frame_inputs",
    "regime_inputs",
    "regime_shares",
    "report_markdown",
    "simulated_frames",
]
