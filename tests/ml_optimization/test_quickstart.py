"""The seed's quick-start program runs unchanged, and the Python API decides as the DecisionEngine does.

``quickstart.py`` beside this file is the seed's program verbatim (ruff leaves it alone), so CI without
../shared runs it too; where the seed is present, its block is extracted, run, and compared with the copy.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ml_optimization import (
    DDPGConfig,
    EventRejected,
    ExplanationConfig,
    FeatureConfig,
    MLOptimizationConfig,
    MLOptimizationOrchestrator,
)
from models.streaming.events import Reason
from orchestration.settings import Settings
from serving.decision.audit import AuditLog
from serving.decision.bundle import BANDIT_FILE, REGIME_FILE, ModelBundle, load_bundle_dir
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Action, Decision, HoldReason
from serving.decision.registry import ModelUnavailableError

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = REPO.parent / "shared" / "seed"
COPY = Path(__file__).with_name("quickstart.py")
SEED_EVENT = {
    "symbol": "BTC-USD",
    "exchange": "coinbase",
    "price": 45000.0,
    "volume": 1.5,
    "bid_price": 44995.0,
    "ask_price": 45005.0,
    "timestamp": "2024-01-01T12:00:00Z",
}
# One event cannot fill the rolling feature windows: the decision holds (warming_up) with nothing traded.
EXPECTED_LINES = [
    "Trading Decision:",
    "  Symbol: BTC-USD",
    "  Action: HOLD",
    "  Position Size: 0.0000",
    "  Confidence: 0.0000",
    "  Expected Return: 0.0000",
    "  Risk Score: 0.0000",
    "  Strategy: ",
    "",
    "System Status: running",
    "ACTIVE_MODELS",
    "Decisions Generated: 1",
    "Daily PnL: 0.0000",
]


def seed_quickstart() -> str | None:
    """The Python block under the seed's "Quick Start" heading, or None without the seed."""
    for path in sorted(SEED_DIR.glob("*.txt")) if SEED_DIR.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        heading = text.find("Quick Start")
        found = re.search(r"```python\n(.*?)```", text[heading:], re.S) if heading >= 0 else None
        if found and "MLOptimizationOrchestrator" in found.group(1):
            return found.group(1)
    return None


