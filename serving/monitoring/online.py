"""The online drift signal a Serve shard keeps between full reports: feature PSI and performance drift.

- Feature drift: ``OnlinePsi`` (``models.monitoring.psi``) over the features of the last ``window`` decided
  events (warm-up decisions, with undefined features, are left out) against the champion's pre-binned
  training reference, ``psi_reference.json`` beside its actor (written at training by
  ``save_psi_reference``). Drifted when at least ``min_events`` are in the window and the largest
  per-feature PSI is >= ``threshold`` (0.25: a significant shift, Siddiqi 2006).
- Performance drift: the champion's live per-decision net PnL against its backtest expectation
  (``models.monitoring.performance``; the expectation from ``serving.monitoring.expectation``).

Both restart with each new champion: the reference and the expectation are the champion's own. A monitor
without a reference or an expectation says why in ``notes`` and never reports drift it cannot measure.

Each drift episode has a ``since`` (wall-clock ns when a read first saw it); the sensor keys its run on the
champion and the earliest ``since`` over shards, so one episode gives one training run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.monitoring.performance import BacktestExpectation, LivePerformance, PerformanceRule
from models.monitoring.psi import PSI_SHIFT, OnlinePsi, PsiReference
from serving.decision.records import Decision, HoldReason

PSI_FILE = "psi_reference.json"
"""The pre-binned training reference, beside the actor it was trained with (``<actor dir>/psi_reference.json``)."""
PSI_BINS = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class OnlineDriftConfig:
    window: int = 1_000
    """Decided events the PSI is computed over."""
    min_events: int = 500
    """Events in the window before a PSI can count as drift (below a few hundred, PSI is mostly noise)."""
    threshold: float = PSI_SHIFT
    performance: PerformanceRule = field(default_factory=PerformanceRule)

    def __post_init__(self) -> None:
        if not 1 <= self.min_events <= self.window:
            raise ValueError(f"min_events: must lie in [1, window={self.window}], got {self.min_events}")
        if not (math.isfinite(self.threshold) and self.threshold > 0.0):
            raise ValueError(f"threshold: must be a positive finite number, got {self.threshold}")


def save_psi_reference(actor_dir: Path, features: np.ndarray, names: Sequence[str]) -> Path:
    """Bin the training features (rows with any NaN, the warm-up, left out) and write ``PSI_FILE``."""
    rows = features[np.isfinite(features).all(axis=1)]
    return PsiReference.fit(rows, names, PSI_BINS).save(actor_dir / PSI_FILE)


def load_psi_reference(actor_dir: Path | None) -> tuple[PsiReference | None, str]:
    """The reference beside the actor, or None and why."""
    if actor_dir is None or not (actor_dir / PSI_FILE).is_file():
        return None, f"no {PSI_FILE} beside the champion's actor (trained before the online PSI existed)"
    try:
        return PsiReference.load(actor_dir / PSI_FILE), ""
    except (ValueError, KeyError) as error:
        return None, f"{actor_dir / PSI_FILE}: unreadable ({error})"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class ChampionMonitor:
    """Feature PSI and live PnL of one champion on one shard; the shard serialises the calls."""

    def __init__(
        self,
        config: OnlineDriftConfig,
        champion: Mapping[str, str],
        reference: PsiReference | None,
        expectation: BacktestExpectation | None,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        self.config, self.champion = config, dict(champion)
        self.psi = None if reference is None else OnlinePsi(reference, config.window)
        self._names = () if reference is None else reference.names
        self.expectation = expectation
        self.live = LivePerformance()
        self.notes = {k: v for k, v in (notes or {}).items() if v}
        self._since: dict[str, int | None] = {"features": None, "performance": None}

    def observe(self, decision: Decision, pnl_bps: float) -> None:
        """One champion decision and the net PnL (bps of the maximum notional) the engine booked with it."""
        self.live.update(pnl_bps)
        if self.psi is not None and decision.hold_reason is not HoldReason.WARMING_UP:
            features = decision.features
            self.psi.update(np.array([features.get(n, math.nan) for n in self._names], dtype=np.float64))

    def _episode(self, kind: str, drifted: bool) -> int | None:
        if not drifted:
            self._since[kind] = None
        elif self._since[kind] is None:
            self._since[kind] = time.time_ns()
        return self._since[kind]

    def features(self) -> dict[str, Any]:
        cfg, psi = self.config, self.psi
        count = 0 if psi is None else psi.count
        values = {} if psi is None or count == 0 else psi.psi()
        finite = [v for v in values.values() if math.isfinite(v)]
        max_psi = max(finite) if finite else math.nan
        drifted = count >= cfg.min_events and max_psi >= cfg.threshold
        return {
            "psi": {k: _finite(v) for k, v in values.items()},
            "max_psi": _finite(max_psi),
            "window": count,
            "window_size": cfg.window,
            "min_events": cfg.min_events,
            "threshold": cfg.threshold,
            "drifted": drifted,
            "since_ns": self._episode("features", drifted),
        }

    def performance(self) -> dict[str, Any]:
        if self.expectation is None:
            live = {"decisions": self.live.n, "live_mean_bps": _finite(self.live.mean)}
            return {**live, "live_sharpe": _finite(self.live.sharpe), "drifted": False, "since_ns": None}
        verdict = self.live.verdict(self.expectation, self.config.performance)
        return {**verdict.to_dict(), "since_ns": self._episode("performance", verdict.drifted)}

    def report(self) -> dict[str, Any]:
        """The shard's part of ``GET /v1/drift`` (and of its status)."""
        return {
            "champion": self.champion,
            "features": self.features(),
            "performance": self.performance(),
            "notes": dict(self.notes),
        }


def merge_drift(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One answer over shards: drifted when any shard is, keyed on the champion and the earliest episode."""
    reports = [p for p in parts if p.get("drift") is not None]
    reasons, starts, champions = [], [], {str(p["drift"]["champion"]) for p in reports}
    for part in reports:
        drift, shard = part["drift"], part.get("shard")
        feats, perf = drift["features"], drift["performance"]
        if feats["drifted"]:
            reasons.append(f"shard {shard}: max PSI {feats['max_psi']:.3f} >= {feats['threshold']}")
            starts.append(feats["since_ns"])
        if perf["drifted"]:
            reasons.append(f"shard {shard}: performance: {perf.get('reason', '')}")
            starts.append(perf["since_ns"])
    psis = [p["drift"]["features"]["max_psi"] for p in reports if p["drift"]["features"]["max_psi"] is not None]
    champion = reports[0]["drift"]["champion"] if len(champions) == 1 else None
    key = None
    if reasons and champion is not None:
        key = "-".join(v.split("/")[-1] for v in champion.values()) + f"-{min(starts)}"
    return {
        "drifted": bool(reasons),
        "feature_drift": any(p["drift"]["features"]["drifted"] for p in reports),
        "performance_drift": any(p["drift"]["performance"]["drifted"] for p in reports),
        "max_psi": max(psis) if psis else None,
        "champion": champion,
        "key": key,
        "reasons": reasons,
        "shards": [dict(p) for p in parts],
    }
