"""Each pre-trade control against an independent oracle (hypothesis), and the kill switch's guarantees.

The oracles are written from the limits' definitions, not from the implementation: a size limit's allowed
fraction of an order is found by bisection on the post-trade measure computed straight from the book; the
flow controls replay the order sequence with plain lists. Only one control is on in each property test,
so a difference points at that control.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from serving.decision.gates import settled_verdict
from serving.safety.kill_latency import measure_kill_latency
from serving.safety.kill_switch import KillSwitchStore
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import DenyReason, OrderRequest, PortfolioView, RiskDecision, TradingState

SETTINGS = settings(max_examples=200, deadline=None, database=None)
OFF = RiskLimits(max_position=None, daily_loss_reduce=None)
"""Every control off: each test turns on the one it checks."""
UNIT = 2.5
"""Asset units per full position of the order's symbol."""
T0 = 1_700_000_000 * 10**9
MS = 10**6

deltas = st.floats(-2.0, 2.0, allow_nan=False).filter(lambda d: abs(d) > 1e-6)
positions = st.floats(-1.5, 1.5, allow_nan=False)
mids = st.floats(1.0, 10_000.0, allow_nan=False)
others = st.dictionaries(
    st.sampled_from(["ETH", "SOL", "XRP"]),
    st.tuples(st.floats(-50.0, 50.0, allow_nan=False), st.floats(1.0, 1_000.0, allow_nan=False)),
    max_size=3,
)


def make_order(delta: float, *, n: int = 0, **fields: object) -> OrderRequest:
    values: dict[str, object] = {
        "symbol": "BTC",
        "strategy": "trend",
        "delta": delta,
        "quantity": delta * UNIT,
        "limit_price": math.nan,
        "reference_mid": 100.0,
        "timestamp_ns": T0 + n,
        "market_data_ns": T0 + n,
        "idempotency_key": f"order-{n}",
    }
    return OrderRequest(**{**values, **fields})  # type: ignore[arg-type]


def book(position: float, mid: float, held: dict[str, tuple[float, float]], **fields: object) -> PortfolioView:
    quantities = {symbol: qty for symbol, (qty, _) in held.items()} | {"BTC": position * UNIT}
    prices = {symbol: price for symbol, (_, price) in held.items()} | {"BTC": mid}
    return PortfolioView(positions={"BTC": position}, quantities=quantities, prices=prices, **fields)  # type: ignore[arg-type]


# -- the oracles --------------------------------------------------------------------------------------------


def oracle_fraction(measure: Callable[[float], float], limit: float) -> float:
    """The largest t in [0, 1] with measure(t) <= max(limit, measure(0)), by bisection (measure convex in t)."""
    bound = max(limit, measure(0.0))
    end = measure(1.0)
    assume(abs(end - bound) > 1e-9 * max(1.0, bound))  # on the boundary itself float rounding decides
    if end <= bound:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(100):
        middle = (low + high) / 2.0
        if measure(middle) <= bound:
            low = middle
        else:
            high = middle
    return low


def shrinks(position: float, delta: float) -> bool:
    """The order only brings the position towards zero (it may close it, never flips it)."""
    after = position + delta
    return after == 0.0 or (math.copysign(1.0, after) == math.copysign(1.0, position) and abs(after) < abs(position))


def assert_cut(decision: RiskDecision, order: OrderRequest, fraction: float, reason: DenyReason) -> None:
    expected = order.quantity * fraction
    assert math.isclose(decision.quantity, expected, rel_tol=1e-6, abs_tol=1e-9 * (1.0 + abs(order.quantity)))
    assert math.isclose(decision.delta, order.delta * fraction, rel_tol=1e-6, abs_tol=1e-9)
    if fraction == 1.0:
        assert decision.allowed and decision.reason is DenyReason.NONE
    else:
        assert decision.reason is reason
        assert decision.allowed == (decision.delta != 0.0)