def run_program(program: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``program`` as a user would, with RTOPT_HOME at ``home`` and the checkout's packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RTOPT_", "DAGSTER_"))}
    env["RTOPT_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, str(program)], cwd=home.parent, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def check_output(stdout: str) -> dict[str, str]:
    """The program's lines are the expected ones; returns the printed active models."""
    lines = stdout.splitlines()
    assert len(lines) == len(EXPECTED_LINES), stdout
    models_line = lines[EXPECTED_LINES.index("ACTIVE_MODELS")]
    assert models_line.startswith("Active Models: "), stdout
    models = ast.literal_eval(models_line.removeprefix("Active Models: "))
    assert set(models) == {"regime", "bandit", "actor"}
    assert [line for line in lines if line != models_line] == [e for e in EXPECTED_LINES if e != "ACTIVE_MODELS"]
    return dict(models)


def test_quickstart_copy_given_the_seed_is_the_seeds_program_verbatim() -> None:
    seed = seed_quickstart()
    if seed is None:
        pytest.skip(f"the seed is not present at {SEED_DIR}")
    assert COPY.read_text(encoding="utf-8") == seed


def test_quickstart_given_fresh_home_trains_a_sample_bundle_and_a_second_run_loads_it(tmp_path: Path) -> None:
    """The seed's own block runs first where the seed is present, the shipped copy second (always)."""
    seed, home = seed_quickstart(), tmp_path / "home"
    first_program = COPY
    if seed is not None:
        first_program = tmp_path / "seed_quickstart.py"
        first_program.write_text(seed, encoding="utf-8")

    first, second = run_program(first_program, home), run_program(COPY, home)

    models = check_output(first.stdout)
    assert models["actor"].startswith("local-ddpg:")
    assert check_output(second.stdout) == models
    assert "no model registry yet" in first.stderr
    assert "training a small bundle on the shipped BTC-PERP sample" in first.stderr
    assert "training a small bundle" not in second.stderr
    assert "sample bundle cached at" in second.stderr
    assert "ddpg_config.state_dim=20 (served: 30)" in first.stderr
    assert (home / "audit" / "python_api.db").is_file()


# -- the API in process, on the session's bundle ------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


def api_config(**changes: Any) -> MLOptimizationConfig:
    quiet: dict[str, Any] = {
        "audit_log": False,
        "progress": False,
        "explanation_config": ExplanationConfig(enable_real_time_explanation=False),
    }
    return MLOptimizationConfig(**(quiet | changes))


def decide_all(
    orchestrator: MLOptimizationOrchestrator, events: Sequence[Any]
) -> tuple[list[Decision], dict[str, Any]]:
    async def run() -> tuple[list[Decision], dict[str, Any]]:
        async with orchestrator as system:
            decisions = [await system.process_market_data(event) for event in events]
            return decisions, system.get_system_status()

    return asyncio.run(run())


def test_process_market_data_given_replayed_bars_returns_the_engines_decisions(
    bundle: ModelBundle, btc_events: list[dict[str, object]]
) -> None:
    events = btc_events[:600]
    engine = DecisionEngine(bundle, EngineConfig(clock="market"))
    orchestrator = MLOptimizationOrchestrator(api_config(clock="market"), bundle=bundle)

    decisions, status = decide_all(orchestrator, events)

    expected = [engine.process(event) for event in events]
    assert [d.comparable() for d in decisions] == [e.comparable() for e in expected]
    assert {d.action for d in decisions} >= {Action.BUY, Action.SELL}, "the comparison must cover trades"
    assert status["decisions_generated"] == engine.status()["decisions_generated"] == len(events)
    assert status["daily_pnl"] == engine.status()["daily_pnl"]


def test_process_market_data_given_wall_clock_and_old_bars_holds_for_stale_features(
    bundle: ModelBundle, btc_events: list[dict[str, object]]
) -> None:
    decisions, _ = decide_all(MLOptimizationOrchestrator(api_config(), bundle=bundle), btc_events[:300])

    assert decisions[0].hold_reason is HoldReason.WARMING_UP
    assert decisions[-1].hold_reason is HoldReason.STALE_FEATURES
    assert {d.action for d in decisions} == {Action.HOLD}


def test_process_market_data_given_the_seeds_quote_event_holds_while_warming_up(bundle: ModelBundle) -> None:
    """A quote has no high or low (the seed's event): the engine must take its range from the price."""
    decisions, status = decide_all(MLOptimizationOrchestrator(api_config(), bundle=bundle), [SEED_EVENT])

    assert decisions[0].symbol == "BTC-USD"
    assert decisions[0].action is Action.HOLD
    assert decisions[0].hold_reason is HoldReason.WARMING_UP
    assert decisions[0].explanation is None
    assert status["decisions_generated"] == 1


@pytest.mark.parametrize(
    ("change", "reason", "named"),
    [
        ({"price": "abc"}, Reason.BAD_TYPE, "price"),
        ({"symbol": None}, Reason.MISSING_FIELD, "symbol"),
        ({"timestamp": "yesterday"}, Reason.BAD_TYPE, "timestamp"),
        ({"bid_price": 45010.0}, Reason.CROSSED_QUOTE, "bid"),
    ],
)
def test_process_market_data_given_bad_field_raises_event_rejected_naming_it(
    bundle: ModelBundle, change: dict[str, object], reason: Reason, named: str
) -> None:
    async def run() -> dict[str, Any]:
        async with MLOptimizationOrchestrator(api_config(), bundle=bundle) as system:
            with pytest.raises(EventRejected) as rejected:
                await system.process_market_data(SEED_EVENT | change)
            assert isinstance(rejected.value, ValueError)
            assert rejected.value.reason is reason
            assert rejected.value.detail.startswith(named), rejected.value.detail
            return system.get_system_status()

    status = asyncio.run(run())

    assert status["decisions_generated"] == 0
    assert status["rejected"] == {reason.value: 1}


def test_get_system_status_given_the_seeds_configs_reports_the_seeds_keys_and_the_mismatches(
    bundle: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    config = api_config(ddpg_config=DDPGConfig(state_dim=20, action_dim=3, hidden_dim=256))

    with caplog.at_level(logging.WARNING, logger="ml_optimization"):
        _, status = decide_all(MLOptimizationOrchestrator(config, bundle=bundle), [])

    assert {"status", "active_models", "decisions_generated", "daily_pnl"} <= set(status)
    assert status["status"] == "running"
    assert status["active_models"] == dict(bundle.versions)
    assert (status["decisions_generated"], status["daily_pnl"]) == (0, 0.0)
    assert status["model_source"] == "given by the caller"
    assert status["config_mismatches"]["ddpg_config.state_dim"] == {"config": 20, "serving": 30}
    assert "ddpg_config.state_dim=20 (served: 30)" in caplog.text
    assert status["explanations"]["requested"] is False and status["explanations"]["computed"] is False


def register_champions(settings: Settings, bundle_dir: Path, tmp_path: Path) -> None:
    """The bundle's three parts registered as the training assets register them (actor folder named by agent)."""
    import mlflow

    from serving.registry.mlflow_registry import TrainingRecord, log_and_register

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    parts = {
        "rtopt-regime": ("regime", bundle_dir / REGIME_FILE),
        "rtopt-bandit": ("bandit", bundle_dir / BANDIT_FILE),
        "rtopt-ppo": ("actor", shutil.copytree(bundle_dir / "actor", tmp_path / "ppo")),
    }
    for name, (kind, artifact) in parts.items():
        record = TrainingRecord(
            registered_name=name,
            kind=kind,
            params={},
            metrics={},
            validation_score=1.0,
            artifacts={kind: artifact},
            signature=None,
            feature_service="decision_v1",
            data_start="2022-01-03T00:00:00+00:00",
            data_end="2022-01-07T00:00:00+00:00",
        )
        assert log_and_register(record, "rtopt-python-api-test", settings.mlflow_artifact_root).alias == "champion"


def test_orchestrator_given_registry_champions_serves_them_and_refuses_an_agent_without_one(
    rtopt_settings: Settings, decision_bundle_dir: Path, btc_events: list[dict[str, object]], tmp_path: Path
) -> None:
    register_champions(rtopt_settings, decision_bundle_dir, tmp_path)
    served = MLOptimizationOrchestrator(api_config(agent="ppo", clock="market"), settings=rtopt_settings)
    folder = MLOptimizationOrchestrator(api_config(clock="market"), bundle=load_bundle_dir(decision_bundle_dir))

    decisions, status = decide_all(served, btc_events[:300])
    expected, _ = decide_all(folder, btc_events[:300])

    assert status["model_source"].startswith("MLflow registry champion")
    assert status["active_models"] == {"regime": "rtopt-regime/1", "bandit": "rtopt-bandit/1", "actor": "rtopt-ppo/1"}
    # explanations sample the actor part on a wall-time budget: which decisions get one may differ
    unexplained = {"model_versions": None, "explanation": None}
    assert [d.comparable() | unexplained for d in decisions] == [d.comparable() | unexplained for d in expected]
    with pytest.raises(ModelUnavailableError, match="rtopt-ddpg"):
        MLOptimizationOrchestrator(api_config(agent="ddpg"), settings=rtopt_settings).start()


def test_orchestrator_given_audit_log_writes_every_decision_and_closes_on_exit(
    bundle: ModelBundle, btc_events: list[dict[str, object]], rtopt_settings: Settings
) -> None:
    orchestrator = MLOptimizationOrchestrator(api_config(audit_log=True), settings=rtopt_settings, bundle=bundle)

    async def run() -> dict[str, Any]:
        async with orchestrator as system:
            for event in btc_events[:20]:
                await system.process_market_data(event)
            with pytest.raises(EventRejected):
                await system.process_market_data({"symbol": "BTC-PERP"})
            return system.get_system_status()

    status = asyncio.run(run())

    assert status["audit_log"] == str(rtopt_settings.home / "audit" / "python_api.db")
    log = AuditLog(Path(status["audit_log"]))
    assert (log.count(), len(list(log.records("reject"))), log.verify()) == (21, 1, None)
    with pytest.raises(RuntimeError, match="not running"):
        orchestrator.get_system_status()


def test_process_market_data_given_no_context_raises_not_running(bundle: ModelBundle) -> None:
    orchestrator = MLOptimizationOrchestrator(api_config(), bundle=bundle)

    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(orchestrator.process_market_data(SEED_EVENT))


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: FeatureConfig(cache_ttl=0), "cache_ttl"),
        (lambda: ExplanationConfig(shap_sample_size=0), "shap_sample_size"),
        (lambda: MLOptimizationConfig(clock="exchange"), "clock"),  # type: ignore[arg-type]
        (lambda: MLOptimizationConfig(agent="sac"), "agent"),  # type: ignore[arg-type]
        (lambda: MLOptimizationConfig(ddpg_config=FeatureConfig()), "ddpg_config"),  # type: ignore[arg-type]
    ],
)
def test_configs_given_bad_value_raise_value_error_naming_the_field(build: Any, named: str) -> None:
    with pytest.raises(ValueError, match=rf"^{named}:"):
        build()
