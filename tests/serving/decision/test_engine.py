"""DecisionEngine on the trained bundle and held-out BTC-PERP events: determinism, warm-up, rejects, staleness,
hot-swap, shadows, audit, kill switch and status."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models.streaming.events import EventRejected, Reason
from serving.decision.audit import AuditLog, AuditTrail, AuditWriteError
from serving.decision.audit_journal import JournalConfig, JournaledAudit
from serving.decision.bundle import ModelBundle, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Action, Decision, HoldReason
from serving.safety.risk_types import TradingState

N_EVENTS = 1_500
MARKET = EngineConfig(clock="market")
Payload = dict[str, Any]


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


@pytest.fixture(scope="module")
def events(btc_events: list[Payload]) -> list[Payload]:
    return btc_events[:N_EVENTS]


@pytest.fixture(scope="module")
def baseline(bundle: ModelBundle, events: list[Payload]) -> list[Decision]:
    """The champion's decisions on the events with nothing else going on: the reference every test compares to."""
    engine = DecisionEngine(bundle, MARKET)
    return [engine.process(event) for event in events]


def run(engine: DecisionEngine, events: list[Payload]) -> list[dict[str, Any]]:
    return [engine.process(event).comparable() for event in events]


def comparable(decisions: list[Decision]) -> list[dict[str, Any]]:
    return [d.comparable() for d in decisions]


def first_trading(baseline: list[Decision], after: int) -> int:
    """Index of the first decision after ``after`` that traded and whose order filled at the next event."""
    return next(
        i
        for i in range(after, len(baseline) - 1)
        if baseline[i].action is not Action.HOLD and baseline[i + 1].previous_position == baseline[i].position_size
    )


def first_holding(baseline: list[Decision], after: int) -> int:
    """Index of the first event after ``after`` that finds a position open and no order working."""
    return next(
        i
        for i in range(after, len(baseline))
        if baseline[i - 1].action is Action.HOLD and baseline[i].previous_position != 0.0
    )


