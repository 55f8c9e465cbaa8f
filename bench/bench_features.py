"""Incremental feature throughput of one symbol vs a no-op pass over the same events."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from bench.common import merge_results, print_table
from models.features import FeatureEngine, events_frame, timestamp_ns
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind


def _events() -> pd.DataFrame:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    return events_frame(sample.load().frame, DataKind.BARS)


def run() -> dict[str, float | int | str]:
    events = _events()
    ts = timestamp_ns(events["timestamp"])
    cols = {c: events[c].to_numpy(dtype=np.float64) for c in ("close", "high", "low", "volume")}
    engine = FeatureEngine()
    engine.update_many(ts[:100], cols["close"][:100])  # compile and warm the kernel
    engine = FeatureEngine()
    n = len(ts)
    start = time.perf_counter()
    for i in range(n):
        engine.update(int(ts[i]), cols["close"][i], cols["high"][i], cols["low"][i], cols["volume"][i])
    per_call = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(n):  # baseline: the same Python loop and argument unpacking, no feature work
        _noop(int(ts[i]), cols["close"][i], cols["high"][i], cols["low"][i], cols["volume"][i])
    baseline = n / (time.perf_counter() - start)
    batched = FeatureEngine()
    start = time.perf_counter()
    batched.update_many(ts, cols["close"], cols["high"], cols["low"], cols["volume"])
    many = n / (time.perf_counter() - start)
    return {
        "feature_updates_per_s": round(per_call),
        "feature_updates_batched_per_s": round(many),
        "feature_noop_loop_per_s": round(baseline),
        "feature_update_cost_vs_noop_loop": round(baseline / per_call, 2),
        "feature_events": n,
    }


def _noop(ts: int, close: float, high: float, low: float, volume: float) -> None:
    return None


if __name__ == "__main__":
    result = run()
    print_table(
        "features (BTC-PERP sample, 21 features, one symbol, one process)",
        [(k, v, "") for k, v in result.items()],
    )
    merge_results(result)
    print(json.dumps(result))
