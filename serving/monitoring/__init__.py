"""Monitoring the models' inputs: regime-aware Evidently drift reports over recent feature windows.

``drift_report(reference, current, regimes_ref, regimes_cur, out_dir)`` returns a ``DriftOutcome`` (per-feature
scores, drifted share and flag, the regimes it was conditioned on) and writes the HTML report; it raises
``DriftReportError`` when Evidently gives no result. The cheap online statistic (PSI) is ``models.monitoring``.
"""

from serving.monitoring.drift import (
    HTML_NAME,
    DriftConfig,
    DriftInputs,
    DriftOutcome,
    DriftReportError,
    RegimeMatch,
    drift_report,
    match_regimes,
    split_reference_window,
)
from serving.monitoring.tracking import LoggedDrift, log_drift_run

__all__ = [
    "HTML_NAME",
    "DriftConfig",
    "DriftInputs",
    "DriftOutcome",
    "DriftReportError",
    "LoggedDrift",
    "RegimeMatch",
    "drift_report",
    "log_drift_run",
    "match_regimes",
    "split_reference_window",
]
