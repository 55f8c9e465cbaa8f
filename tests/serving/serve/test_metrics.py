"""The Prometheus gauges of the online drift signal and the rollback guard, from a shard's status."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from serving.serve.metrics import ServeMetrics


def _status(max_psi: float | None, drifted: bool) -> dict[str, object]:
    return {
        "shard": 0,
        "trading_state": "REDUCING",
        "drift": {
            "champion": {"actor": "rtopt-ppo/2"},
            "features": {
                "psi": {"ret_1": max_psi, "vol_20": None},
                "max_psi": max_psi,
                "window": 700,
                "drifted": drifted,
            },
            "performance": {"drifted": False, "live_mean_bps": -0.5, "expected_mean_bps": None},
        },
        "guard": {"armed": True, "drawdown_bps": 42.0},
    }


def _samples(metrics: ServeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_refresh_given_drifted_shard_status_returns_psi_gauges_per_feature_and_max() -> None:
    metrics = ServeMetrics()

    metrics.refresh([_status(0.31, True)])

    samples = _samples(metrics)
    assert samples[("rtopt_feature_psi", (("feature", "ret_1"), ("shard", "0")))] == 0.31
    assert math.isnan(samples[("rtopt_feature_psi", (("feature", "vol_20"), ("shard", "0")))])
    assert samples[("rtopt_feature_psi_max", (("shard", "0"),))] == 0.31
    assert samples[("rtopt_feature_psi_window", (("shard", "0"),))] == 700.0
    assert samples[("rtopt_drifted", (("kind", "features"), ("shard", "0")))] == 1.0
    assert samples[("rtopt_drifted", (("kind", "performance"), ("shard", "0")))] == 0.0
    assert samples[("rtopt_champion_live_mean_pnl_bps", (("shard", "0"),))] == -0.5
    assert math.isnan(samples[("rtopt_champion_backtest_mean_pnl_bps", (("shard", "0"),))])
    assert samples[("rtopt_rollback_guard_armed", (("shard", "0"),))] == 1.0
    assert samples[("rtopt_rollback_guard_drawdown_bps", (("shard", "0"),))] == 42.0


def test_refresh_given_status_without_drift_returns_no_psi_gauge() -> None:
    metrics = ServeMetrics()

    metrics.refresh([{"shard": 0, "trading_state": "ACTIVE"}])

    assert not [k for k in _samples(metrics) if k[0].startswith("rtopt_feature_psi")]
