"""The trading-state machine under random sequences of kills, resumes, losses, orders, CLI writes and restarts.

A ``RuleBasedStateMachine`` drives one ``PreTradeRisk`` (with a kill file) beside a model of the states
written from the spec, and after every step checks:

- the monitor's state is the model's;
- HALTED lets nothing through; REDUCING lets through only orders that shrink ``|position|`` without a flip;
- every change is an event with a cause and an author, chained (each starts where the last one ended);
- every move to HALTED ran ``on_halt`` once (working orders cancelled), except one restored at start-up;
- the kill file agrees with HALTED, so a restart at any point comes back in the same kill state.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from serving.safety.kill_switch import KillSwitchStore
from serving.safety.risk_controls import PreTradeRisk
from serving.safety.risk_limits import RiskLimits
from serving.safety.risk_types import OrderRequest, PortfolioView, StateChange, TradingState

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
LIMITS = RiskLimits(max_position=1.0, daily_loss_reduce=100.0, daily_loss_halt=300.0)
T0 = 1_700_000_000 * 10**9
UNIT = 2.0

causes = st.text(alphabet="abcdefgh xyz", min_size=1, max_size=12).filter(lambda s: s.strip() != "")
people = st.sampled_from(["alice", "bob", "carol"])


def after_losses(state: TradingState, loss: float) -> TradingState:
    """The spec: a halt limit trips the kill switch from anywhere; a reduce limit moves only ACTIVE."""
    if state is HALTED or loss >= 300.0:
        return HALTED
    if state is ACTIVE and loss >= 100.0:
        return REDUCING
    return state


class TradingStateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="risk-state-machine-"))
        self.path = self.folder / "kill_switch.json"
        self.halts: list[StateChange] = []
        self.risk = self._start()
        self.model = ACTIVE
        self.position, self.loss, self.n = 0.0, 0.0, 0

    def _start(self) -> PreTradeRisk:
        self.halts = []
        return PreTradeRisk(
            LIMITS, store=KillSwitchStore(self.path), on_halt=self.halts.append, poll_interval=timedelta(0)
        )

    def _portfolio(self) -> PortfolioView:
        return PortfolioView(positions={"BTC": self.position}, daily_pnl=-self.loss)

    def _observe(self) -> None:
        """The engine's per-event ``update``: the kill file is polled (every call here) and the losses applied."""
        self.risk.update(self._portfolio(), T0 + self.n)
        self.model = after_losses(self.model, self.loss)

    @rule(cause=causes, by=people)
    def kill(self, cause: str, by: str) -> None:
        self.risk.kill(cause, by=by)
        self.model = HALTED

    @rule(cause=causes, by=people)
    def resume(self, cause: str, by: str) -> None:
        self.risk.resume(cause, by)
        self.model = ACTIVE

    @rule(loss=st.floats(-50.0, 400.0))
    def mark_to_market(self, loss: float) -> None:
        """The day's PnL moves; the monitor sees it with the next order or update."""
        self.loss = loss

    @rule()
    def update(self) -> None:
        self._observe()

    @rule(cause=causes)
    def kill_from_cli(self, cause: str) -> None:
        KillSwitchStore(self.path).kill(cause, "cli", T0)
        self.model = HALTED
        self._observe()

    @rule(cause=causes, by=people)
    def resume_from_cli(self, cause: str, by: str) -> None:
        KillSwitchStore(self.path).resume(cause, by, T0)
        self.model = ACTIVE if self.model is HALTED else self.model
        self._observe()

    @rule()
    def restart(self) -> None:
        """A new process: HALTED comes back from the kill file; REDUCING is re-derived from the losses."""
        self.risk = self._start()
        self.model = HALTED if self.model is HALTED else ACTIVE

    @rule(delta=st.floats(-1.5, 1.5).filter(lambda d: abs(d) > 1e-6))
    def order(self, delta: float) -> None:
        self.n += 1
        order = OrderRequest(
            symbol="BTC",
            strategy="trend",
            delta=delta,
            quantity=delta * UNIT,
            limit_price=float("nan"),
            reference_mid=100.0,
            timestamp_ns=T0 + self.n,
            market_data_ns=T0 + self.n,
            idempotency_key=f"order-{self.n}",
        )
        self.model = after_losses(self.model, self.loss)

        decision = self.risk.check(order, self._portfolio(), T0 + self.n)

        assert decision.state is self.model
        if self.model is HALTED:
            assert not decision.allowed and decision.delta == 0.0
        if self.model is REDUCING and decision.allowed:
            after = self.position + decision.delta
            assert abs(after) < abs(self.position) and after * self.position >= 0.0
        if decision.allowed:
            assert abs(self.position + decision.delta) <= max(1.0, abs(self.position)) + 1e-12
            self.position += decision.delta  # filled at once: the next order sees the new position

    @invariant()
    def states_agree(self) -> None:
        assert self.risk.state is self.model

    @invariant()
    def every_change_has_a_cause_and_follows_the_last(self) -> None:
        events = self.risk.events
        for change in events:
            assert change.cause.strip() and change.by.strip() and change.previous is not change.state
        for before, after in itertools.pairwise(events):
            assert after.previous is before.state
        if events:
            assert events[-1].state is self.risk.state

    @invariant()
    def every_halt_cancelled_working_orders(self) -> None:
        halts = [c for c in self.risk.events if c.state is HALTED and not c.cause.startswith("restored")]
        assert self.halts == halts

    @invariant()
    def the_kill_file_holds_the_kill_state(self) -> None:
        assert KillSwitchStore(self.path).read().halted == (self.model is HALTED)

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


TradingStateMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None, database=None)
test_trading_state_machine = TradingStateMachine.TestCase
