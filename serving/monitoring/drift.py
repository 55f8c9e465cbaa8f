"""Regime-aware feature drift: Evidently's DataDriftPreset over a recent window vs the training reference.

Markets move between regimes (trending, sideways, high volatility, ...) whose feature distributions
differ by construction; a window spent in one regime compared with a training set that mixes all of
them looks drifted even when nothing is new. So the reference is conditioned on the regime:

1. Every row of the reference (training) rows and of the current window carries its regime.
2. A regime of the current window is *seen* when the reference holds at least
   ``DriftConfig.min_reference_rows`` rows of it; the others are *unseen* (their share of the window
   is reported, and counts as drift on its own: the models never trained on that market).
3. Current rows: the window's rows in seen regimes. Reference rows: a seeded stratified sample, without
   replacement, of the training rows in those same regimes, with each regime's share equal to its
   share among the current rows (the largest such sample the reference allows).
4. One Evidently report compares the two; a regime switch alone changes both sides alike.

Per feature, the drift score is Evidently's normed Wasserstein distance (distance between the two
distributions in units of the reference's standard deviation), drifted at >= 0.1, Evidently's own
default for samples above 1,000 rows; fixed here so the score means the same whatever the window size
(Evidently otherwise switches to a KS p-value below 1,000 rows). The window drifted when the share of
drifted features reaches ``drift_share`` (0.5, Evidently's default), or the unseen share does.

Evidently failing, or returning no per-feature result, raises ``DriftReportError``: no report, no verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from models.seeding import make_rng

HTML_NAME = "feature_drift_report.html"


class DriftReportError(RuntimeError):
    """Evidently failed or produced no per-feature result: there is no drift verdict, and none is made up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftConfig:
    """How the recent window is compared with the training reference."""

    method: str = "wasserstein"
    """Evidently stattest for every feature; normed Wasserstein distance (reference std units)."""
    threshold: float = 0.1
    """A feature drifted when its score reaches this (Evidently's default for Wasserstein)."""
    drift_share: float = 0.5
    """The window drifted when this share of features drifted, or this share of rows is in unseen regimes."""
    min_reference_rows: int = 200
    """A regime with fewer training rows than this is unseen: too few to estimate its distribution."""
    seed: int = 0
    """Seeds the stratified reference sample."""

    def __post_init__(self) -> None:
        if not self.threshold > 0.0:
            raise ValueError(f"DriftConfig.threshold: must be > 0, got {self.threshold}")
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError(f"DriftConfig.drift_share: must lie in (0, 1], got {self.drift_share}")
        if self.min_reference_rows < 1:
            raise ValueError(f"DriftConfig.min_reference_rows: must be >= 1, got {self.min_reference_rows}")


class RegimeMatch(NamedTuple):
    """The rows compared, and the regimes behind them."""

    reference: pd.DataFrame
    current: pd.DataFrame
    shares: dict[str, float]
    """Share of the current window in each compared (seen) regime."""
    unseen: dict[str, float]
    """Share of the current window in each regime the reference lacks."""


@dataclass(frozen=True, slots=True)
class DriftOutcome:
    """One report's verdict: per-feature scores, the drifted share, and the regimes it was conditioned on."""

    scores: dict[str, float]
    drifted_features: tuple[str, ...]
    share: float
    drifted: bool
    regimes: dict[str, float]
    unseen_regimes: dict[str, float]
    reference_rows: int
    current_rows: int
    html: Path
    method: str = "wasserstein"
    threshold: float = 0.1

    @property
    def reason(self) -> str:
        """One line for a run tag or an alert: what drifted, in which regime(s)."""
        top = sorted(self.drifted_features, key=lambda n: -self.scores[n])[:3]
        regimes = ",".join(self.regimes) or "none"
        text = f"{len(self.drifted_features)}/{len(self.scores)} features drifted ({','.join(top)}) in {regimes}"
        if self.unseen_regimes:
            text += f"; unseen {sum(self.unseen_regimes.values()):.0%} ({','.join(self.unseen_regimes)})"
        return text


def match_regimes(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    regimes_ref: Sequence[str],
    regimes_cur: Sequence[str],
    config: DriftConfig,
) -> RegimeMatch:
    """Current rows of seen regimes, and a reference sample with the same regime mix (steps 2-3 above)."""
    ref_labels, cur_labels = _labels(reference, regimes_ref), _labels(current, regimes_cur)
    cur_counts = pd.Series(cur_labels).value_counts()
    ref_counts = pd.Series(ref_labels).value_counts()
    seen = [r for r in cur_counts.index if ref_counts.get(r, 0) >= config.min_reference_rows]
    unseen = {str(r): float(c / len(cur_labels)) for r, c in cur_counts.items() if r not in seen}
    if not seen:
        raise DriftReportError(
            f"no regime of the current window ({', '.join(map(str, cur_counts.index))}) has "
            f"{config.min_reference_rows} training rows: nothing to compare against"
        )
    shares = cur_counts[seen] / cur_counts[seen].sum()
    size = min(int(ref_counts[r] / shares[r]) for r in seen)
    rng = make_rng(config.seed)
    picked = [rng.choice(np.flatnonzero(ref_labels == r), int(shares[r] * size), replace=False) for r in seen]
    rows = np.sort(np.concatenate(picked))
    window_shares = {str(r): float(cur_counts[r] / len(cur_labels)) for r in seen}
    return RegimeMatch(
        reference.iloc[rows].reset_index(drop=True),
        current.loc[np.isin(cur_labels, seen)].reset_index(drop=True),
        window_shares,
        unseen,
    )