def check_one(limits: RiskLimits, order: OrderRequest, portfolio: PortfolioView) -> RiskDecision:
    return PreTradeRisk(limits).check(order, portfolio, order.timestamp_ns)


# -- the size limits ----------------------------------------------------------------------------------------


@SETTINGS
@given(delta=deltas, limit=st.floats(0.01, 10.0), price=st.one_of(st.just(math.nan), mids))
def test_check_given_max_order_quantity_cuts_to_the_limit(delta: float, limit: float, price: float) -> None:
    order = make_order(delta, limit_price=price)
    fraction = oracle_fraction(lambda t: abs(order.quantity * t), limit)

    decision = check_one(replace(OFF, max_order_quantity=limit), order, PortfolioView())

    assert_cut(decision, order, fraction, DenyReason.MAX_ORDER_QUANTITY)
    assert abs(decision.quantity) <= limit * (1 + 1e-12)


@SETTINGS
@given(delta=deltas, limit=st.floats(0.01, 10.0))
def test_check_given_max_order_quantity_and_no_cutting_denies_oversize(delta: float, limit: float) -> None:
    order = make_order(delta)
    assume(abs(abs(order.quantity) - limit) > 1e-9)

    decision = check_one(replace(OFF, max_order_quantity=limit, cut_oversize=False), order, PortfolioView())

    assert decision.allowed == (abs(order.quantity) <= limit)
    assert decision.reason is (DenyReason.NONE if decision.allowed else DenyReason.MAX_ORDER_QUANTITY)
    assert decision.quantity == (order.quantity if decision.allowed else 0.0)


@SETTINGS
@given(delta=deltas, mid=mids, limit_price=st.one_of(st.just(math.nan), mids), limit=st.floats(1.0, 50_000.0))
def test_check_given_max_order_notional_values_the_order_at_its_limit_or_the_mid(
    delta: float, mid: float, limit_price: float, limit: float
) -> None:
    order = make_order(delta, reference_mid=mid, limit_price=limit_price)
    price = mid if math.isnan(limit_price) else limit_price
    fraction = oracle_fraction(lambda t: abs(order.quantity * t) * price, limit)

    decision = check_one(replace(OFF, max_order_notional=limit), order, PortfolioView())

    assert_cut(decision, order, fraction, DenyReason.MAX_ORDER_NOTIONAL)


@SETTINGS
@given(position=positions, delta=deltas, limit=st.floats(0.05, 1.5))
def test_check_given_max_position_cuts_growth_and_never_blocks_a_reduction(
    position: float, delta: float, limit: float
) -> None:
    order = make_order(delta)
    fraction = 1.0 if shrinks(position, delta) else oracle_fraction(lambda t: abs(position + delta * t), limit)

    decision = check_one(replace(OFF, max_position=limit), order, book(position, 100.0, {}))

    assert_cut(decision, order, fraction, DenyReason.MAX_POSITION)


@SETTINGS
@given(
    position=positions,
    delta=deltas,
    target=st.floats(1e-4, 0.05),
    volatility=st.floats(0.0, 0.2),
    max_position=st.one_of(st.none(), st.floats(0.2, 1.5)),
)
def test_check_given_volatility_target_scales_the_position_cap_by_target_over_volatility(
    position: float, delta: float, target: float, volatility: float, max_position: float | None
) -> None:
    order = make_order(delta, volatility=volatility)
    scale = min(1.0, target / volatility) if volatility > 0 else 1.0
    capped = max_position is not None or scale < 1.0
    cap = (1.0 if max_position is None else max_position) * scale
    grows = capped and not shrinks(position, delta)
    fraction = oracle_fraction(lambda t: abs(position + delta * t), cap) if grows else 1.0
    limits = replace(OFF, volatility_target=target, max_position=max_position)

    decision = check_one(limits, order, book(position, 100.0, {}))

    expected = DenyReason.VOLATILITY_SIZING if volatility > target else DenyReason.MAX_POSITION
    assert_cut(decision, order, fraction, expected)


