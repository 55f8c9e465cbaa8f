"""Shared benchmark helpers: timing, percentiles, the results file and the table."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from feast import FeatureStore

from orchestration.settings import Settings, load_settings, prepare
from serving.features.feast_repo import apply_repo, open_store

RESULTS = Path(__file__).resolve().parent / "results.json"


def latencies_us(fn: Callable[[], object], n: int, warmup: int = 200) -> np.ndarray:
    """Per-call wall time in microseconds of ``n`` sequential calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        fn()
        out[i] = (clock() - start) / 1e3
    return out


def pct(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def merge_results(new: dict[str, float | int | str]) -> dict[str, float | int | str]:
    """Merge ``new`` into bench/results.json (one flat object) and return the whole."""
    current = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current.update(new)
    RESULTS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    return current


def print_table(title: str, rows: list[tuple[str, object, str]]) -> None:
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for key, value, note in rows:
        print(f"  {key:<{width}}  {value!s:>12}  {note}")


def feast_on_redis() -> tuple[Settings, FeatureStore]:
    """Settings under a fresh RTOPT_HOME and an applied Feast store; exits if Redis is not there."""
    os.environ["RTOPT_HOME"] = tempfile.mkdtemp(prefix="rtopt-bench-")
    settings = load_settings()
    if settings.online_store.backend != "redis":
        raise SystemExit(f"this benchmark needs Redis: {settings.online_store.reason}")
    prepare(settings)
    store = open_store(settings.feast_repo, settings.feast_yaml)
    apply_repo(store, settings.feast_repo)
    return settings, store
