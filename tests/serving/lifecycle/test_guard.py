"""The rollback guard alone: it trips on the drawdown since the promotion, only while it watches."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from serving.lifecycle.guard import GuardConfig, RollbackGuard, reducing_orders, retried
from serving.lifecycle.promotion import PromotionResult

OLD = {"actor": "rtopt-ppo/1"}
NEW = {"actor": "rtopt-ppo/2"}


def test_observe_given_drawdown_from_peak_reaching_limit_returns_trip_naming_both_champions() -> None:
    guard = RollbackGuard(GuardConfig(watch_decisions=100, drawdown_limit_bps=50.0))
    guard.arm(OLD, NEW)

    results = [guard.observe(v) for v in (30.0, -40.0, -39.0)]

    trip = results[-1]
    assert results[:2] == [None, None]
    assert trip is not None and trip.decisions == 3
    assert trip.drawdown_bps == pytest.approx(79.0)  # peak 30, now -49
    assert dict(trip.tripped) == NEW and dict(trip.restored) == OLD
    assert "drew down 79.0 bps (limit 50.0)" in trip.cause
    assert not guard.armed


def test_observe_given_gains_then_small_losses_returns_no_trip() -> None:
    guard = RollbackGuard(GuardConfig(watch_decisions=100, drawdown_limit_bps=50.0))
    guard.arm(OLD, NEW)

    assert all(guard.observe(v) is None for v in (10.0, -20.0, 15.0, -40.0))


def test_observe_given_watch_window_passed_returns_no_trip_after_it() -> None:
    guard = RollbackGuard(GuardConfig(watch_decisions=3, drawdown_limit_bps=50.0))
    guard.arm(OLD, NEW)

    for _ in range(3):
        assert guard.observe(-1.0) is None

    assert not guard.armed and guard.passed == 1
    assert guard.observe(-500.0) is None


def test_observe_given_unarmed_guard_returns_none() -> None:
    guard = RollbackGuard(GuardConfig(watch_decisions=3, drawdown_limit_bps=50.0))

    assert guard.observe(-500.0) is None


def test_arm_given_watch_decisions_zero_returns_false_and_stays_off() -> None:
    guard = RollbackGuard(GuardConfig(watch_decisions=0, drawdown_limit_bps=50.0))

    assert guard.arm(OLD, NEW) is False
    assert guard.observe(-500.0) is None


def test_guard_config_given_nonpositive_limit_raises_naming_field() -> None:
    with pytest.raises(ValueError, match="drawdown_limit_bps"):
        GuardConfig(drawdown_limit_bps=0.0)


def test_reducing_orders_given_one_shard_tripped_returns_every_other_shard_once() -> None:
    trip = {"timestamp_ns": 7, "cause": "rollback guard: drew down"}
    healths = [{"shard": 0}, {"shard": 1, "guard_trip": trip}, {"shard": 2}]
    spread: set[str] = set()

    first = reducing_orders(healths, spread)
    again = reducing_orders(healths, spread)

    assert first == [(0, trip["cause"]), (2, trip["cause"])]
    assert again == []


def test_reducing_orders_given_a_later_trip_on_the_same_shard_returns_it_too() -> None:
    spread: set[str] = set()
    reducing_orders([{"guard_trip": {"timestamp_ns": 1, "cause": "a"}}, {}], spread)

    later = reducing_orders([{"guard_trip": {"timestamp_ns": 2, "cause": "b"}}, {}], spread)

    assert later == [(1, "b")]


def _flaky(failures: int, answer: PromotionResult | str) -> tuple[list[int], Callable[[], PromotionResult | str]]:
    calls: list[int] = []

    def attempt() -> PromotionResult | str:
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError(f"registry unreachable ({len(calls)})")
        return answer

    return calls, attempt


def test_retried_given_two_failures_then_success_waits_the_delays_and_names_the_failures() -> None:
    done = PromotionResult(
        action="rollback", status="done", reason="guard", by="rollback-guard", previous=OLD, champion=OLD
    )
    calls, attempt = _flaky(2, done)
    slept: list[float] = []

    answered, note = retried(attempt, (1.0, 2.0, 4.0), wanted=lambda: True, sleep=slept.append)

    assert answered and len(calls) == 3 and slept == [1.0, 2.0]
    assert note.startswith("registry rollback done")
    assert "after 2 failed tries, last: ConnectionError: registry unreachable (2)" in note


def test_retried_given_failures_past_every_delay_stops_and_says_how_many() -> None:
    calls, attempt = _flaky(10, "never")
    slept: list[float] = []

    answered, note = retried(attempt, (1.0, 2.0), wanted=lambda: True, sleep=slept.append)

    assert not answered and len(calls) == 3 and slept == [1.0, 2.0]
    assert note == "alias move failed: 3 tries, last: ConnectionError: registry unreachable (3)"


def test_retried_given_the_move_no_longer_wanted_stops_after_the_failure() -> None:
    calls, attempt = _flaky(10, "never")
    slept: list[float] = []

    answered, note = retried(attempt, (1.0, 2.0), wanted=lambda: False, sleep=slept.append)

    assert not answered and len(calls) == 1 and slept == []
    assert note.startswith("alias move failed: 1 tries")


def test_retried_given_registry_moved_on_returns_its_answer_without_retry() -> None:
    calls, attempt = _flaky(0, "registry champion is {...}, not the tripped {...}: aliases left alone")

    answered, note = retried(attempt, (1.0,), wanted=lambda: True, sleep=lambda s: None)

    assert answered and len(calls) == 1 and note.endswith("aliases left alone")
