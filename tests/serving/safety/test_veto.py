"""The veto gate: which rules hold a decision, who may resolve it, timeouts, masks and the audit records."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from serving.decision.records import Action, Decision
from serving.safety.auth import Role
from serving.safety.veto import (
    PendingVeto,
    Trigger,
    VetoAlreadyResolvedError,
    VetoForbiddenError,
    VetoGate,
    VetoNotFoundError,
    VetoOutcome,
    VetoRequest,
    VetoRule,
    VetoRules,
    veto_id_of,
)

T0 = 1_700_000_000 * 10**9
S = 10**9
VERSIONS = {"actor": "3", "bandit": "2", "regime": "1"}


class ManualClock:
    """Epoch nanoseconds that move only when the test says so."""

    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * S)


def request(n: int = 1, **overrides: Any) -> VetoRequest:
    fields: dict[str, Any] = {
        "decision_id": f"BTC-PERP:{T0 + n}:e{n}:champion",
        "symbol": "BTC-PERP",
        "strategy": "trend",
        "previous_position": 0.0,
        "position_size": 0.2,
        "confidence": 0.9,
        "explored": False,
        "propensity": 0.9,
        "regime": "sideways",
        "model_versions": VERSIONS,
    }
    return VetoRequest(**{**fields, **overrides})


ALWAYS = VetoRules(max_size=0.0)
"""Every order is held (any size is above 0)."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def held(gate: VetoGate, n: int = 1, **overrides: Any) -> PendingVeto:
    veto = gate.review(request(n, **overrides))
    assert veto is not None
    return veto


def test_review_given_default_rules_returns_none() -> None:
    gate = VetoGate()

    assert gate.review(request(position_size=1.0, confidence=0.01, explored=True, regime="high_volatility")) is None
    assert gate.pending() == ()


@pytest.mark.parametrize(
    ("rules", "overrides", "rule", "detail"),
    [
        (
            VetoRules(max_size=0.5),
            {"previous_position": -0.1, "position_size": 0.5},
            VetoRule.MAX_SIZE,
            "|delta| 0.6 > 0.5",
        ),
        (VetoRules(min_confidence=0.6), {"confidence": 0.5}, VetoRule.MIN_CONFIDENCE, "confidence 0.5 < 0.6"),
        (
            VetoRules(hold_exploratory=True),
            {"explored": True, "propensity": 0.05},
            VetoRule.EXPLORATORY,
            "exploratory choice of trend (propensity 0.05)",
        ),
        (
            VetoRules(hold_regimes=frozenset({"high_volatility"})),
            {"regime": "high_volatility"},
            VetoRule.REGIME,
            "regime high_volatility",
        ),
        (VetoRules(first_n_after_promotion=1), {}, VetoRule.NEW_MODEL, "decision 1 of 1 after promotion"),
    ],
)
def test_review_given_one_rule_tripped_returns_a_pending_veto_naming_it(
    clock: ManualClock, rules: VetoRules, overrides: dict[str, Any], rule: VetoRule, detail: str
) -> None:
    veto = VetoGate(rules, clock).review(request(**overrides))

    assert veto is not None
    assert veto.triggers == (Trigger(rule=rule, detail=detail),)
    assert (veto.created_ns, veto.deadline_ns, veto.default_outcome) == (T0, T0 + 300 * S, VetoOutcome.REJECTED)


@pytest.mark.parametrize(
    ("rules", "overrides"),
    [
        (VetoRules(max_size=0.5), {"position_size": 0.5}),  # at the limit is not above it
        (VetoRules(min_confidence=0.6), {"confidence": 0.6}),
        (VetoRules(hold_exploratory=True), {"explored": False}),
        (VetoRules(hold_regimes=frozenset({"high_volatility"})), {"regime": "breakout"}),
    ],
)
def test_review_given_a_rule_not_tripped_returns_none(rules: VetoRules, overrides: dict[str, Any]) -> None:
    assert VetoGate(rules).review(request(**overrides)) is None


def test_review_given_several_rules_tripped_returns_every_rule_in_order() -> None:
    rules = VetoRules(max_size=0.1, min_confidence=0.5, hold_exploratory=True)

    veto = held(VetoGate(rules), confidence=0.2, explored=True)

    assert [t.rule for t in veto.triggers] == [VetoRule.MAX_SIZE, VetoRule.MIN_CONFIDENCE, VetoRule.EXPLORATORY]


def test_review_given_a_newly_promoted_model_holds_only_its_first_n_decisions() -> None:
    gate = VetoGate(VetoRules(first_n_after_promotion=2))
    promoted = {**VERSIONS, "actor": "4"}

    outcomes = [
        gate.review(request(1)) is not None,
        gate.review(request(2)) is not None,
        gate.review(request(3)) is not None,
        gate.review(request(4, model_versions=promoted)) is not None,
        gate.review(request(5, model_versions=promoted)) is not None,
        gate.review(request(6, model_versions=promoted)) is not None,
    ]

    assert outcomes == [True, True, False, True, True, False]


