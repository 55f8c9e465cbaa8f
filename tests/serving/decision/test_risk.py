"""RiskMonitor: position cap, daily loss limit (ACTIVE -> REDUCING), kill switch (HALTED), gross exposure cap."""

from __future__ import annotations

import pytest

from models.seeding import make_rng
from serving.decision.risk import RiskConfig, RiskMonitor, RiskVerdict, TradingState

CONFIG = RiskConfig(max_position=0.5, daily_loss_limit=1_000.0, max_gross_exposure=1.5)


def check(
    monitor: RiskMonitor, position: float, target: float, daily_pnl: float = 0.0, gross: float | None = None
) -> RiskVerdict:
    return monitor.check(
        position=position, target=target, daily_pnl=daily_pnl, gross_exposure=abs(position) if gross is None else gross
    )


@pytest.mark.parametrize(("target", "allowed"), [(0.9, 0.5), (-1.0, -0.5), (0.3, 0.3), (-0.5, -0.5)])
def test_check_given_target_beyond_max_position_returns_clamped_target(target: float, allowed: float) -> None:
    verdict = check(RiskMonitor(CONFIG), 0.0, target)

    assert verdict.target == allowed
    assert verdict.reason == ("max_position" if allowed != target else "")


def test_check_given_daily_loss_at_limit_returns_reducing_with_its_cause() -> None:
    monitor = RiskMonitor(CONFIG)

    verdict = check(monitor, 0.4, 0.5, daily_pnl=-1_000.0)

    assert monitor.state is TradingState.REDUCING
    assert (verdict.target, verdict.reason) == (0.4, "reducing_only")
    assert verdict.risk_score == 1.0  # the whole loss limit is used
    [change] = monitor.changes
    assert (change.previous, change.state) == (TradingState.ACTIVE, TradingState.REDUCING)
    assert change.cause == "daily loss 1000.00 reached the limit 1000.0"


def test_check_given_loss_short_of_limit_returns_active_and_target_unchanged() -> None:
    monitor = RiskMonitor(CONFIG)

    verdict = check(monitor, 0.1, 0.4, daily_pnl=-999.99)

    assert monitor.state is TradingState.ACTIVE and monitor.changes == []
    assert (verdict.target, verdict.reason) == (0.4, "")


@pytest.mark.parametrize(
    ("position", "target", "allowed", "reason"),
    [
        (0.4, 0.2, 0.2, ""),  # towards zero: passes
        (0.4, 0.0, 0.0, ""),
        (-0.4, -0.1, -0.1, ""),
        (0.4, 0.5, 0.4, "reducing_only"),  # adds: denied
        (0.4, -0.3, 0.0, "reducing_only"),  # flips: only the reducing part (to flat) passes
        (0.0, 0.3, 0.0, "reducing_only"),  # opens: denied
    ],
)
def test_check_given_reducing_state_returns_only_reducing_targets(
    position: float, target: float, allowed: float, reason: str
) -> None:
    monitor = RiskMonitor(CONFIG)
    check(monitor, 0.0, 0.0, daily_pnl=-2_000.0)

    verdict = check(monitor, position, target, daily_pnl=0.0)  # a recovered PnL does not lift REDUCING

    assert monitor.state is TradingState.REDUCING
    assert (verdict.target, verdict.reason) == (allowed, reason)


def test_check_given_kill_switch_returns_halted_and_target_denied_to_position() -> None:
    monitor = RiskMonitor(CONFIG)
    monitor.kill("operator")

    verdicts = [check(monitor, 0.3, t) for t in (0.5, 0.0, -0.5)]

    assert monitor.state is TradingState.HALTED
    assert [(v.target, v.reason) for v in verdicts] == [(0.3, "halted")] * 3


def test_resume_given_halted_returns_active_and_targets_pass_again() -> None:
    monitor = RiskMonitor(CONFIG)
    monitor.kill("operator")

    monitor.resume("checked by a person")
    verdict = check(monitor, 0.0, 0.4)

    assert monitor.state is TradingState.ACTIVE
    assert (verdict.target, verdict.reason) == (0.4, "")


