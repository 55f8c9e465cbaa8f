"""Monitoring the models' inputs and the champion's results.

- ``drift``: regime-aware Evidently drift reports over recent feature windows. ``drift_report(reference,
  current, regimes_ref, regimes_cur, out_dir)`` returns a ``DriftOutcome`` (per-feature scores, drifted share
  and flag, the regimes it was conditioned on) and writes the HTML report; it raises ``DriftReportError``
  when Evidently gives no result.
- ``online``: the cheap statistics a Serve shard keeps between reports (PSI of the served features against
  the champion's pre-binned training reference, the champion's live PnL against its backtest expectation).
- ``expectation``: that backtest expectation, as tags on the registered actor version.

The names below load lazily, so a Serve shard importing ``online`` does not import Evidently.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    **dict.fromkeys(
        (
            "HTML_NAME",
            "DriftConfig",
            "DriftInputs",
            "DriftOutcome",
            "DriftReportError",
            "RegimeMatch",
            "drift_report",
            "match_regimes",
            "split_reference_window",
        ),
        "serving.monitoring.drift",
    ),
    "LoggedDrift": "serving.monitoring.tracking",
    "log_drift_run": "serving.monitoring.tracking",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'serving.monitoring' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
