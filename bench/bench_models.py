"""Model hot-path costs: LinUCB select+update (d=20, 6 arms) beside a bare numpy dot of the same size."""

from __future__ import annotations

import json

import numpy as np

from bench.common import latencies_us, merge_results, pct, print_table
from models.bandit import bandit_select_update_latency_us


def run() -> dict[str, float | int | str]:
    bandit = bandit_select_update_latency_us(20_000, dim=20, n_arms=6)
    a, x = np.random.default_rng(0).normal(size=(6, 20)), np.ones(20)
    baseline = latencies_us(lambda: a @ x, 20_000)
    return {
        "bandit_select_update_p50_us": pct(bandit, 50),
        "bandit_select_update_p99_us": pct(bandit, 99),
        "numpy_matvec_6x20_p99_us": pct(baseline, 99),
    }


if __name__ == "__main__":
    result = run()
    print_table("models: LinUCB d=20, 6 arms, epsilon 0.1", [(k, v, "") for k, v in result.items()])
    merge_results(result)
    print(json.dumps(result))