@SETTINGS
@given(position=positions, delta=deltas, mid=mids, held=others, limit=st.floats(10.0, 50_000.0))
def test_check_given_max_gross_exposure_holds_the_sum_of_absolute_values(
    position: float, delta: float, mid: float, held: dict[str, tuple[float, float]], limit: float
) -> None:
    order = make_order(delta, reference_mid=mid)

    def gross(t: float) -> float:
        rest = sum(abs(qty * price) for qty, price in held.values())
        return rest + abs((position + delta * t) * UNIT * mid)

    fraction = 1.0 if shrinks(position, delta) else oracle_fraction(gross, limit)

    decision = check_one(replace(OFF, max_gross_exposure=limit), order, book(position, mid, held))

    assert_cut(decision, order, fraction, DenyReason.MAX_GROSS_EXPOSURE)


@SETTINGS
@given(position=positions, delta=deltas, mid=mids, held=others, limit=st.floats(10.0, 50_000.0))
def test_check_given_max_net_exposure_holds_the_absolute_signed_sum(
    position: float, delta: float, mid: float, held: dict[str, tuple[float, float]], limit: float
) -> None:
    order = make_order(delta, reference_mid=mid)

    def net(t: float) -> float:
        rest = sum(qty * price for qty, price in held.values())
        return abs(rest + (position + delta * t) * UNIT * mid)

    fraction = 1.0 if shrinks(position, delta) else oracle_fraction(net, limit)

    decision = check_one(replace(OFF, max_net_exposure=limit), order, book(position, mid, held))

    assert_cut(decision, order, fraction, DenyReason.MAX_NET_EXPOSURE)


@SETTINGS
@given(
    position=positions,
    delta=deltas,
    mid=mids,
    capital=st.floats(1_000.0, 100_000.0),
    share=st.floats(0.01, 1.0),
)
def test_check_given_symbol_concentration_holds_the_symbols_share_of_capital(
    position: float, delta: float, mid: float, capital: float, share: float
) -> None:
    order = make_order(delta, reference_mid=mid)
    fraction = (
        1.0
        if shrinks(position, delta)
        else oracle_fraction(lambda t: abs((position + delta * t) * UNIT * mid) / capital, share)
    )

    decision = check_one(replace(OFF, max_symbol_concentration=share), order, book(position, mid, {}, capital=capital))

    assert_cut(decision, order, fraction, DenyReason.SYMBOL_CONCENTRATION)


@SETTINGS
@given(
    position=positions,
    strategy_btc=st.floats(-3.0, 3.0),
    delta=deltas,
    held=others,
    capital=st.floats(1_000.0, 100_000.0),
    share=st.floats(0.01, 1.0),
)
def test_check_given_strategy_concentration_holds_the_strategys_gross_share_of_capital(
    position: float,
    strategy_btc: float,
    delta: float,
    held: dict[str, tuple[float, float]],
    capital: float,
    share: float,
) -> None:
    order = make_order(delta)
    strategy = {symbol: qty / 2.0 for symbol, (qty, _) in held.items()} | {"BTC": strategy_btc}

    def opened(t: float) -> float:
        rest = sum(abs(strategy[s] * price) for s, (_, price) in held.items())
        return (rest + abs((strategy_btc + order.quantity * t) * order.reference_mid)) / capital

    fraction = 1.0 if shrinks(position, delta) else oracle_fraction(opened, share)
    portfolio = book(position, 100.0, held, capital=capital, strategy_quantities={"trend": strategy})

    decision = check_one(replace(OFF, max_strategy_concentration=share), order, portfolio)

    assert_cut(decision, order, fraction, DenyReason.STRATEGY_CONCENTRATION)


