"""Model costs: LinUCB, the trading env, PPO training, the exported actor, the demo's training job.

Baselines measured in the same run: a bare numpy mat-vec of the bandit's size, SB3 PPO on
Pendulum-v1 with the same settings (the trading env's PPO throughput is reported as a ratio to it),
and the actor's ONNX Runtime and torch paths beside the numpy path.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

from bench.common import latencies_us, merge_results, pct, print_table
from models.agents import actor_infer_latency_us, ppo_env_train_steps_per_s, ppo_pendulum_steps_per_s
from models.bandit import bandit_select_update_latency_us
from models.env import env_steps_per_s


def _bandit() -> dict[str, float | int | str]:
    bandit = bandit_select_update_latency_us(20_000, dim=20, n_arms=6)
    a, x = np.random.default_rng(0).normal(size=(6, 20)), np.ones(20)
    baseline = latencies_us(lambda: a @ x, 20_000)
    return {
        "bandit_select_update_p50_us": pct(bandit, 50),
        "bandit_select_update_p99_us": pct(bandit, 99),
        "numpy_matvec_6x20_p99_us": pct(baseline, 99),
    }


def _agents() -> dict[str, float | int | str]:
    pendulum = ppo_pendulum_steps_per_s(8_192)
    trading = ppo_env_train_steps_per_s(8_192)
    numpy_actor = actor_infer_latency_us(20_000, backend="numpy")
    onnx_actor = actor_infer_latency_us(5_000, backend="onnx")
    return {
        "env_steps_per_s": round(env_steps_per_s(100_000)),
        "ppo_train_steps_per_s": round(trading),
        "ppo_pendulum_steps_per_s": round(pendulum),
        "ppo_train_vs_pendulum": round(trading / pendulum, 2),
        "actor_infer_p50_us": round(numpy_actor.p50_us, 2),
        "actor_infer_p99_us": round(numpy_actor.p99_us, 2),
        "actor_infer_onnx_p99_us": round(onnx_actor.p99_us, 2),
    }


def _demo_training() -> dict[str, float | int | str]:
    """Wall time of the demo's training_job on the shipped BTC-PERP week (fresh state folder)."""
    from dagster import DagsterInstance

    from models.marketdata.samples import SAMPLES
    from models.marketdata.schema import DataKind
    from models.marketdata.store import MarketDataStore
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings, prepare

    os.environ["RTOPT_HOME"] = tempfile.mkdtemp(prefix="rtopt-bench-train-")
    settings = load_settings()
    prepare(settings)
    store = MarketDataStore(settings.market_data_root)
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    store.write_batch(sample.symbol, sample.load(), None)
    store.write_curated(DataKind.BARS, sample.symbol, store.curate(DataKind.BARS, sample.symbol).frame)
    job = build_definitions(settings).resolve_job_def("training_job")
    started = time.perf_counter()
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=True)
    return {"demo_training_wall_s": round(time.perf_counter() - started, 1), "demo_training_ok": int(result.success)}


def run() -> dict[str, float | int | str]:
    return {**_bandit(), **_agents(), **_demo_training()}


if __name__ == "__main__":
    result = run()
    print_table("models: bandit, env, PPO, actor, demo training", [(k, v, "") for k, v in result.items()])
    merge_results(result)
    print(json.dumps(result))
