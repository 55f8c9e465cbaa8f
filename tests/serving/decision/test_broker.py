"""PaperBroker: golden fills, costs and PnL on hand-made ticks, and parity with the trading env's cost model."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from models.env import ExecutionConfig, MarketReplay, TradingEnv, TradingEnvConfig
from models.env.execution import Orders
from models.marketdata.samples import SAMPLES
from models.seeding import make_rng
from serving.decision.broker import BrokerConfig, PaperBroker, Tick, quote_of

SYMBOL = "TEST"
NAN = math.nan
EXECUTION = ExecutionConfig(fee_bps=10.0, impact_bps=20.0, volatility_slippage=0.5, fallback_spread_bps=2.0)
# max_notional / first close (100) = 100 units per full position: quote PnL = 100 * (PnL per unit position)
CONFIG = BrokerConfig(execution=EXECUTION, max_notional=10_000.0)
MINUTE_NS = 60 * 10**9
T0_NS = int(datetime(2024, 1, 1, 23, 58, tzinfo=UTC).timestamp()) * 10**9


def tick(minute: int, close: float, high: float, low: float, bid: float, ask: float) -> Tick:
    return Tick(T0_NS + minute * MINUTE_NS, close, high, low, bid, ask)


# The last two ticks fall on 2024-01-02 (UTC): the daily PnL restarts at T2.
T0 = tick(0, 100.0, 100.5, 99.5, 99.5, 100.5)
T1 = tick(1, 102.0, 103.0, 99.8, 101.5, 102.5)
T2 = tick(2, 103.0, 104.0, 102.0, 102.5, 103.5)
T3 = tick(3, 102.8, 103.2, 102.4, 102.3, 103.3)


def send(broker: PaperBroker, at: Tick, target: float, entry: float, exit_: float, volatility: float) -> Orders:
    orders = broker.interpreter.interpret((target, entry, exit_), broker.position(SYMBOL))
    broker.submit(SYMBOL, orders, at.bid, at.ask, volatility)
    return orders


def long_half_at_t1() -> PaperBroker:
    """Buy 0.5 at T0 (limit 100.0, volatility 0.001), filled in T1 at 100.15."""
    broker = PaperBroker(CONFIG)
    broker.on_event(SYMBOL, T0)
    send(broker, T0, 0.5, 0.5, 0.0, 0.001)
    broker.on_event(SYMBOL, T1)
    return broker


def test_on_event_given_buy_limit_reached_by_next_low_returns_hand_computed_fill_pnl_and_cost() -> None:
    broker = PaperBroker(CONFIG)
    broker.on_event(SYMBOL, T0)
    send(broker, T0, 0.5, 0.5, 0.0, 0.001)

    step = broker.on_event(SYMBOL, T1)

    # limit = 99.5 + 0.5 * 1.0 = 100.0 >= low 99.8; slip = 20 bps * 0.5 + 0.5 * 10 bps = 15 bps
    price = 100.0 * 1.0015
    fee = 0.5 * price * 1e-3
    assert step.position == 0.5 and step.filled == 0.5
    assert step.pnl == pytest.approx(100.0 * 0.5 * (102.0 - 100.0), rel=1e-12)  # mid 100, close 102
    assert step.cost == pytest.approx(100.0 * (0.5 * (price - 100.0) + fee), rel=1e-12)
    assert step.cost == pytest.approx(12.5075, rel=1e-12)
    assert step.net_bps == pytest.approx(87.4925, rel=1e-12)  # (100 - 12.5075) / 10_000 * 1e4
    assert broker.entry_price(SYMBOL) == pytest.approx(100.15, rel=1e-12)
    assert broker.equity() == pytest.approx(87.4925, rel=1e-12)
    assert broker.positions()[SYMBOL]["quantity"] == pytest.approx(50.0, rel=1e-12)


def test_on_event_given_buy_limit_above_next_low_returns_no_fill_and_order_gone() -> None:
    broker = PaperBroker(CONFIG)
    broker.on_event(SYMBOL, T0)
    send(broker, T0, 0.5, 0.5, 0.0, 0.001)

    missed = broker.on_event(SYMBOL, T1._replace(low=100.01))
    later = broker.on_event(SYMBOL, T2._replace(low=50.0))

    assert missed == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert later.position == 0.0  # one-bar order life: not worked against later events
    assert broker.equity() == 0.0 and broker.positions()[SYMBOL]["fills"] == 0.0


def test_on_event_given_add_then_partial_reduce_returns_averaged_then_kept_entry_price() -> None:
    broker = long_half_at_t1()
    send(broker, T1, 1.0, 1.0, 0.0, 0.0)  # buy 0.5 more at the ask 102.5, slip 20 bps * 0.5 = 10 bps

    added = broker.on_event(SYMBOL, T2)

    add_price = 102.5 * 1.001
    assert added.position == 1.0
    assert broker.entry_price(SYMBOL) == pytest.approx((0.5 * 100.15 + 0.5 * add_price) / 1.0, rel=1e-12)
    assert broker.entry_price(SYMBOL) == pytest.approx(101.37625, rel=1e-12)
    assert added.pnl == pytest.approx(100.0 * (0.5 * (103.0 - 102.0) + 0.5 * (103.0 - 102.0)), rel=1e-12)
    assert added.cost == pytest.approx(35.255125, rel=1e-12)

    # to -0.5: exit leg -1.0 passive at the ask 103.5 (above T3's high 103.2: no fill), entry leg -0.5 at the bid
    send(broker, T2, -0.5, 1.0, 0.0, 0.0)
    reduced = broker.on_event(SYMBOL, T3)

    sell_price = 102.5 * (1.0 - 0.001)
    assert reduced.position == 0.5 and reduced.filled == -0.5
    assert broker.entry_price(SYMBOL) == pytest.approx(101.37625, rel=1e-12)
    assert reduced.pnl == pytest.approx(100.0 * (1.0 * (102.8 - 103.0) - 0.5 * (102.8 - 103.0)), rel=1e-12)
    assert reduced.cost == pytest.approx(100.0 * (-0.5 * (sell_price - 103.0) + 0.5 * sell_price * 1e-3), rel=1e-12)
    assert reduced.cost == pytest.approx(35.244875, rel=1e-12)


def test_on_event_given_flip_long_to_short_returns_two_legs_and_entry_at_the_entry_fill() -> None:
    broker = long_half_at_t1()
    send(broker, T1, -0.5, 1.0, 1.0, 0.0)  # both legs hit the bid 101.5, each slips 10 bps

    flipped = broker.on_event(SYMBOL, T2)

    price = 101.5 * (1.0 - 0.001)
    assert flipped.position == -0.5 and flipped.filled == -1.0
    assert broker.entry_price(SYMBOL) == pytest.approx(price, rel=1e-12)
    assert flipped.pnl == pytest.approx(100.0 * (0.5 * (103.0 - 102.0) - 1.0 * (103.0 - 102.0)), rel=1e-12)
    assert flipped.cost == pytest.approx(2 * 100.0 * (-0.5 * (price - 102.0) + 0.5 * price * 1e-3), rel=1e-12)
    assert broker.positions()[SYMBOL]["fills"] == 3.0


def test_on_event_given_held_position_without_order_returns_mark_to_market_pnl() -> None:
    # Regression: a symbol without a working order was not marked, so a held position's PnL (and loss) vanished.
    broker = long_half_at_t1()

    held = broker.on_event(SYMBOL, T2)

    assert held.position == 0.5 and held.filled == 0.0 and held.cost == 0.0
    assert held.pnl == pytest.approx(100.0 * 0.5 * (103.0 - 102.0), rel=1e-12)
    assert held.net_bps == pytest.approx(50.0, rel=1e-12)
    assert broker.equity() == pytest.approx(87.4925 + 50.0, rel=1e-12)


def test_equity_given_fills_and_marks_returns_cash_plus_position_at_last_close() -> None:
    broker = long_half_at_t1()
    send(broker, T1, 1.0, 1.0, 0.0, 0.0)
    broker.on_event(SYMBOL, T2)
    send(broker, T2, -0.5, 1.0, 0.0, 0.0)
    broker.on_event(SYMBOL, T3)

    fills = [(0.5, 100.0 * 1.0015), (0.5, 102.5 * 1.001), (-0.5, 102.5 * 0.999)]  # (qty, price) per full position
    cash = -sum(q * p + abs(q) * p * 1e-3 for q, p in fills) * 100.0
    assert broker.equity() == pytest.approx(cash + 0.5 * 100.0 * 102.8, rel=1e-12)


def test_daily_pnl_given_utc_midnight_between_events_returns_pnl_since_midnight_only() -> None:
    broker = long_half_at_t1()
    before_midnight = broker.daily_pnl()

    broker.on_event(SYMBOL, T2)  # 2024-01-02 00:00: held 0.5 from close 102 to 103
    after_first = broker.daily_pnl()
    broker.on_event(SYMBOL, T3)

    assert before_midnight == pytest.approx(87.4925, rel=1e-12)
    assert after_first == pytest.approx(50.0, rel=1e-12)
    assert broker.daily_pnl() == pytest.approx(50.0 + 100.0 * 0.5 * (102.8 - 103.0), rel=1e-12)
    assert broker.equity() == pytest.approx(87.4925 + 40.0, rel=1e-12)


def test_cancel_all_given_working_order_returns_count_and_next_event_does_not_fill() -> None:
    broker = PaperBroker(CONFIG)
    broker.on_event(SYMBOL, T0)
    broker.on_event("OTHER", T0)
    send(broker, T0, 0.5, 1.0, 0.0, 0.0)

    cancelled, again = broker.cancel_all(), broker.cancel_all()
    step = broker.on_event(SYMBOL, T1)

    assert (cancelled, again) == (1, 0)
    assert step.position == 0.0 and broker.equity() == 0.0


def test_submit_given_symbol_never_seen_raises_key_error() -> None:
    broker = PaperBroker(CONFIG)

    with pytest.raises(KeyError, match="UNSEEN"):
        broker.submit("UNSEEN", Orders(0.5, 0.0, 0.0, 0.5, 1.0), 99.0, 101.0, 0.0)


@pytest.mark.parametrize(
    ("next_tick", "fills"),
    [
        (Tick(T0_NS + MINUTE_NS, 100.1, NAN, NAN, 99.9, 100.3), False),  # quote: buy limit 100.0 < ask 100.3
        (Tick(T0_NS + MINUTE_NS, 99.8, NAN, NAN, 99.7, 99.95), True),  # quote: ask 99.95 <= limit
        (Tick(T0_NS + MINUTE_NS, 100.0, NAN, NAN, NAN, NAN), True),  # trade at the limit
        (Tick(T0_NS + MINUTE_NS, 100.01, NAN, NAN, NAN, NAN), False),  # trade above it
    ],
)
def test_on_event_given_next_event_without_range_returns_fill_only_when_market_comes_through(
    next_tick: Tick, fills: bool
) -> None:
    broker = PaperBroker(CONFIG)
    broker.on_event(SYMBOL, T0)
    send(broker, T0, 0.5, 0.5, 0.0, 0.0)  # buy limit 100.0

    step = broker.on_event(SYMBOL, next_tick)

    assert step.position == (0.5 if fills else 0.0)


@pytest.mark.parametrize(("bid", "ask"), [(NAN, NAN), (101.0, 100.0), (0.0, 100.0)])
def test_quote_of_given_missing_or_insane_quote_returns_fallback_spread_around_close(bid: float, ask: float) -> None:
    half = PaperBroker(CONFIG).execution.fallback_half_spread  # 2 bps spread -> 1 bp each side

    quote = quote_of(Tick(0, 100.0, NAN, NAN, bid, ask), half)

    assert quote == pytest.approx((99.99, 100.01), rel=1e-12)


# -- one cost model: the broker and the trading env agree on a real replay ------------------------------


def _actions(n: int) -> list[np.ndarray]:
    """A new random action every third step, else the last one again (holds once it has filled)."""
    draws = make_rng(7).uniform([-1.0, 0.0, 0.0], [1.0, 1.0, 1.0], size=(n, 3)).astype(np.float32)
    return [draws[k - k % 3] for k in range(n)]


def test_paper_broker_given_env_actions_on_btc_replay_returns_env_positions_and_net_pnl() -> None:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    replay = MarketReplay.from_bars(sample.load().frame.iloc[:1_200], sample.kind)
    steps = 400
    env = TradingEnv(replay, TradingEnvConfig(episode_length=steps, execution=EXECUTION))
    start = replay.first_valid
    env.reset(options={"start": start})
    broker = PaperBroker(BrokerConfig(execution=EXECUTION, max_notional=50_000.0))
    prices = (replay.close, replay.high, replay.low, replay.bid, replay.ask)
    ticks = [
        Tick(int(replay.timestamps_ns[i]), *(float(a[i]) for a in prices)) for i in range(start, start + steps + 1)
    ]
    broker.on_event(SYMBOL, ticks[0])
    positions, fills = [], 0

    for k, action in enumerate(_actions(steps)):
        orders = broker.interpreter.interpret(action, broker.position(SYMBOL))
        bid, ask = quote_of(ticks[k], broker.execution.fallback_half_spread)
        broker.submit(SYMBOL, orders, bid, ask, float(replay.volatility[start + k]))
        step = broker.on_event(SYMBOL, ticks[k + 1])
        _, _, _, _, info = env.step(action)
        positions.append((step.position, info["position"]))
        fills += info["filled"] != 0.0
        # env equity: quote PnL * reward_scale / notional (first close); broker: quote PnL on max_notional / first close
        assert broker.equity() / 50_000.0 * 1e4 == pytest.approx(info["equity"], rel=1e-9, abs=1e-9)

    assert all(mine == env_position for mine, env_position in positions)
    assert fills > 50 and any(p == 0.0 for p, _ in positions) and any(p < 0.0 for p, _ in positions)