@SETTINGS
@given(
    position=positions,
    delta=deltas,
    mid=mids,
    held=others,
    limits=st.fixed_dictionaries(
        {
            "max_order_quantity": st.floats(0.1, 5.0),
            "max_order_notional": st.floats(10.0, 50_000.0),
            "max_position": st.floats(0.1, 1.5),
            "max_gross_exposure": st.floats(10.0, 50_000.0),
            "max_net_exposure": st.floats(10.0, 50_000.0),
            "max_symbol_concentration": st.floats(0.01, 1.0),
        }
    ),
)
def test_check_given_every_size_limit_lets_through_only_what_fits_them_all(
    position: float, delta: float, mid: float, held: dict[str, tuple[float, float]], limits: dict[str, Any]
) -> None:
    capital = 10_000.0
    decision = check_one(
        replace(OFF, **limits), make_order(delta, reference_mid=mid), book(position, mid, held, capital=capital)
    )

    def measures(t: float) -> dict[str, float]:
        btc = (position + delta * t) * UNIT * mid
        values = [qty * price for qty, price in held.values()]
        return {
            "max_order_quantity": abs(delta * t * UNIT),
            "max_order_notional": abs(delta * t * UNIT) * mid,
            "max_position": abs(position + delta * t),
            "max_gross_exposure": sum(abs(v) for v in values) + abs(btc),
            "max_net_exposure": abs(sum(values) + btc),
            "max_symbol_concentration": abs(btc) / capital,
        }

    fraction = decision.delta / delta
    after, now = measures(fraction), measures(0.0)
    per_order = ("max_order_quantity", "max_order_notional")
    for name, value in after.items():
        if shrinks(position, delta) and name not in per_order:
            continue
        assert value <= max(limits[name], now[name]) * (1 + 1e-9) + 1e-12, name
    assert 0.0 <= fraction <= 1.0


# -- the yes-or-no gates ------------------------------------------------------------------------------------


@SETTINGS
@given(mid=mids, offset_bps=st.floats(-500.0, 500.0), collar=st.floats(1.0, 300.0))
def test_check_given_price_collar_denies_a_limit_price_too_far_from_the_mid(
    mid: float, offset_bps: float, collar: float
) -> None:
    limit_price = mid * (1.0 + offset_bps / 1e4)
    distance = abs(limit_price / mid - 1.0) * 1e4
    assume(abs(distance - collar) > 1e-6)

    decision = check_one(
        replace(OFF, price_collar_bps=collar),
        make_order(0.1, reference_mid=mid, limit_price=limit_price),
        PortfolioView(),
    )

    assert decision.allowed == (distance <= collar)
    assert decision.reason is (DenyReason.NONE if decision.allowed else DenyReason.PRICE_COLLAR)


@SETTINGS
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 40_000), st.floats(-80.0, 80.0), st.floats(-30.0, 30.0)), min_size=1, max_size=30
    ),
    drift=st.floats(5.0, 150.0),
)
def test_check_given_price_drift_compares_the_order_with_the_oldest_mid_in_the_window(
    steps: list[tuple[int, float, float]], drift: float
) -> None:
    window = timedelta(seconds=60)
    risk = PreTradeRisk(replace(OFF, price_drift_bps=drift, price_drift_window=window))
    seen: list[tuple[int, float]] = []
    now, mid = T0, 100.0
    for n, (step_ms, move_bps, offset_bps) in enumerate(steps):
        now, mid = now + step_ms * MS, mid * (1.0 + move_bps / 1e4)
        limit_price = mid * (1.0 + offset_bps / 1e4)
        seen.append((now, mid))
        anchor = next(m for t, m in seen if t > now - 60_000 * MS)
        distance = abs(limit_price / anchor - 1.0) * 1e4
        assume(abs(distance - drift) > 1e-6)
        order = make_order(0.1, n=n, reference_mid=mid, limit_price=limit_price, timestamp_ns=now)

        decision = risk.check(order, PortfolioView(), now)

        assert decision.allowed == (distance <= drift), n
        assert decision.reason is (DenyReason.NONE if decision.allowed else DenyReason.PRICE_DRIFT)


