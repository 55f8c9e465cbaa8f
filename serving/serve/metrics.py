"""Prometheus metrics of the ingress: latency histograms, decisions, rejects, risk and shadow state.

A private registry per ingress replica (not the process-global one, which Ray's own exporters share).
Gauges of state held by the shards (trading state, PnL, shadow agreement) are refreshed from the
shards' status at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS_S = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 1.0)
STATES = ("ACTIVE", "REDUCING", "HALTED")


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decision_latency = Histogram(
            "rtopt_decision_latency_seconds", "In-engine time per decision", buckets=_LATENCY_BUCKETS_S, registry=r
        )
        self.request_latency = Histogram(
            "rtopt_request_latency_seconds", "Ingress time per request", buckets=_LATENCY_BUCKETS_S, registry=r
        )
        self.decisions = Counter("rtopt_decisions", "Decisions returned", ["action", "hold_reason"], registry=r)
        self.rejects = Counter("rtopt_rejected_events", "Events rejected", ["reason"], registry=r)
        self.overloads = Counter("rtopt_overload_rejections", "Requests answered 503 (queues full)", registry=r)
        self.trading_state = Gauge("rtopt_trading_state", "1 for the current state", ["shard", "state"], registry=r)
        self.daily_pnl = Gauge("rtopt_daily_pnl", "Daily PnL of the paper book", ["shard"], registry=r)
        self.agreement = Gauge("rtopt_shadow_agreement_rate", "Share of equal actions", ["shard", "shadow"], registry=r)
        self.delta_pnl = Gauge("rtopt_shadow_delta_pnl_bps", "Shadow - champion PnL", ["shard", "shadow"], registry=r)
        self.psi = Gauge("rtopt_feature_psi", "Online PSI of a served feature", ["shard", "feature"], registry=r)
        self.psi_max = Gauge("rtopt_feature_psi_max", "Largest online feature PSI", ["shard"], registry=r)
        self.psi_window = Gauge("rtopt_feature_psi_window", "Events in the online PSI window", ["shard"], registry=r)
        self.drifted = Gauge("rtopt_drifted", "1 while drift is flagged", ["shard", "kind"], registry=r)
        self.live_mean = Gauge(
            "rtopt_champion_live_mean_pnl_bps", "Champion mean PnL per decision", ["shard"], registry=r
        )
        self.expected_mean = Gauge(
            "rtopt_champion_backtest_mean_pnl_bps", "Backtest mean PnL per decision", ["shard"], registry=r
        )
        self.guard_armed = Gauge(
            "rtopt_rollback_guard_armed", "1 while a new champion is watched", ["shard"], registry=r
        )
        self.guard_drawdown = Gauge(
            "rtopt_rollback_guard_drawdown_bps", "Drawdown of the watched champion", ["shard"], registry=r
        )

    def observe(self, results: Iterable[Mapping[str, Any]]) -> None:
        for item in results:
            error = item.get("error")
            if error is not None:
                self.rejects.labels(reason=error["reason"]).inc()
                continue
            self.decision_latency.observe(float(item["latency_us"]) / 1e6)
            self.decisions.labels(action=item["action"], hold_reason=item["hold_reason"]).inc()

    def refresh(self, statuses: Iterable[Mapping[str, Any]]) -> None:
        for status in statuses:
            shard = str(status.get("shard"))
            state = status.get("trading_state")
            for name in STATES:
                self.trading_state.labels(shard=shard, state=name).set(1.0 if state == name else 0.0)
            if "daily_pnl" in status:
                self.daily_pnl.labels(shard=shard).set(float(status["daily_pnl"]))
            for shadow, stats in status.get("shadow", {}).items():
                rate = stats.get("agreement_rate")
                if rate is not None and rate == rate:
                    self.agreement.labels(shard=shard, shadow=shadow).set(float(rate))
                self.delta_pnl.labels(shard=shard, shadow=shadow).set(float(stats.get("delta_pnl_bps", 0.0)))

            self._refresh_drift(shard, status)

    def _refresh_drift(self, shard: str, status: Mapping[str, Any]) -> None:
        """The online drift signal and the rollback guard of one shard's status (``DecisionShard.drift``)."""
        drift, guard = status.get("drift"), status.get("guard")
        if drift is not None:
            features, performance = drift["features"], drift["performance"]
            for feature, value in features["psi"].items():
                _set(self.psi.labels(shard=shard, feature=feature), value)
            _set(self.psi_max.labels(shard=shard), features["max_psi"])
            self.psi_window.labels(shard=shard).set(float(features["window"]))
            self.drifted.labels(shard=shard, kind="features").set(float(features["drifted"]))
            self.drifted.labels(shard=shard, kind="performance").set(float(performance["drifted"]))
            _set(self.live_mean.labels(shard=shard), performance.get("live_mean_bps"))
            _set(self.expected_mean.labels(shard=shard), performance.get("expected_mean_bps"))
        if guard is not None:
            self.guard_armed.labels(shard=shard).set(float(guard["armed"]))
            self.guard_drawdown.labels(shard=shard).set(float(guard["drawdown_bps"]))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _set(gauge: Gauge, value: float | None) -> None:
    """NaN for a value not measured yet (None in the JSON status), never a plausible 0."""
    gauge.set(float("nan") if value is None else float(value))