def test_process_given_same_events_twice_returns_identical_decisions(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    again = run(DecisionEngine(bundle, MARKET), events)

    assert again == comparable(baseline)
    assert len({d.decision_id for d in baseline}) == N_EVENTS
    assert {d.action for d in baseline} == {Action.BUY, Action.SELL, Action.HOLD}


def test_process_given_first_events_returns_warming_up_holds_then_decisions(baseline: list[Decision]) -> None:
    warm = next(i for i, d in enumerate(baseline) if d.hold_reason is not HoldReason.WARMING_UP)

    assert 10 < warm < 200
    assert all(d.action is Action.HOLD and d.position_size == 0.0 for d in baseline[:warm])
    assert any(math.isnan(v) for v in baseline[warm - 1].features.values())
    assert all(math.isfinite(v) for v in baseline[warm].features.values())
    assert all(d.hold_reason is not HoldReason.WARMING_UP for d in baseline[warm:])
    assert baseline[warm].strategy != "" and 0.0 < baseline[warm].confidence <= 1.0


def test_process_given_bad_payloads_raises_event_rejected_counts_keeps_and_goes_on_deciding(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, EngineConfig(clock="market", symbols=frozenset({"BTC-PERP"})))
    run(engine, events[:100])
    ts = events[100]["timestamp_ns"]
    good = {"symbol": "BTC-PERP", "timestamp_ns": ts, "event_id": "bad"}
    bad: list[tuple[Payload | str, Reason]] = [
        ({"timestamp_ns": ts, "close": 41_000.0}, Reason.MISSING_FIELD),
        ({**good, "close": -41_000.0}, Reason.NON_POSITIVE_PRICE),
        ({**good, "close": float("nan")}, Reason.NAN_OR_INF),
        ({**good, "close": 41_000.0, "bid": 41_001.0, "ask": 41_000.0}, Reason.CROSSED_QUOTE),
        ({**good, "symbol": "ETH-PERP", "close": 3_000.0}, Reason.UNKNOWN_SYMBOL),
        (events[99], Reason.DUPLICATE),
        ('{"symbol": "BTC-PERP", "close": ', Reason.MALFORMED_JSON),
    ]

    raised = []
    for payload, _ in bad:
        with pytest.raises(EventRejected) as caught:
            engine.process(payload)
        raised.append(caught.value.reason)
    after = run(engine, events[100:300])

    assert raised == [reason for _, reason in bad]
    assert engine.reject_counts == {reason.value: 1 for _, reason in bad}
    assert [r.reason for r in engine.rejects] == [reason.value for _, reason in bad]
    assert "ETH-PERP" in engine.rejects[4].payload and engine.rejects[4].detail
    assert after == comparable(baseline[100:300])  # a rejected event changes no state
    assert engine.decisions_generated == 300


def test_process_batch_given_a_bad_payload_returns_its_rejection_in_place(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, MARKET)

    out = engine.process_batch([*events[:3], events[1], *events[3:5]])

    assert isinstance(out[3], EventRejected) and out[3].reason is Reason.DUPLICATE
    decisions = [d for d in out if isinstance(d, Decision)]
    assert comparable(decisions) == comparable(baseline[:5])


def test_process_given_wall_clock_and_2022_events_returns_stale_features_after_warm_up(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, EngineConfig(clock="wall"))
    warm = next(i for i, d in enumerate(baseline) if d.hold_reason is not HoldReason.WARMING_UP)

    decisions = [engine.process(event) for event in events[: warm + 50]]

    assert {d.hold_reason for d in decisions[:warm]} == {HoldReason.WARMING_UP}
    assert {d.hold_reason for d in decisions[warm:]} == {HoldReason.STALE_FEATURES}
    assert all(d.action is Action.HOLD and d.position_size == 0.0 for d in decisions)


def test_swap_given_same_bundle_mid_stream_returns_same_decisions_as_no_swap(
    decision_bundle_dir: Path, bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, MARKET)
    before = run(engine, events[:700])

    engine.swap(load_bundle_dir(decision_bundle_dir))
    after = run(engine, events[700:])

    assert before + after == comparable(baseline)


def test_swap_given_new_versions_returns_their_names_and_keeps_positions_and_features(
    decision_bundle_dir: Path, bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    at = first_holding(baseline, 300)  # swap while a position is open
    engine = DecisionEngine(bundle, MARKET)
    before = [engine.process(event) for event in events[:at]]
    position = engine.status()["positions"]["BTC-PERP"]["position"]
    versions = {"regime": "rtopt-regime/2", "bandit": "rtopt-bandit/2", "actor": "rtopt-ppo/2"}

    engine.swap(load_bundle_dir(decision_bundle_dir, versions=versions))
    after = [engine.process(event) for event in events[at : at + 200]]

    assert position == baseline[at].previous_position != 0.0
    assert before[-1].model_versions == bundle.versions
    assert after[0].previous_position == position
    assert after[0].hold_reason is not HoldReason.WARMING_UP
    assert after[0].features == baseline[at].features
    assert all(d.model_versions == versions for d in after)
    assert engine.status()["active_models"] == versions


def test_set_shadow_given_same_bundle_returns_full_agreement_and_champion_unchanged(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, MARKET)
    engine.set_shadow("challenger", bundle)

    champion = run(engine, events)
    metrics = engine.shadow_metrics()["challenger"]

    assert champion == comparable(baseline)
    assert metrics["decisions"] == N_EVENTS
    assert metrics["agreement_rate"] == 1.0
    assert metrics["delta_pnl_bps"] == 0.0
    assert metrics["shadow_pnl"] == engine.status()["total_pnl"]


def test_set_shadow_given_shadow_started_mid_stream_returns_champion_unchanged(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    # Regression: the shadow adopted the champion's bandit and regime trackers by reference, and updating
    # them on its own events changed the champion's decisions.
    engine = DecisionEngine(bundle, MARKET)
    before = run(engine, events[:700])

    engine.set_shadow("challenger", bundle)
    after = run(engine, events[700:])
    engine.set_shadow("challenger", None)

    assert before + after == comparable(baseline)
    assert engine.shadows == {}


TRAILS: dict[str, Callable[[Path], AuditTrail]] = {
    "sqlite": AuditLog,
    # batches of 64: the writer takes several in during the run, the rest on read
    "journaled": lambda path: JournaledAudit(AuditLog(path), JournalConfig(batch=64)),
}


@pytest.mark.parametrize("trail", TRAILS)
def test_process_given_audit_log_returns_one_record_per_decision_and_reject_and_intact_chain(
    tmp_path: Path, bundle: ModelBundle, events: list[Payload], baseline: list[Decision], trail: str
) -> None:
    audit = TRAILS[trail](tmp_path / "audit.db")
    engine = DecisionEngine(bundle, MARKET, audit=audit)
    engine.set_shadow("challenger", bundle)

    decisions = run(engine, events[:150])
    with pytest.raises(EventRejected):
        engine.process(events[149])
    decisions += run(engine, events[150:300])

    records = list(audit.records())
    assert records[0].kind == "shadow" and json.loads(records[0].payload)["name"] == "challenger"
    budget = [r for r in records if r.kind == "exploration_budget"]
    assert all(json.loads(r.payload)["explored"] for r in budget)
    records = [r for r in records[1:] if r.kind != "exploration_budget"]
    assert [r.kind for r in records] == ["decision"] * 150 + ["reject"] + ["decision"] * 150
    logged = [json.loads(r.payload) for r in audit.records("decision")]
    assert [{k: v for k, v in d.items() if k != "latency_us"} for d in logged] == comparable(baseline[:300])
    assert json.loads(records[150].payload)["reason"] == "duplicate"
    assert decisions == comparable(baseline[:300])
    assert audit.verify() is None
    audit.close()


@pytest.mark.parametrize("trail", TRAILS)
def test_process_given_audit_write_fails_raises_and_halts_then_decisions_hold(
    tmp_path: Path, bundle: ModelBundle, events: list[Payload], baseline: list[Decision], trail: str
) -> None:
    at = first_holding(baseline, 300)
    audit = TRAILS[trail](tmp_path / "audit.db")
    engine = DecisionEngine(bundle, MARKET, audit=audit)
    run(engine, events[:at])
    position = engine.status()["positions"]["BTC-PERP"]["position"]
    audit.close()

    with pytest.raises(AuditWriteError):
        engine.process(events[at])
    halted = engine.status()
    engine.audit = AuditLog(tmp_path / "audit.db")  # the audit is back; trading stays halted until resumed
    after = [engine.process(event) for event in events[at + 1 : at + 200]]

    assert engine.risk.state is TradingState.HALTED and halted["status"] == "halted"
    assert halted["risk_events"][-1]["cause"] == "audit write failed"
    assert position == baseline[at].previous_position != 0.0
    assert all(d.position_size == d.previous_position == position for d in after)
    assert all(d.action is Action.HOLD and d.risk_reason == "halted" for d in after)
    assert {d.hold_reason for d in after} <= {HoldReason.RISK, HoldReason.NO_ACTIVE_STRATEGY}
    decisions_logged = [r for r in engine.audit.records() if r.kind == "decision"]
    assert len(decisions_logged) == at + len(after) and engine.audit.verify() is None


def test_kill_given_order_working_returns_it_cancelled_and_position_never_changes(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    traded = first_trading(baseline, 100)  # its order fills at the next event when nothing stops it
    engine = DecisionEngine(bundle, MARKET)
    run(engine, events[: traded + 1])

    engine.kill("operator")
    after = [engine.process(event) for event in events[traded + 1 :]]

    assert after[0].previous_position == baseline[traded].previous_position != baseline[traded].position_size
    assert {d.position_size for d in after} == {baseline[traded].previous_position}
    assert any(d.hold_reason is HoldReason.RISK for d in after)
    assert engine.status()["trading_state"] == "HALTED"


def test_status_given_decisions_returns_seed_keys_and_counts(
    bundle: ModelBundle, events: list[Payload], baseline: list[Decision]
) -> None:
    engine = DecisionEngine(bundle, MARKET)
    run(engine, events[:400])

    status = engine.status()

    assert {"status", "active_models", "decisions_generated", "daily_pnl"} <= status.keys()
    assert status["status"] == "running"
    assert status["active_models"] == dict(bundle.versions)
    assert status["decisions_generated"] == 400
    assert isinstance(status["daily_pnl"], float) and math.isfinite(status["daily_pnl"])
    assert status["positions"]["BTC-PERP"]["position"] == baseline[399].position_size


def test_engine_given_online_ddpg_sink_stages_champion_transitions(decision_bundle_dir: Path) -> None:
    """The paper broker's outcomes reach DDPG's online learner as transitions, off the decision path."""
    from stable_baselines3 import TD3

    from models.agents import OnlineDDPG
    from models.env import MarketReplay, TradingEnv, TradingEnvConfig
    from models.marketdata.samples import SAMPLES
    from serving.decision.replay import frame_payloads

    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame.iloc[:800]
    env = TradingEnv(MarketReplay.from_bars(frame, sample.kind), TradingEnvConfig(episode_length=500))
    learner = OnlineDDPG(TD3("MlpPolicy", env, seed=0))
    engine = DecisionEngine(load_bundle_dir(decision_bundle_dir), EngineConfig(clock="market"), transitions=learner)
    decisions = [engine.process(p) for p in frame_payloads(frame, sample.symbol)]
    proposed = [d.hold_reason.value in ("", "no_change", "risk") for d in decisions]
    live = [d.hold_reason.value not in ("warming_up", "stale_features") for d in decisions]
    expected = sum(p and n for p, n in zip(proposed[:-1], live[1:], strict=True))
    assert learner.stats().received == expected > 0


def test_engine_given_explanations_on_attaches_them_to_champion_decisions(
    decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> None:
    """SHAP on the actor and exact bandit attributions ride on every proposed decision, deterministically."""
    from serving.safety.explain import ExplanationConfig

    config = EngineConfig(clock="market", explanation=ExplanationConfig(budget_ms=math.inf))
    runs = []
    for _ in range(2):
        engine = DecisionEngine(load_bundle_dir(decision_bundle_dir), config)
        runs.append([engine.process(p) for p in btc_events[:150]])
    proposed = [d for d in runs[0] if d.strategy]
    assert proposed and all(d.explanation is not None for d in proposed)
    assert all(d.explanation is None for d in runs[0] if not d.strategy)
    first = proposed[0].explanation
    assert first is not None and "shap" in first["method"].lower() and len(first["top_features"]) == 5
    bandit = first["bandit"]
    assert math.isclose(sum(bandit["attributions"].values()), bandit["mean"], rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(bandit["mean"] / 1e4, proposed[0].expected_return, rel_tol=1e-9, abs_tol=1e-15)
    assert [d.comparable() for d in runs[0]] == [d.comparable() for d in runs[1]]
