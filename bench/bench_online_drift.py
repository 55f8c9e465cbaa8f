"""What the online drift signal and the rollback guard add to each decision a Serve shard returns.

Per champion decision the shard folds the decision's features into the online PSI, its net PnL into the
live performance statistics and, while armed, into the rollback guard (``DecisionShard._observe``). The
baseline, in the same run on the same decisions, is what the shard already did per decision before them:
``Decision.to_dict`` for the response. Reads (``ChampionMonitor.report``, once per ``/v1/drift``, status or
metrics scrape) are timed apart: they are per request, not per decision.

- ``online_drift_observe_p50_us`` / ``_p99_us``: monitor + guard per decision (21 features, 10 bins).
- ``online_drift_baseline_to_dict_p50_us`` / ``_p99_us``: the baseline.
- ``online_drift_report_p50_us``: one report (PSI of every feature, the performance verdict).
"""

from __future__ import annotations

import json
import math

from bench.common import latencies_us, pct, print_table
from models.features import FEATURE_NAMES
from models.monitoring.performance import BacktestExpectation
from models.monitoring.psi import PsiReference
from models.seeding import make_rng
from serving.decision.records import Action, Decision
from serving.lifecycle.guard import GuardConfig, RollbackGuard
from serving.monitoring.online import ChampionMonitor, OnlineDriftConfig

N = 20_000


def _decisions(n: int) -> list[Decision]:
    rng = make_rng(0)
    rows = rng.normal(size=(n, len(FEATURE_NAMES)))
    return [
        Decision(
            decision_id=f"d{i}",
            symbol="BTC-PERP",
            timestamp_ns=i,
            action=Action.HOLD,
            position_size=0.0,
            previous_position=0.0,
            entry_price=math.nan,
            exit_price=math.nan,
            confidence=1.0,
            expected_return=0.0,
            risk_score=0.0,
            strategy="momentum",
            regime="sideways",
            features=dict(zip(FEATURE_NAMES, row.tolist(), strict=True)),
        )
        for i, row in enumerate(rows)
    ]


def run() -> dict[str, float | int | str]:
    reference = PsiReference.fit(make_rng(1).normal(size=(5_000, len(FEATURE_NAMES))), FEATURE_NAMES)
    expectation = BacktestExpectation(mean_bps=0.1, std_bps=5.0, decisions=5_000)
    monitor = ChampionMonitor(OnlineDriftConfig(), {"actor": "bench"}, reference, expectation)
    guard = RollbackGuard(GuardConfig(watch_decisions=10**9, drawdown_limit_bps=1e12))
    guard.arm({"actor": "old"}, {"actor": "bench"})
    decisions = _decisions(N + 200)
    cursor = iter(range(10**9))

    def observe() -> None:
        k = next(cursor) % len(decisions)
        monitor.observe(decisions[k], 0.1)
        guard.observe(0.1)

    baseline_cursor = iter(range(10**9))

    def baseline() -> None:
        decisions[next(baseline_cursor) % len(decisions)].to_dict()

    observed, base = latencies_us(observe, N), latencies_us(baseline, N)
    report = latencies_us(monitor.report, 500, warmup=20)
    return {
        "online_drift_observe_p50_us": pct(observed, 50),
        "online_drift_observe_p99_us": pct(observed, 99),
        "online_drift_baseline_to_dict_p50_us": pct(base, 50),
        "online_drift_baseline_to_dict_p99_us": pct(base, 99),
        "online_drift_report_p50_us": pct(report, 50),
    }


if __name__ == "__main__":
    out = run()
    print_table("online drift signal and rollback guard, per decision", [(k, v, "") for k, v in out.items()])
    print(json.dumps(out))
