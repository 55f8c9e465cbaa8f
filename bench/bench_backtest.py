"""`rtopt backtest`'s replay loop: events per second through ``DecisionEngine.process`` and the paper broker.

As ``rtopt backtest --train-fraction 0.6`` runs it on the shipped BTC-PERP week: a bundle is trained on the
first 60% (not timed, nor is loading it) and the last 40% is replayed. One untimed run on a short slice first
compiles the feature kernels; the key is the median of three runs. Baseline measured in the same run on the
same rows: the raw ``TradingEnv.step`` rate (``models.env.env_steps_per_s``), the floor of a backtest that
only books fills; the ratio is the share of that rate the full decision path keeps.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import merge_results, print_table
from models.env import MarketReplay, env_steps_per_s
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from serving.decision.backtest import run_backtest
from serving.decision.training import BundleTrainingConfig, train_bundle

TARGET_EVENTS_PER_S = 20_000
RUNS = 3
ENV_STEPS = 100_000


def run() -> dict[str, float | int | str]:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    cut = int(len(frame) * 0.6)
    config = BundleTrainingConfig(agent_steps=1_024, regime_bars=1_000, seed=0)
    bundle = train_bundle(frame.iloc[:cut], DataKind.BARS, Path(tempfile.mkdtemp(prefix="rtopt-bench-bt-")), config)
    held_out = frame.iloc[cut:]
    run_backtest(held_out.iloc[:500], DataKind.BARS, sample.symbol, bundle)
    rates, walls = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        outcome = run_backtest(held_out, DataKind.BARS, sample.symbol, bundle)
        walls.append(time.perf_counter() - started)
        rates.append(outcome.events_per_s)
    env_rate = env_steps_per_s(ENV_STEPS, replay=MarketReplay.from_bars(held_out, DataKind.BARS))
    rate = statistics.median(rates)
    return {
        "backtest_events_per_s": round(rate),
        "backtest_events": len(held_out),
        "backtest_wall_s": round(statistics.median(walls), 2),
        "backtest_env_steps_per_s": round(env_rate),
        "backtest_vs_env_steps": round(rate / env_rate, 3),
    }


if __name__ == "__main__":
    result = run()
    print_table(
        f"backtest replay loop (BTC-PERP held-out 40%, one engine, one process; target >= {TARGET_EVENTS_PER_S:,}/s)",
        [(k, v, "") for k, v in result.items()],
    )
    merge_results(result)
    print(json.dumps(result))