def test_review_given_a_decision_already_held_raises() -> None:
    gate = VetoGate(ALWAYS)
    held(gate)

    with pytest.raises(ValueError, match="already reviewed"):
        gate.review(request())


def test_approve_given_a_risk_officer_returns_the_resolution_and_audits_both_changes(clock: ManualClock) -> None:
    audited: list[dict[str, Any]] = []
    gate = VetoGate(ALWAYS, clock, on_change=audited.append)
    veto = held(gate)
    clock.advance(12)

    resolution = gate.approve(veto.veto_id, by="risk:carol", role=Role.RISK, reason="size checked with the desk")

    assert (resolution.outcome, resolution.by, resolution.role, resolution.timed_out) == (
        VetoOutcome.APPROVED,
        "risk:carol",
        Role.RISK,
        False,
    )
    assert resolution.resolved_ns == T0 + 12 * S
    assert gate.pending() == () and gate.resolved() == (resolution,)
    assert audited == [veto.to_dict(), resolution.to_dict()]
    assert audited[0]["event"] == "veto_pending" and audited[0]["request"]["propensity"] == 0.9
    assert audited[1]["event"] == "veto_resolved" and audited[1]["outcome"] == "approved"


@pytest.mark.parametrize(("by", "role"), [("trader:dan", Role.TRADER), ("Engine", Role.ADMIN)])
def test_approve_given_a_trader_or_the_proposer_raises_forbidden(by: str, role: Role) -> None:
    gate = VetoGate(ALWAYS)
    veto = held(gate)

    with pytest.raises(VetoForbiddenError) as raised:
        gate.approve(veto.veto_id, by=by, role=role, reason="looks fine")

    assert raised.value.status == 403 and gate.pending() == (veto,)


def test_approve_given_distinct_approver_not_required_lets_the_proposer_answer() -> None:
    gate = VetoGate(replace(ALWAYS, require_distinct_approver=False))
    veto = held(gate, proposer="trader:dan")

    resolution = gate.reject(veto.veto_id, by="trader:dan", role=Role.ADMIN, reason="changed my mind")

    assert resolution.outcome is VetoOutcome.REJECTED


def test_approve_given_an_unknown_id_raises_not_found() -> None:
    with pytest.raises(VetoNotFoundError) as raised:
        VetoGate(ALWAYS).approve("0123456789abcdef", by="risk:carol", role=Role.RISK, reason="ok")

    assert raised.value.status == 404


def test_reject_given_an_already_resolved_veto_raises_conflict() -> None:
    gate = VetoGate(ALWAYS)
    veto = held(gate)
    gate.approve(veto.veto_id, by="risk:carol", role=Role.RISK, reason="ok")

    with pytest.raises(VetoAlreadyResolvedError, match="already approved") as raised:
        gate.reject(veto.veto_id, by="admin:erin", role=Role.ADMIN, reason="too late")

    assert raised.value.status == 409


@pytest.mark.parametrize(("by", "reason"), [("", "ok"), ("risk:carol", "  ")])
def test_approve_given_no_name_or_reason_raises(by: str, reason: str) -> None:
    gate = VetoGate(ALWAYS)
    veto = held(gate)

    with pytest.raises(ValueError, match="required"):
        gate.approve(veto.veto_id, by=by, role=Role.RISK, reason=reason)


def test_expire_given_a_passed_deadline_applies_the_reject_default(clock: ManualClock) -> None:
    audited: list[dict[str, Any]] = []
    gate = VetoGate(replace(ALWAYS, timeout_s=60.0), clock, on_change=audited.append)
    veto = held(gate)
    clock.advance(59.999)
    early = gate.expire()
    clock.advance(0.001)

    (resolution,) = gate.expire()

    assert early == []
    assert (resolution.outcome, resolution.by, resolution.role, resolution.timed_out, resolution.resolved_ns) == (
        VetoOutcome.REJECTED,
        "timeout",
        None,
        True,
        T0 + 60 * S,
    )
    assert resolution.reason == "no answer within 60s: the default (rejected) applies"
    assert audited[-1] == resolution.to_dict() and gate.pending() == ()
    with pytest.raises(VetoAlreadyResolvedError):
        gate.approve(veto.veto_id, by="risk:carol", role=Role.RISK, reason="late")


def test_approve_given_a_deadline_passed_unnoticed_raises_conflict_and_audits_the_expiry(clock: ManualClock) -> None:
    audited: list[dict[str, Any]] = []
    gate = VetoGate(replace(ALWAYS, timeout_s=60.0, default_on_timeout="approve"), clock, on_change=audited.append)
    veto = held(gate)
    clock.advance(61)

    with pytest.raises(VetoAlreadyResolvedError, match="already approved"):
        gate.reject(veto.veto_id, by="risk:carol", role=Role.RISK, reason="late")

    assert [a["event"] for a in audited] == ["veto_pending", "veto_resolved"]
    assert audited[-1]["timed_out"] is True and audited[-1]["outcome"] == "approved"


