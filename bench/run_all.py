"""`make bench`: run every benchmark, merge their keys into bench/results.json, print one table."""

from __future__ import annotations

import importlib
import json
import sys

from bench.common import RESULTS, merge_results, print_table

BENCHMARKS = (
    "bench.bench_features",
    "bench.bench_online_read",
    "bench.bench_streaming",
    "bench.bench_models",
    "bench.bench_backtest",
    "bench.bench_decision",
    "bench.bench_explain",
    "bench.bench_safety",
    "bench.bench_online_drift",
)


def main() -> int:
    failed: list[str] = []
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"{name}: not available ({exc})", file=sys.stderr)
            failed.append(name)
            continue
        print(f"running {name} ...", flush=True)
        merge_results(module.run())
    results = json.loads(RESULTS.read_text())
    print_table(f"bench/results.json ({RESULTS})", [(k, v, "") for k, v in sorted(results.items())])
    print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