def test_changes_given_loss_kill_twice_and_resume_returns_each_change_once_with_its_cause() -> None:
    monitor = RiskMonitor(CONFIG)

    check(monitor, 0.0, 0.0, daily_pnl=-1_500.0)
    monitor.kill("audit write failed")
    monitor.kill("again")  # already HALTED: no change
    monitor.resume("incident closed")

    assert [(c.previous, c.state, c.cause) for c in monitor.changes] == [
        (TradingState.ACTIVE, TradingState.REDUCING, "daily loss 1500.00 reached the limit 1000.0"),
        (TradingState.REDUCING, TradingState.HALTED, "kill switch: audit write failed"),
        (TradingState.HALTED, TradingState.ACTIVE, "resumed: incident closed"),
    ]
    assert [c.timestamp_ns for c in monitor.changes] == sorted(c.timestamp_ns for c in monitor.changes)


def test_check_given_gross_exposure_cap_returns_increase_cut_to_the_room_left() -> None:
    monitor = RiskMonitor(CONFIG)

    # 1.0 held in other symbols, 0.2 here: room for 0.5 here under the 1.5 cap
    at_cap = check(monitor, 0.2, 0.5, gross=1.2)
    short = check(monitor, 0.2, -0.5, gross=1.4)  # others 1.2: room 0.3
    reduce = check(monitor, 0.4, 0.1, gross=1.9)  # over the cap already: a reduction still passes

    assert (at_cap.target, at_cap.reason) == (0.5, "")
    assert short.target == pytest.approx(-0.3, abs=1e-12) and short.reason == "max_gross_exposure"
    assert (reduce.target, reduce.reason) == (0.1, "")
    assert monitor.state is TradingState.ACTIVE


def test_check_given_gross_exposure_over_cap_returns_target_within_room() -> None:
    monitor = RiskMonitor(RiskConfig(max_position=1.0, max_gross_exposure=1.5))

    verdict = check(monitor, 0.2, 0.9, gross=1.2)  # others 1.0: room 0.5

    assert verdict.target == pytest.approx(0.5, abs=1e-12) and verdict.reason == "max_gross_exposure"
    assert verdict.risk_score == 1.0


@pytest.mark.parametrize(
    "fields", [{"max_position": 0.0}, {"max_position": 1.5}, {"daily_loss_limit": 0.0}, {"max_gross_exposure": -1.0}]
)
def test_risk_config_given_out_of_range_field_raises_value_error_naming_it(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        RiskConfig(**fields)


def test_check_given_random_states_and_targets_returns_capped_and_never_growing_when_reducing() -> None:
    # A property over seeded draws (hypothesis is not a project dependency): 5000 cases, every state.
    rng = make_rng(11)
    for case in range(5_000):
        max_position = float(rng.uniform(0.05, 1.0))
        config = RiskConfig(max_position=max_position, daily_loss_limit=1_000.0, max_gross_exposure=3.0)
        monitor = RiskMonitor(config)
        state = case % 3
        if state == 2:
            monitor.kill("property")
        position = float(rng.uniform(-max_position, max_position))
        target = float(rng.uniform(-1.5, 1.5))
        daily_pnl = -1_000.0 if state == 1 else float(rng.uniform(-999.0, 500.0))
        gross = abs(position) + float(rng.uniform(0.0, 3.0))

        verdict = monitor.check(position=position, target=target, daily_pnl=daily_pnl, gross_exposure=gross)

        assert abs(verdict.target) <= max_position, (case, position, target)
        assert 0.0 <= verdict.risk_score <= 1.0
        if monitor.state is TradingState.REDUCING:
            assert abs(verdict.target) <= abs(position), (case, position, target)
            assert verdict.target * position >= 0.0
        if monitor.state is TradingState.HALTED:
            assert verdict.target == position
        if monitor.state is TradingState.ACTIVE and abs(verdict.target) > abs(position):
            assert gross - abs(position) + abs(verdict.target) <= 3.0 + 1e-12