def test_masked_arms_given_a_rejection_masks_the_strategy_on_that_symbol_for_the_cooldown(
    clock: ManualClock,
) -> None:
    gate = VetoGate(replace(ALWAYS, mask_cooldown_s=600.0), clock)
    approved, rejected = held(gate, 1, strategy="carry"), held(gate, 2, strategy="trend")
    gate.approve(approved.veto_id, by="risk:carol", role=Role.RISK, reason="ok")
    gate.reject(rejected.veto_id, by="risk:carol", role=Role.RISK, reason="no trend in this tape")

    masks = [gate.masked_arms("BTC-PERP"), gate.masked_arms("ETH-PERP")]
    clock.advance(599)
    masks.append(gate.masked_arms("BTC-PERP"))
    clock.advance(1)
    masks.append(gate.masked_arms("BTC-PERP"))

    assert masks == [{"trend"}, set(), {"trend"}, set()]


def test_masked_arms_given_a_timeout_rejection_masks_the_strategy(clock: ManualClock) -> None:
    gate = VetoGate(replace(ALWAYS, timeout_s=1.0), clock)
    held(gate, strategy="mean_reversion")
    clock.advance(1)

    gate.expire()

    assert gate.masked_arms("BTC-PERP") == {"mean_reversion"}


def test_review_given_an_audit_sink_that_raises_holds_nothing() -> None:
    def failing(payload: dict[str, Any]) -> None:
        raise OSError("audit store down")

    gate = VetoGate(ALWAYS, on_change=failing)

    with pytest.raises(OSError, match="audit store down"):
        gate.review(request())

    assert gate.pending() == () and gate.resolved() == ()


def test_resolved_given_more_than_kept_resolved_returns_the_newest() -> None:
    gate = VetoGate(replace(ALWAYS, kept_resolved=2))
    vetoes = [held(gate, n) for n in range(3)]
    for veto in vetoes:
        gate.approve(veto.veto_id, by="risk:carol", role=Role.RISK, reason="ok")

    assert [r.veto.veto_id for r in gate.resolved()] == [v.veto_id for v in vetoes[1:]]


def test_pending_for_given_a_held_symbol_returns_its_veto() -> None:
    gate = VetoGate(ALWAYS)
    veto = held(gate)

    assert (gate.pending_for("BTC-PERP"), gate.pending_for("ETH-PERP")) == (veto, None)
    assert gate.resolution(veto.veto_id) is None


def test_from_decision_given_a_decision_returns_its_fields_and_delta() -> None:
    decision = Decision(
        decision_id="ETH-PERP:1:e1:champion",
        symbol="ETH-PERP",
        timestamp_ns=T0,
        action=Action.SELL,
        position_size=-0.25,
        previous_position=0.5,
        entry_price=math.nan,
        exit_price=3000.0,
        confidence=0.7,
        expected_return=0.001,
        risk_score=0.3,
        strategy="breakout",
        regime="breakout",
        explored=True,
        propensity=0.04,
        model_versions=VERSIONS,
    )

    req = VetoRequest.from_decision(decision, proposer="engine:shard0")

    assert req.delta == -0.75 and req.proposer == "engine:shard0"
    assert req.to_dict() | {"delta": None} == {
        "decision_id": "ETH-PERP:1:e1:champion",
        "symbol": "ETH-PERP",
        "strategy": "breakout",
        "previous_position": 0.5,
        "position_size": -0.25,
        "delta": None,
        "confidence": 0.7,
        "explored": True,
        "propensity": 0.04,
        "regime": "breakout",
        "model_versions": VERSIONS,
        "proposer": "engine:shard0",
    }


def test_veto_id_of_given_the_same_decision_returns_the_same_url_safe_id() -> None:
    assert veto_id_of("BTC-PERP:1:e/1:champion") == veto_id_of("BTC-PERP:1:e/1:champion")
    assert veto_id_of("BTC-PERP:1:e/1:champion").isalnum()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hold_regimes": frozenset({"crash"})}, "hold_regimes"),
        ({"default_on_timeout": "ignore"}, "default_on_timeout"),
        ({"timeout_s": 0.0}, "timeout_s"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"max_size": -1.0}, "max_size"),
        ({"first_n_after_promotion": -1}, "first_n_after_promotion"),
    ],
)
def test_rules_given_an_invalid_field_raises_naming_it(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        VetoRules(**kwargs)


def test_rules_given_an_unknown_field_raises() -> None:
    with pytest.raises(TypeError):
        VetoRules(max_notional=1.0)  # type: ignore[call-arg]
