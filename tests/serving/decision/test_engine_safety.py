"""The champion's veto gate and exploration budget inside the decision path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.decision.bundle import ModelBundle, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Action, Decision, HoldReason
from serving.safety.auth import Role
from serving.safety.exploration import ExplorationBudgetConfig
from serving.safety.veto import VetoRules

Payload = dict[str, Any]
HOLD_BIG = VetoRules(max_size=0.0, timeout_s=3_600.0, require_distinct_approver=False)
"""Every order is held: |delta| > 0."""


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


@pytest.fixture(scope="module")
def events(btc_events: list[Payload]) -> list[Payload]:
    return btc_events[:1_500]


def _until_held(engine: DecisionEngine, events: list[Payload]) -> tuple[int, Decision]:
    for i, event in enumerate(events):
        decision = engine.process(event)
        if decision.hold_reason is HoldReason.PENDING_VETO:
            return i, decision
    raise AssertionError("no decision was held by the veto gate")


def test_veto_given_rule_fires_holds_until_approved_then_executes(bundle: ModelBundle, events: list[Payload]) -> None:
    engine = DecisionEngine(bundle, EngineConfig(clock="market", vetoes=HOLD_BIG))
    i, held = _until_held(engine, events)
    assert held.action is Action.HOLD and held.position_size == held.previous_position
    assert held.veto_reason.startswith("pending ") and "max_size" in held.veto_reason
    waiting = engine.process(events[i + 1])
    assert waiting.hold_reason is HoldReason.PENDING_VETO and waiting.position_size == waiting.previous_position
    assert engine.vetoes is not None
    (veto,) = engine.vetoes.pending()
    engine.vetoes.approve(veto.veto_id, by="risk-officer", role=Role.RISK, reason="looks fine")
    approved = engine.process(events[i + 2])
    assert approved.veto_reason.startswith(f"approved {veto.veto_id} by risk-officer")
    assert approved.action is not Action.HOLD and not approved.vetoed


def test_veto_given_rejection_marks_vetoed_and_masks_the_arm(bundle: ModelBundle, events: list[Payload]) -> None:
    engine = DecisionEngine(bundle, EngineConfig(clock="market", vetoes=HOLD_BIG))
    i, held = _until_held(engine, events)
    assert engine.vetoes is not None
    (veto,) = engine.vetoes.pending()
    engine.vetoes.reject(veto.veto_id, by="risk-officer", role=Role.RISK, reason="too big")
    rejected = engine.process(events[i + 1])
    assert rejected.vetoed and rejected.hold_reason is HoldReason.VETOED
    assert rejected.position_size == rejected.previous_position
    assert held.strategy in engine.vetoes.masked_arms("BTC-PERP")
    later = [engine.process(e) for e in events[i + 2 : i + 200]]
    assert all(d.strategy != held.strategy for d in later)


def test_exploration_given_zero_budget_never_explores(bundle: ModelBundle, events: list[Payload]) -> None:
    spent = ExplorationBudgetConfig(initial_budget_bps=0.0, max_budget_bps=0.0, replenish_share=0.0)
    guarded_engine = DecisionEngine(bundle, EngineConfig(clock="market", exploration_budget=spent))
    free_engine = DecisionEngine(bundle, EngineConfig(clock="market", exploration_budget=None))
    guarded = [guarded_engine.process(e) for e in events]
    free = [free_engine.process(e) for e in events]
    assert not any(d.explored for d in guarded)
    assert any(d.explored for d in free), "the bundle's bandit explores (epsilon > 0) when unguarded"


def test_risk_given_daily_loss_breach_moves_to_reducing_and_audits_the_change(
    bundle: ModelBundle, events: list[Payload], tmp_path: Path
) -> None:
    import json

    from serving.decision.audit import AuditLog
    from serving.safety.risk_limits import RiskLimits

    audit = AuditLog(tmp_path / "audit.db")
    config = EngineConfig(clock="market", risk=RiskLimits(daily_loss_reduce=1.0))
    engine = DecisionEngine(bundle, config, audit=audit)
    decisions = [engine.process(e) for e in events]
    changes = [json.loads(r.payload) for r in audit.records("risk_state")]
    assert changes and changes[0]["state"] == "REDUCING" and changes[0]["previous"] == "ACTIVE"
    assert "loss" in changes[0]["cause"]
    after = decisions[next(i for i, d in enumerate(decisions) if engine.risk.events and d.risk_reason) :]
    assert all(abs(d.position_size) <= abs(d.previous_position) + 1e-12 for d in after if d.risk_reason)
    assert audit.verify() is None


def test_kill_file_given_rtopt_kill_from_another_process_halts_the_running_engine_and_persists(
    bundle: ModelBundle, events: list[Payload], tmp_path: Path
) -> None:
    """What `rtopt kill` does: write the kill file; a running engine sees it within its 50 ms poll."""
    import time

    from serving.safety.kill_switch import KillSwitchStore

    path = tmp_path / "kill.json"
    config = EngineConfig(clock="market", kill_switch_file=path)
    engine = DecisionEngine(bundle, config)
    before = [engine.process(e) for e in events[:300]]
    assert engine.status()["status"] == "running" and any(d.action is not Action.HOLD for d in before)
    KillSwitchStore(path).kill("drill from the shell", "cli", time.time_ns())
    time.sleep(0.2)
    after = [engine.process(e) for e in events[300:600]]
    assert all(d.position_size == d.previous_position for d in after)
    assert engine.status()["status"] == "halted"
    restarted = DecisionEngine(bundle, config)
    assert restarted.status()["status"] == "halted", "the kill switch persists across a restart"