@SETTINGS
@given(lag_ms=st.integers(-1_000, 10_000), max_age_ms=st.integers(1, 5_000))
def test_check_given_market_data_older_than_the_limit_denies_stale(lag_ms: int, max_age_ms: int) -> None:
    limits = replace(OFF, max_market_data_age=timedelta(milliseconds=max_age_ms))
    order = make_order(0.1, market_data_ns=T0 - lag_ms * MS)

    decision = PreTradeRisk(limits).check(order, PortfolioView(), T0)

    assert decision.allowed == (lag_ms <= max_age_ms)
    assert decision.reason is (DenyReason.NONE if decision.allowed else DenyReason.STALE_MARKET_DATA)


@SETTINGS
@given(keys=st.lists(st.sampled_from([f"k{i}" for i in range(6)]), max_size=40), kept=st.integers(1, 8))
def test_check_given_a_forwarded_idempotency_key_denies_its_duplicate(keys: list[str], kept: int) -> None:
    risk = PreTradeRisk(replace(OFF, idempotency_keys_kept=kept))
    forwarded: list[str] = []
    for n, key in enumerate(keys):
        duplicate = key in forwarded[-kept:]

        decision = risk.check(make_order(0.1, n=n, idempotency_key=key), PortfolioView(), T0 + n)

        assert decision.allowed == (not duplicate)
        assert decision.reason is (DenyReason.DUPLICATE_ORDER if duplicate else DenyReason.NONE)
        if decision.allowed:
            forwarded.append(key)


# -- the throttles -------------------------------------------------------------------------------------------


@SETTINGS
@given(gaps_ms=st.lists(st.integers(0, 60), min_size=1, max_size=120), limit=st.integers(1, 6))
def test_check_given_order_rate_limit_denies_never_queues_and_every_window_balances(
    gaps_ms: list[int], limit: int
) -> None:
    window = 100 * MS
    risk = PreTradeRisk(replace(OFF, max_orders_per_window=limit, order_rate_window=timedelta(milliseconds=100)))
    sent: list[int] = []
    counts: dict[int, list[int]] = {}
    now = T0
    for n, gap in enumerate(gaps_ms):
        now += gap * MS
        expected = sum(1 for t in sent if t > now - window) < limit

        decision = risk.check(make_order(0.1, n=n), PortfolioView(), now)

        assert decision.allowed == expected
        assert decision.reason is (DenyReason.NONE if expected else DenyReason.ORDER_RATE)
        sent += [now] if expected else []
        tally = counts.setdefault(now - now % window, [0, 0, 0])
        tally[0], tally[1], tally[2] = tally[0] + 1, tally[1] + expected, tally[2] + (not expected)
    windows = risk.throttle_windows()
    assert {w.start_ns: [w.received, w.forwarded, w.denied] for w in windows} == counts
    assert all(w.forwarded <= limit and w.forwarded + w.denied == w.received for w in windows)


@SETTINGS
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["order", "order", "order", "reenable"]),
            st.sampled_from(["a", "b"]),
            st.sampled_from(["BTC", "ETH"]),
            st.integers(0, 30),
        ),
        min_size=1,
        max_size=60,
    ),
    limit=st.integers(1, 4),
)
def test_check_given_repeated_executions_disables_the_strategy_until_a_person_reenables_it(
    events: list[tuple[str, str, str, int]], limit: int
) -> None:
    window = 60 * 1_000 * MS
    limits = replace(OFF, max_repeated_executions=limit, repeated_execution_window=timedelta(seconds=60))
    risk = PreTradeRisk(limits)
    disabled: set[str] = set()
    sent: dict[tuple[str, str], list[int]] = {}
    now = T0
    for n, (kind, strategy, symbol, gap_s) in enumerate(events):
        now += gap_s * 1_000 * MS
        if kind == "reenable":
            risk.reenable_strategy(strategy, by="alice")
            disabled.discard(strategy)
            sent = {k: v for k, v in sent.items() if k[0] != strategy}
            continue
        recent = [t for t in sent.get((strategy, symbol), []) if t > now - window]
        expected = (
            DenyReason.STRATEGY_DISABLED
            if strategy in disabled
            else DenyReason.REPEATED_EXECUTION
            if len(recent) >= limit
            else DenyReason.NONE
        )
        order = make_order(0.1, n=n, strategy=strategy, symbol=symbol, timestamp_ns=now)

        decision = risk.check(order, PortfolioView(), now)

        assert decision.reason is expected
        if expected is DenyReason.REPEATED_EXECUTION:
            disabled.add(strategy)
        if expected is DenyReason.NONE:
            sent.setdefault((strategy, symbol), []).append(now)
    assert set(risk.disabled_strategies) == disabled