def _labels(frame: pd.DataFrame, regimes: Sequence[str]) -> np.ndarray:
    labels = np.asarray([str(r) for r in regimes], dtype=object)
    if len(labels) != len(frame):
        raise ValueError(f"regimes: {len(labels)} labels for {len(frame)} rows")
    if len(frame) == 0:
        raise DriftReportError("an empty frame: no rows to compare")
    return labels


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    regimes_ref: Sequence[str],
    regimes_cur: Sequence[str],
    out_dir: Path,
    config: DriftConfig | None = None,
) -> DriftOutcome:
    """Evidently drift of ``current`` vs the same regimes' rows of ``reference``; writes the HTML to ``out_dir``."""
    config = config or DriftConfig()
    if list(reference.columns) != list(current.columns):
        raise ValueError("reference and current must hold the same feature columns, in the same order")
    matched = match_regimes(reference, current, regimes_ref, regimes_cur, config)
    html = Path(out_dir) / HTML_NAME
    result = _run_evidently(matched.reference, matched.current, html, config)
    scores, drifted_features, share = parse_result(result, list(current.columns))
    unseen_share = sum(matched.unseen.values())
    return DriftOutcome(
        scores=scores,
        drifted_features=drifted_features,
        share=share,
        drifted=share >= config.drift_share or unseen_share >= config.drift_share,
        regimes=matched.shares,
        unseen_regimes=matched.unseen,
        reference_rows=len(matched.reference),
        current_rows=len(matched.current),
        html=html,
        method=config.method,
        threshold=config.threshold,
    )


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame, html: Path, config: DriftConfig) -> dict[str, Any]:
    """Run the preset, save the HTML, return the snapshot as a dict; any Evidently error becomes DriftReportError."""
    # Imported here: Evidently takes seconds to import, and only the report (not Dagster's code load) needs it.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(current.columns)
    definition = DataDefinition(numerical_columns=columns)
    preset = DataDriftPreset(
        columns=columns, method=config.method, threshold=config.threshold, drift_share=config.drift_share
    )
    try:
        snapshot = Report([preset], include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        html.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
        result: dict[str, Any] = snapshot.dict()
    except Exception as exc:  # re-raised: whatever Evidently throws, the caller sees a drift-report failure
        raise DriftReportError(f"Evidently failed on {len(reference)} reference vs {len(current)} rows: {exc}") from exc
    return result


def parse_result(result: dict[str, Any], columns: list[str]) -> tuple[dict[str, float], tuple[str, ...], float]:
    """Per-feature scores, the drifted features (Evidently's per-column tests) and the drifted share."""
    scores = {
        m["config"]["column"]: float(m["value"])
        for m in result.get("metrics", [])
        if m.get("config", {}).get("type") == "evidently:metric_v2:ValueDrift"
    }
    failed = {
        t["metric_config"]["params"]["column"]
        for t in result.get("tests", [])
        if t.get("id") == "drift" and t.get("status") == "FAIL"
    }
    missing = [c for c in columns if c not in scores]
    if missing:
        raise DriftReportError(f"Evidently returned no drift score for {missing}")
    bad = [c for c in columns if not np.isfinite(scores[c])]
    if bad:
        raise DriftReportError(f"Evidently returned a non-finite drift score for {bad}")
    drifted = tuple(c for c in columns if c in failed)
    return {c: scores[c] for c in columns}, drifted, len(drifted) / len(columns)


class DriftInputs(NamedTuple):
    """The training reference and the recent window of one symbol's feature table, with their regimes."""

    reference: pd.DataFrame
    current: pd.DataFrame
    regimes_ref: list[str]
    regimes_cur: list[str]


def split_reference_window(
    features: pd.DataFrame, regimes: Sequence[str], window_rows: int, train_fraction: float = 0.6
) -> DriftInputs:
    """Reference: the first ``train_fraction`` of rows (the agents' training split); window: the last rows."""
    if len(regimes) != len(features):
        raise ValueError(f"regimes: {len(regimes)} labels for {len(features)} rows")
    train_end = int(len(features) * train_fraction)
    start = len(features) - window_rows
    if window_rows < 1 or start < train_end:
        raise ValueError(
            f"window_rows={window_rows}: the window must be non-empty and after the training rows "
            f"(at most {len(features) - train_end} of {len(features)} rows)"
        )
    labels = [str(r) for r in regimes]
    return DriftInputs(
        features.iloc[:train_end].reset_index(drop=True),
        features.iloc[start:].reset_index(drop=True),
        labels[:train_end],
        labels[start:],
    )
