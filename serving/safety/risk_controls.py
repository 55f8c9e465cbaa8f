"""The pre-trade risk monitor: every new order passes ``PreTradeRisk.check`` before it goes out.

The trading state machine (nautilus_trader's states; every change a ``StateChange`` with its cause)::

    ACTIVE   --daily loss or drawdown reaches its *_reduce limit-->  REDUCING
    ACTIVE, REDUCING  --kill(), the kill file, or a *_halt limit-->  HALTED  (working orders cancelled)
    REDUCING, HALTED  --resume() by a person, or the kill file-->     ACTIVE

Only a person leaves REDUCING or HALTED. A resume while the loss is still over a limit is honoured, and the
next order moves the state again. HALTED is persisted (``KillSwitchStore``) and survives a restart.

Per order, in this order (the first denial wins; ``DenyReason`` says which):

1. the kill file, ``stat``ed at most every ``poll_interval`` (a CLI kill reaches a running engine);
2. HALTED denies at once, before the lock: ``kill`` raises a flag first, so an order in another thread is
   blocked without waiting for the lock or the kill file's fsync (``serving.safety.kill_latency``);
3. the loss limits move the state (``update``); the gates: empty order, disabled strategy, duplicate
   idempotency key, stale market data, the price collar (per order) and the price drift (over a window);
4. REDUCING: an order that grows or opens a position is denied, one that flips it is cut to flat;
5. the size limits (``serving.safety.size_caps``: order quantity and notional, position, volatility-scaled
   position, gross and net exposure, symbol and strategy concentration) cut the order to what fits;
6. the repeated-execution throttle (disables the strategy until ``reenable_strategy``) and the order-rate
   throttle (denies, never queues); the order is then forwarded and its idempotency key remembered.

Thread-safe: one lock guards the state, the limits and the counters. Cancels never come here: they always
pass, in every state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from serving.safety.kill_switch import KillFileError, KillSwitchRecord, KillSwitchStore
from serving.safety.risk_limits import ActiveLimits, LimitChange, RiskLimits, diff_limits, window_ns
from serving.safety.risk_types import (
    DenyReason,
    OrderRequest,
    PortfolioView,
    RiskDecision,
    StateChange,
    StrategyChange,
    TradingState,
)
from serving.safety.size_caps import reduces, tightest
from serving.safety.throttle import (
    IdempotencyKeys,
    OrderRateThrottle,
    PriceWindow,
    RepeatedExecutionThrottle,
    WindowCount,
)

MONITOR = "risk-monitor"
"""The ``by`` of an automatic change."""
_HALTED = RiskDecision(False, 0.0, 0.0, DenyReason.HALTED, TradingState.HALTED, 1.0)
"""The answer to every order while HALTED (an immutable tuple: one is shared)."""


class PreTradeRisk:
    """The pre-trade controls and the trading state machine (see the module docstring)."""

    def __init__(
        self,
        limits: RiskLimits | None = None,
        *,
        store: KillSwitchStore | None = None,
        on_halt: Callable[[StateChange], None] | None = None,
        poll_interval: timedelta = timedelta(milliseconds=50),
    ) -> None:
        """``on_halt`` runs (outside the lock) after every move to HALTED: the engine cancels working orders."""
        self._limits = limits or RiskLimits()
        self._lock = threading.Lock()
        self._state = TradingState.ACTIVE
        self._kill_requested = False
        self.events: list[StateChange] = []
        self.strategy_events: list[StrategyChange] = []
        self.limit_changes: list[LimitChange] = []
        self._disabled: dict[str, str] = {}
        self._rate = OrderRateThrottle(None, 1)
        self._repeats = RepeatedExecutionThrottle(None, 1)
        self._keys = IdempotencyKeys(1)
        self._mids = PriceWindow(1)
        self._apply_limits(self._limits)
        self._store, self._on_halt = store, on_halt
        self._poll_ns = window_ns(poll_interval)
        self._next_poll_ns = self._seen_seq = 0
        self._halts: list[StateChange] = []
        self._seen_signature: tuple[int, int, int] | None = None
        if store is not None:
            with self._lock:
                self._reload(time.time_ns(), "restored from the kill file")
                self._halts.clear()  # nothing is working yet: no orders to cancel on a restored HALTED

    # -- the order path -------------------------------------------------------------------------------

    def check(self, order: OrderRequest, portfolio: PortfolioView, now_ns: int) -> RiskDecision:
        """The part of ``order`` that may go out now, or its denial (``now_ns``: the engine's clock)."""
        if self._store is not None:
            self._poll_kill_file()
        if self._kill_requested or self._state is TradingState.HALTED:  # lock-free: a kill blocks at once
            return _HALTED
        with self._lock:
            self._apply_losses(portfolio.daily_loss, portfolio.drawdown, now_ns)
            decision = self._check_locked(order, portfolio, now_ns)
        if self._halts:
            self._run_on_halt()
        return decision

    def update(self, portfolio: PortfolioView, now_ns: int) -> TradingState:
        """Move the state on the loss limits without an order (the engine may call it on every event)."""
        return self.settle(portfolio.daily_loss, portfolio.drawdown, now_ns)

    def settle(self, daily_loss: float, drawdown: float, now_ns: int) -> TradingState:
        """``update`` on the two amounts the loss limits read (``PortfolioView.daily_loss`` and ``.drawdown``).

        The engine's call on every event without an order: no view of the book is built for it.
        """
        if self._store is not None:
            self._poll_kill_file()
        with self._lock:
            self._apply_losses(daily_loss, drawdown, now_ns)
            state = self._state
        if self._halts:
            self._run_on_halt()
        return state

    def _check_locked(self, order: OrderRequest, portfolio: PortfolioView, now_ns: int) -> RiskDecision:
        state = self._state
        anchor = self._mids.anchor(order.symbol, order.timestamp_ns, order.reference_mid)
        reason = self._gate(order, now_ns, anchor)
        if reason is DenyReason.NONE:
            delta, quantity, reason = self._size(order, portfolio)
            if delta == 0.0:
                return self._denied(reason, state, order, portfolio)
            flow = self._flow(order, now_ns)
            if flow is DenyReason.NONE:
                self._keys.add(order.idempotency_key)
                self._repeats.record(order.strategy, order.symbol, now_ns)
                score = self._score(order, portfolio, delta)
                return RiskDecision(True, delta, quantity, reason, state, score)
            reason = flow
        return self._denied(reason, state, order, portfolio)

    def _gate(self, order: OrderRequest, now_ns: int, anchor: float) -> DenyReason:
        """The yes-or-no controls before sizing."""
        limits = self._active
        if self._state is TradingState.HALTED:
            return DenyReason.HALTED
        if order.delta == 0.0:
            return DenyReason.EMPTY_ORDER
        if order.strategy in self._disabled:
            return DenyReason.STRATEGY_DISABLED
        if order.idempotency_key in self._keys:
            return DenyReason.DUPLICATE_ORDER
        age_ns = limits.max_market_data_age_ns
        if age_ns is not None and now_ns - order.market_data_ns > age_ns:
            return DenyReason.STALE_MARKET_DATA
        limit_price, mid = order.limit_price, order.reference_mid
        priced = limit_price == limit_price  # NaN: a market order, no limit to collar
        collar = limits.price_collar_bps
        if collar is not None and priced and _bps(limit_price, mid) > collar:
            return DenyReason.PRICE_COLLAR
        drift = limits.price_drift_bps
        if drift is not None and _bps(limit_price if priced else mid, anchor) > drift:
            return DenyReason.PRICE_DRIFT
        return DenyReason.NONE

    def _size(self, order: OrderRequest, portfolio: PortfolioView) -> tuple[float, float, DenyReason]:
        """(delta, quantity) after REDUCING and the size limits, and the control that cut it."""
        position = portfolio.positions.get(order.symbol, 0.0)
        reason = DenyReason.NONE
        if self._state is TradingState.REDUCING and not reduces(position, order.delta):
            if position == 0.0 or (position > 0.0) == (order.delta > 0.0):  # opens or grows
                return 0.0, 0.0, DenyReason.REDUCING_ONLY
            quantity = -position * (order.quantity / order.delta)  # a flip: keep the part that closes the position
            if quantity == 0.0:  # a dust position whose quantity underflows: nothing to close
                return 0.0, 0.0, DenyReason.REDUCING_ONLY
            order, reason = replace(order, delta=-position, quantity=quantity), DenyReason.REDUCING_ONLY
        cap_reason, fraction = tightest(order, portfolio, self._active)
        if fraction >= 1.0:
            return order.delta, order.quantity, reason
        if fraction == 0.0 or not self._active.cut_oversize:
            return 0.0, 0.0, cap_reason
        return order.delta * fraction, order.quantity * fraction, cap_reason

    def _flow(self, order: OrderRequest, now_ns: int) -> DenyReason:
        """The throttles, last: only an order that would otherwise go out uses up their budget."""
        if self._repeats.would_exceed(order.strategy, order.symbol, now_ns):
            limits = self._limits
            cause = (
                f"more than {limits.max_repeated_executions} orders on {order.symbol} within "
                f"{limits.repeated_execution_window}"
            )
            self._disable(order.strategy, cause, now_ns)
            return DenyReason.REPEATED_EXECUTION
        if not self._rate.admit(now_ns):
            return DenyReason.ORDER_RATE
        return DenyReason.NONE

    def _denied(
        self, reason: DenyReason, state: TradingState, order: OrderRequest, portfolio: PortfolioView
    ) -> RiskDecision:
        score = 1.0 if state is TradingState.HALTED else self._score(order, portfolio, 0.0)
        return RiskDecision(False, 0.0, 0.0, reason, state, score)

    def _score(self, order: OrderRequest, portfolio: PortfolioView, delta: float) -> float:
        """The largest use of the position and loss limits after the order, capped at 1."""
        limits, score = self._active, 0.0
        if (max_position := limits.max_position) is not None:
            score = abs(portfolio.positions.get(order.symbol, 0.0) + delta) / max_position
        if (loss := limits.daily_loss_reduce) is not None and (used := portfolio.daily_loss / loss) > score:
            score = used
        if (drawdown := limits.drawdown_reduce) is not None and (used := portfolio.drawdown / drawdown) > score:
            score = used
        return score if score < 1.0 else 1.0  # min(1.0, score), spelled out: once per order

    # -- the state machine ----------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def disabled_strategies(self) -> dict[str, str]:
        with self._lock:
            return dict(self._disabled)

    def kill(self, cause: str, *, by: str = "operator", now_ns: int | None = None) -> StateChange | None:
        """The kill switch: HALTED now (the next order is denied), then persisted, then ``on_halt``."""
        _require(cause=cause, by=by)
        stamp = time.time_ns() if now_ns is None else now_ns
        self._kill_requested = True  # seen by the lock-free check before this thread gets the lock
        with self._lock:
            change = self._move(TradingState.HALTED, cause, by, stamp)
            self._kill_requested = False
            self._persist(lambda r: replace(r, halted=True, cause=cause, by=by, timestamp_ns=stamp))
        self._run_on_halt()
        return change

    def resume(self, cause: str, by: str, *, now_ns: int | None = None) -> StateChange | None:
        """A person's decision to trade again: ACTIVE, persisted."""
        _require(cause=cause, by=by)
        stamp = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            change = self._move(TradingState.ACTIVE, cause, by, stamp)
            self._persist(lambda r: replace(r, halted=False, cause=cause, by=by, timestamp_ns=stamp))
        self._run_on_halt()
        return change

    def reduce(self, cause: str, by: str) -> StateChange | None:
        """REDUCING now (HALTED stays HALTED), e.g. after a model rollback; only a person's ``resume`` leaves it."""
        _require(cause=cause, by=by)
        with self._lock:
            halted = self._state is TradingState.HALTED
            return None if halted else self._move(TradingState.REDUCING, cause, by, time.time_ns())

    def reenable_strategy(self, strategy: str, by: str, *, cause: str = "re-enabled by a person") -> StrategyChange:
        """Lift the repeated-execution throttle's block on ``strategy`` (only a person may)."""
        _require(strategy=strategy, by=by, cause=cause)
        with self._lock:
            self._disabled.pop(strategy, None)
            self._repeats.forget(strategy)
            change = StrategyChange(time.time_ns(), strategy, True, cause, by)
            self.strategy_events.append(change)
            self._persist(lambda r: replace(r, disabled_strategies=_without(r.disabled_strategies, strategy)))
        self._run_on_halt()
        return change

    def set_limits(self, new: RiskLimits, by: str) -> LimitChange:
        """Swap the limits; the next check sees them. Returns the audit record (authentication is the caller's)."""
        _require(by=by)
        with self._lock:
            old, self._limits = self._limits, new
            self._apply_limits(new)
            record = LimitChange(time.time_ns(), by, diff_limits(old, new))
            self.limit_changes.append(record)
        return record

    def throttle_windows(self) -> list[WindowCount]:
        """The order-rate throttle's counters per fixed window (received, forwarded, denied)."""
        with self._lock:
            return self._rate.windows()

    def status(self) -> dict[str, Any]:
        with self._lock:
            events = self.events
            return {
                "trading_state": self._state.value,
                "risk_events": [{**c._asdict(), "previous": c.previous.value, "state": c.state.value} for c in events],
                "disabled_strategies": dict(self._disabled),
                "limits": self._limits.to_dict(),
                "limit_changes": [c.to_dict() for c in self.limit_changes],
            }

    # -- internals (the caller holds the lock) ----------------------------------------------------------

    def _move(self, state: TradingState, cause: str, by: str, now_ns: int) -> StateChange | None:
        if state is self._state:
            return None
        change = StateChange(now_ns, self._state, state, cause, by)
        self.events.append(change)
        self._state = state
        if state is TradingState.HALTED:
            self._halts.append(change)
        return change

    def _apply_losses(self, loss: float, drawdown: float, now_ns: int) -> None:
        """The daily loss and drawdown limits: REDUCING, then HALTED (tripping the kill switch)."""
        limits = self._active
        if self._state is TradingState.HALTED:
            return
        if loss < limits.loss_floor and drawdown < limits.drawdown_floor:
            return  # below every loss limit, nothing can move (nearly every event): skip the two breach checks
        cause = limits.loss_breach(loss, drawdown, "halt")
        if cause:
            self._move(TradingState.HALTED, cause, MONITOR, now_ns)
            self._persist(lambda r: replace(r, halted=True, cause=cause, by=MONITOR, timestamp_ns=now_ns))
        elif self._state is TradingState.ACTIVE:
            cause = limits.loss_breach(loss, drawdown, "reduce")
            if cause:
                self._move(TradingState.REDUCING, cause, MONITOR, now_ns)

    def _disable(self, strategy: str, cause: str, now_ns: int) -> None:
        self._disabled[strategy] = cause
        self.strategy_events.append(StrategyChange(now_ns, strategy, False, cause, MONITOR))
        self._persist(lambda r: replace(r, disabled_strategies={**r.disabled_strategies, strategy: cause}))

    def _apply_limits(self, limits: RiskLimits) -> None:
        self._active = ActiveLimits.of(limits)
        self._rate.limit, self._rate.window_ns = limits.max_orders_per_window, window_ns(limits.order_rate_window)
        self._repeats.limit = limits.max_repeated_executions
        self._repeats.window_ns = window_ns(limits.repeated_execution_window)
        self._keys.capacity = limits.idempotency_keys_kept
        self._mids.window_ns = window_ns(limits.price_drift_window)

    def _persist(self, change: Callable[[KillSwitchRecord], KillSwitchRecord]) -> None:
        """Write ``change`` over the file's current record, then adopt the result.

        The write builds on what is in the file, so a kill or a disabled strategy written by someone else since
        the last poll is kept, and adopted here. The file's signature is left to the next poll: it re-reads once
        and, seeing no newer seq, adopts nothing.
        """
        if self._store is None:
            return
        self._adopt(self._store.update(change), "kill file", time.time_ns())

    # -- the kill file ----------------------------------------------------------------------------------

    def _poll_kill_file(self) -> None:
        if self._store is None:
            return
        tick = time.monotonic_ns()
        if tick < self._next_poll_ns:
            return
        with self._lock:
            self._next_poll_ns = tick + self._poll_ns
            self._reload(time.time_ns(), "kill file")
        self._run_on_halt()

    def _reload(self, now_ns: int, source: str) -> None:
        """Adopt the kill file when it changed and holds a newer record; an unreadable one halts."""
        assert self._store is not None
        signature = self._store.signature()
        if signature is None or signature == self._seen_signature:
            return
        self._seen_signature = signature
        try:
            record = self._store.read()
        except KillFileError as error:
            self._move(TradingState.HALTED, f"{source} unreadable, failing safe: {error}", MONITOR, now_ns)
            return
        if record.seq > self._seen_seq:
            self._adopt(record, source, now_ns)

    def _adopt(self, record: KillSwitchRecord, source: str, now_ns: int) -> None:
        self._seen_seq = record.seq
        self._disabled = dict(record.disabled_strategies)
        if record.halted:
            self._move(TradingState.HALTED, f"{source}: {record.cause}", record.by, now_ns)
        elif self._state is TradingState.HALTED:
            self._move(TradingState.ACTIVE, f"{source}: {record.cause}", record.by, now_ns)

    def _run_on_halt(self) -> None:
        """``on_halt`` for every move to HALTED since the last call, outside the lock (it may take others)."""
        if not self._halts:  # the hot path: no lock; a thread that records a halt always runs this after
            return
        with self._lock:
            halts, self._halts = self._halts, []
        if self._on_halt is not None:
            for change in halts:
                self._on_halt(change)


def _bps(price: float, reference: float) -> float:
    return abs(price - reference) / reference * 1e4


def _without(mapping: Mapping[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k != key}


def _require(**values: str) -> None:
    for name, value in values.items():
        if not value.strip():
            raise ValueError(f"{name}: required, got {value!r}")