def test_check_given_many_threads_in_one_window_forwards_exactly_the_limit() -> None:
    risk = PreTradeRisk(replace(OFF, max_orders_per_window=50, order_rate_window=timedelta(seconds=10)))
    allowed: list[bool] = []

    def send(thread: int) -> None:
        for i in range(200):
            order = make_order(0.1, idempotency_key=f"t{thread}-{i}")
            allowed.append(risk.check(order, PortfolioView(), T0).allowed)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) == 50 and len(allowed) == 1_600
    assert [tuple(w)[2:] for w in risk.throttle_windows()] == [(1_600, 50, 1_550)]


# -- the loss limits and REDUCING ---------------------------------------------------------------------------


@SETTINGS
@given(
    daily_pnl=st.floats(-1_000.0, 500.0),
    drawdown=st.floats(0.0, 1_000.0),
    loss_reduce=st.floats(10.0, 400.0),
    loss_extra=st.floats(0.0, 400.0),
    drawdown_reduce=st.floats(10.0, 400.0),
    drawdown_extra=st.floats(0.0, 400.0),
)
def test_update_given_losses_moves_to_reducing_then_halted_and_cancels_on_halt(
    daily_pnl: float,
    drawdown: float,
    loss_reduce: float,
    loss_extra: float,
    drawdown_reduce: float,
    drawdown_extra: float,
) -> None:
    limits = replace(
        OFF,
        daily_loss_reduce=loss_reduce,
        daily_loss_halt=loss_reduce + loss_extra,
        drawdown_reduce=drawdown_reduce,
        drawdown_halt=drawdown_reduce + drawdown_extra,
    )
    equity, peak = 1_000.0 - drawdown, 1_000.0
    loss, drawdown = -daily_pnl, peak - equity
    halt = loss >= loss_reduce + loss_extra or drawdown >= drawdown_reduce + drawdown_extra
    reduce = loss >= loss_reduce or drawdown >= drawdown_reduce
    expected = TradingState.HALTED if halt else TradingState.REDUCING if reduce else TradingState.ACTIVE
    cancelled: list[object] = []
    risk = PreTradeRisk(limits, on_halt=cancelled.append)

    state = risk.update(PortfolioView(daily_pnl=daily_pnl, equity=equity, peak_equity=peak), T0)

    assert state is expected
    assert len(cancelled) == int(halt)
    assert len(risk.events) == int(expected is not TradingState.ACTIVE)
    assert all(c.cause and c.by == "risk-monitor" for c in risk.events)
    # the engine's path without an order reads the same two amounts without building the view
    twin = PreTradeRisk(limits)
    verdict = settled_verdict(twin, 0.25, daily_pnl, equity, peak, T0)
    assert twin.state is expected
    assert verdict.target == 0.25
    assert verdict.reason == ("halted" if halt else "")


@pytest.mark.parametrize("field", ["daily_pnl", "equity", "peak_equity"])
def test_settled_verdict_given_money_that_is_not_finite_raises_naming_the_fields(field: str) -> None:
    money = {"daily_pnl": 0.0, "equity": 10.0, "peak_equity": 10.0} | {field: math.nan}

    with pytest.raises(ValueError, match="daily_pnl, equity, peak_equity: must be finite"):
        settled_verdict(PreTradeRisk(OFF), 0.0, now_ns=T0, **money)


