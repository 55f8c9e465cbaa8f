"""Fit the regime detector on labelled simulated markets; score it; apply the champion to real bars.

Protocol (fixed in ``models.regime.evaluate`` before results were seen): fit on ``TRAIN_SEEDS``,
the validation score (which moves the alias) on ``VALIDATION_SEEDS``, the reported out-of-sample
accuracy on ``TEST_SEEDS``; strict accuracy over every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature

from models.marketdata.schema import TIME
from models.marketdata.simulator import REGIMES
from models.regime import RegimeConfig, RegimeDetector, fit_regime_detector
from models.regime.evaluate import (
    TEST_SEEDS,
    TRAIN_SEEDS,
    VALIDATION_SEEDS,
    RegimeReport,
    detect,
    evaluate,
    regime_shares,
    report_markdown,
)
from models.regime.fit import simulated_frames
from serving.registry.mlflow_registry import TrainingRecord
from serving.training.plots import plot_confusion


@dataclass(frozen=True, slots=True)
class ScoredRegime:
    path: Path
    config: RegimeConfig
    n_bars: int
    validation: RegimeReport
    test: RegimeReport
    shares: dict[str, float]
    report_md: str
    real_start: str
    real_end: str

    @property
    def signature(self) -> ModelSignature:
        names = list(RegimeDetector.load(self.path).input_names)
        example = pd.DataFrame(np.zeros((1, len(names))), columns=names)
        return infer_signature(example, pd.DataFrame({"regime": [REGIMES[0].value]}))

    def record(self, symbol: str, feature_service: str) -> TrainingRecord:
        report = self.path.with_suffix(".md")
        report.write_text(self.report_md)
        confusion = plot_confusion(
            self.test.confusion,
            [r.value for r in REGIMES],
            self.path.with_name("confusion_test.png"),
            title=f"rtopt-regime on the test seeds {TEST_SEEDS}: strict accuracy {self.test.accuracy:.3f}",
        )
        metrics = {f"test_{k}": v for k, v in self.test.metrics().items()}
        metrics |= {f"validation_{k}": v for k, v in self.validation.metrics().items()}
        metrics |= {f"share_{k}": v for k, v in self.shares.items()}
        return TrainingRecord(
            registered_name="rtopt-regime",
            kind="regime",
            params={
                "use_quotes": self.config.use_quotes,
                "n_bars": self.n_bars,
                "symbol": symbol,
                "train_seeds": TRAIN_SEEDS,
            },
            metrics=metrics,
            validation_score=self.validation.accuracy,
            artifacts={"regime": self.path},
            signature=self.signature,
            feature_service=feature_service,
            data_start=self.real_start,
            data_end=self.real_end,
            plots=(report, confusion),
        )


def fit_and_score_regime(folder: Path, n_bars: int, use_quotes: bool, real_bars: pd.DataFrame) -> ScoredRegime:
    config = RegimeConfig(use_quotes=use_quotes)
    detector = fit_regime_detector(simulated_frames(TRAIN_SEEDS, n_bars), config)
    path = folder / "regime.json"
    detector.save(path)
    validation = evaluate(detector, simulated_frames(VALIDATION_SEEDS, n_bars))
    test = evaluate(detector, simulated_frames(TEST_SEEDS, n_bars))
    shares = regime_shares(detector, real_bars)
    ts = real_bars[TIME]
    return ScoredRegime(
        path,
        config,
        n_bars,
        validation,
        test,
        shares,
        report_markdown(test),
        ts.iloc[0].isoformat(),
        ts.iloc[-1].isoformat(),
    )


def champion_regimes(bars: pd.DataFrame) -> list[str]:
    """The registered champion detector's regime for every bar (batch path, causal)."""
    model = mlflow.pyfunc.load_model("models:/rtopt-regime@champion")
    detector: RegimeDetector = model.unwrap_python_model().detector
    return [REGIMES[i].value for i in detect(detector, bars).argmax(axis=1)]
