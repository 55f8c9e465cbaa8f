"""Safety costs: the kill switch's trigger-to-blocked time and one order through every pre-trade control.

- ``kill_switch_ms`` (median) / ``kill_switch_max_ms``: ``PreTradeRisk.kill`` in one thread to the first HALTED
  denial in the order thread (``serving.safety.kill_latency``); ``kill_switch_file_ms``: the same through the
  kill file ``rtopt kill`` writes (bounded by the 50 ms poll). Target < 100 ms.
- ``risk_check_p99_us``: ``PreTradeRisk.check`` for one order with every control on (size, notional, collar,
  drift, position, volatility sizing, gross/net exposure, concentration, loss and drawdown, rate and
  repeated-execution throttles, duplicate key, stale data). Target <= 20 us. The orders are built before the
  timed loop (the engine builds its order before it asks); ``risk_check_with_order_p99_us`` times building the
  ``OrderRequest`` (its validation) and the check together. Baselines in the same run: the same check with the
  default limits (position cap and daily loss only), ``risk_check_default_p99_us``, and an empty call through
  the same timing loop, ``risk_check_noop_p99_us`` (the harness's floor, and a gauge of how loaded the box is).
  Each is measured in ``ROUNDS`` interleaved rounds of 20,000 orders and the median over rounds is kept: on a
  box shared with other busy processes one round's p99 can be a burst of waiting for a core.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np

from bench.common import latencies_us, pct, print_table
from serving.safety.kill_latency import measure_kill_latency
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import OrderRequest, PortfolioView

ALL_ON = RiskLimits(
    max_order_quantity=10.0,
    max_order_notional=1e6,
    price_collar_bps=500.0,
    price_drift_bps=1_000.0,
    max_position=1.0,
    volatility_target=0.01,
    max_gross_exposure=1e7,
    max_net_exposure=1e7,
    max_symbol_concentration=0.9,
    max_strategy_concentration=0.9,
    daily_loss_reduce=5_000.0,
    daily_loss_halt=10_000.0,
    drawdown_reduce=5_000.0,
    drawdown_halt=10_000.0,
    max_orders_per_window=1_000_000,
    max_repeated_executions=1_000_000,
    max_market_data_age=timedelta(seconds=5),
)
T0 = 1_700_000_000 * 10**9
ROUNDS = 3
PORTFOLIO = PortfolioView(
    positions={"BTC": 0.1, "ETH": -0.2},
    quantities={"BTC": 0.2, "ETH": -3.0},
    prices={"BTC": 50_000.0, "ETH": 3_000.0},
    strategy_quantities={"momentum": {"BTC": 0.2}},
    capital=1e6,
    daily_pnl=-100.0,
    equity=1_000.0,
    peak_equity=1_200.0,
)


def _order(k: int) -> OrderRequest:
    """The ``k``-th order: alternately buying (growing the long) and selling (reducing it), 1 ms apart."""
    now = T0 + k * 1_000_000
    return OrderRequest(
        symbol="BTC",
        strategy="momentum",
        delta=0.01 if k % 2 else -0.01,
        quantity=0.02 if k % 2 else -0.02,
        limit_price=50_010.0,
        reference_mid=50_000.0,
        timestamp_ns=now,
        market_data_ns=now,
        idempotency_key=f"order-{k}",
        volatility=0.001,
    )


def _check_us(limits: RiskLimits, *, build: bool = False, n: int = 20_000, warmup: int = 200) -> np.ndarray:
    """Per-order latency of ``check``; ``build``: of building the order and checking it."""
    risk, counter = PreTradeRisk(limits), itertools.count()
    if build:
        return latencies_us(lambda: risk.check(order := _order(next(counter)), PORTFOLIO, order.timestamp_ns), n)
    orders = iter([_order(k) for k in range(n + warmup)])

    def one() -> None:
        order = next(orders)
        risk.check(order, PORTFOLIO, order.timestamp_ns)

    return latencies_us(one, n, warmup=warmup)


def _noop() -> None:
    return None


def run() -> dict[str, float | int | str]:
    folder = Path(tempfile.mkdtemp(prefix="rtopt-bench-kill-"))
    api = measure_kill_latency(folder, route="api", trials=30)
    file = measure_kill_latency(folder, route="file", trials=10)
    rounds: dict[str, list[np.ndarray]] = {"all_on": [], "default": [], "with_order": [], "noop": []}
    for _ in range(ROUNDS):
        rounds["all_on"].append(_check_us(ALL_ON))
        rounds["default"].append(_check_us(RiskLimits()))
        rounds["with_order"].append(_check_us(ALL_ON, build=True))
        rounds["noop"].append(latencies_us(_noop, 20_000))

    def median(name: str, q: float) -> float:
        return round(float(np.median([pct(r, q) for r in rounds[name]])), 2)

    return {
        "kill_switch_ms": round(api.median_ms, 3),
        "kill_switch_max_ms": round(api.max_ms, 3),
        "kill_switch_file_ms": round(file.median_ms, 2),
        "risk_check_p50_us": median("all_on", 50),
        "risk_check_p99_us": median("all_on", 99),
        "risk_check_p99_rounds_us": " ".join(str(pct(r, 99)) for r in rounds["all_on"]),
        "risk_check_default_p99_us": median("default", 99),
        "risk_check_with_order_p99_us": median("with_order", 99),
        "risk_check_noop_p99_us": median("noop", 99),
    }


if __name__ == "__main__":
    out = run()
    print_table("safety: kill switch and pre-trade controls", [(k, v, "") for k, v in out.items()])
    print(json.dumps(out))