@SETTINGS
@given(position=positions, delta=deltas)
def test_check_given_reducing_passes_reductions_cuts_flips_to_flat_and_denies_growth(
    position: float, delta: float
) -> None:
    risk = PreTradeRisk(replace(OFF, daily_loss_reduce=100.0))
    losing = book(position, 100.0, {}, daily_pnl=-150.0)
    order = make_order(delta)

    decision = risk.check(order, losing, T0)

    assert decision.state is TradingState.REDUCING
    if shrinks(position, delta):
        assert decision.allowed and decision.delta == delta and decision.reason is DenyReason.NONE
    elif position != 0.0 and (position < 0.0) == (delta > 0.0) and position * UNIT != 0.0:  # a flip: only the close
        assert decision.allowed and decision.delta == -position and decision.reason is DenyReason.REDUCING_ONLY
        assert math.isclose(decision.quantity, -position * UNIT, rel_tol=1e-9, abs_tol=1e-300)
    else:
        assert not decision.allowed and decision.reason is DenyReason.REDUCING_ONLY


# -- limits while running, the kill switch, persistence -----------------------------------------------------


def test_set_limits_given_a_lower_quantity_limit_the_next_check_sees_it_and_the_record_says_who() -> None:
    risk = PreTradeRisk(replace(OFF, max_order_quantity=100.0))
    assert risk.check(make_order(4.0, n=1), PortfolioView(), T0).quantity == 10.0

    record = risk.set_limits(replace(OFF, max_order_quantity=5.0), by="alice")
    decision = risk.check(make_order(4.0, n=2), PortfolioView(), T0)

    assert decision.quantity == 5.0 and decision.reason is DenyReason.MAX_ORDER_QUANTITY
    assert record.by == "alice" and record.changes == (("max_order_quantity", 100.0, 5.0),)
    assert record.to_dict()["changes"] == [{"field": "max_order_quantity", "old": 100.0, "new": 5.0}]
    assert risk.limit_changes == [record]
    with pytest.raises(ValueError, match="by"):
        risk.set_limits(OFF, by=" ")


def test_kill_given_working_orders_halts_denies_everything_and_cancels_via_on_halt() -> None:
    cancelled: list[str] = []
    risk = PreTradeRisk(OFF, on_halt=lambda change: cancelled.append(change.cause))

    risk.kill("fat finger on ETH", by="bob")

    assert risk.state is TradingState.HALTED and cancelled == ["fat finger on ETH"]
    decision = risk.check(make_order(-0.1), book(0.5, 100.0, {}), T0)
    assert not decision.allowed and decision.reason is DenyReason.HALTED
    assert risk.events[-1][1:] == (TradingState.ACTIVE, TradingState.HALTED, "fat finger on ETH", "bob")


def test_kill_given_a_restart_the_new_monitor_starts_halted_until_a_person_resumes(tmp_path: Path) -> None:
    path = tmp_path / "risk" / "kill_switch.json"
    PreTradeRisk(OFF, store=KillSwitchStore(path)).kill("exchange outage", by="carol")

    restarted = PreTradeRisk(OFF, store=KillSwitchStore(path))

    assert restarted.state is TradingState.HALTED
    assert "exchange outage" in restarted.events[-1].cause and restarted.events[-1].by == "carol"
    assert not restarted.check(make_order(0.1), PortfolioView(), T0).allowed
    restarted.resume("outage over", by="carol")
    assert PreTradeRisk(OFF, store=KillSwitchStore(path)).state is TradingState.ACTIVE


def test_check_given_a_loss_halt_persists_it_so_a_restart_stays_halted(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    risk = PreTradeRisk(replace(OFF, daily_loss_reduce=100.0, daily_loss_halt=200.0), store=KillSwitchStore(path))

    risk.check(make_order(0.1), PortfolioView(daily_pnl=-250.0), T0)

    assert KillSwitchStore(path).read().halted
    assert PreTradeRisk(OFF, store=KillSwitchStore(path)).state is TradingState.HALTED


def test_check_given_the_kill_file_written_by_another_process_halts_within_the_poll(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    cancelled: list[str] = []
    risk = PreTradeRisk(
        OFF, store=KillSwitchStore(path), on_halt=lambda c: cancelled.append(c.by), poll_interval=timedelta(0)
    )
    assert risk.check(make_order(0.1, n=1), PortfolioView(), T0).allowed

    KillSwitchStore(path).kill("from the shell", "cli:dave", T0)
    decision = risk.check(make_order(0.1, n=2), PortfolioView(), T0)

    assert decision.reason is DenyReason.HALTED and cancelled == ["cli:dave"]
    KillSwitchStore(path).resume("all clear", "erin", T0)
    assert risk.check(make_order(0.1, n=3), PortfolioView(), T0).allowed
    assert [c.state for c in risk.events] == [TradingState.HALTED, TradingState.ACTIVE]


def test_init_given_an_unreadable_kill_file_fails_safe_to_halted(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    path.write_text("{not json")

    risk = PreTradeRisk(OFF, store=KillSwitchStore(path))

    assert risk.state is TradingState.HALTED and "unreadable" in risk.events[-1].cause


def test_reenable_strategy_given_a_disabled_strategy_survives_a_restart_until_a_person_acts(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    limits = replace(OFF, max_repeated_executions=1)
    risk = PreTradeRisk(limits, store=KillSwitchStore(path))
    risk.check(make_order(0.1, n=1), PortfolioView(), T0)
    assert risk.check(make_order(0.1, n=2), PortfolioView(), T0).reason is DenyReason.REPEATED_EXECUTION

    restarted = PreTradeRisk(limits, store=KillSwitchStore(path))
    assert restarted.check(make_order(0.1, n=3), PortfolioView(), T0).reason is DenyReason.STRATEGY_DISABLED
    change = restarted.reenable_strategy("trend", by="frank")

    assert change.enabled and change.by == "frank"
    assert restarted.check(make_order(0.1, n=4), PortfolioView(), T0).allowed
    assert KillSwitchStore(path).read().disabled_strategies == {}


@pytest.mark.parametrize("route", ["api", "file"])
def test_measure_kill_latency_given_orders_in_another_thread_blocks_within_100_ms(route: str, tmp_path: Path) -> None:
    latency = measure_kill_latency(tmp_path, route=route, trials=10)  # type: ignore[arg-type]

    print(f"kill latency ({route}): median {latency.median_ms:.3f} ms, max {latency.max_ms:.3f} ms")
    assert latency.median_ms < 100.0
    if route == "api":
        assert latency.max_ms < 100.0


# -- validation at the boundary -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_order_quantity": 0.0}, "max_order_quantity"),
        ({"max_position": -1.0}, "max_position"),
        ({"daily_loss_reduce": 100.0, "daily_loss_halt": 50.0}, "daily_loss_halt"),
        ({"max_orders_per_window": 0}, "max_orders_per_window"),
        ({"order_rate_window": timedelta(0)}, "order_rate_window"),
    ],
)
def test_risk_limits_given_an_invalid_value_raises_naming_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RiskLimits(**fields)  # type: ignore[arg-type]


def test_risk_limits_given_its_dict_round_trips_and_rejects_unknown_fields() -> None:
    limits = replace(OFF, max_market_data_age=timedelta(seconds=2), max_gross_exposure=math.inf)

    assert RiskLimits.from_dict(limits.to_dict()) == limits
    assert limits.limit("max_gross_exposure") is None
    with pytest.raises(ValueError, match="unknown"):
        RiskLimits.from_dict({"max_leverage": 3.0})


def test_inputs_given_inconsistent_values_raise() -> None:
    with pytest.raises(ValueError, match="same sign"):
        make_order(0.1, quantity=-0.25)
    with pytest.raises(ValueError, match="price"):
        PortfolioView(quantities={"ETH": 1.0})
    with pytest.raises(ValueError, match="capital"):
        check_one(replace(OFF, max_symbol_concentration=0.5), make_order(0.1), PortfolioView())
