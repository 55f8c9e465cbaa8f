"""`make scenario`: the whole lifecycle loop on real data with a regime shift, recorded where a person looks.

    history ingested -> features -> champions trained -> Serve up, client posting events
    -> shifted recent bars ingested -> drift report (drifted) -> drift_sensor -> training_job (challengers)
    -> new_challenger_sensor -> shadow_start_job (Serve shadows) -> shadow_comparison_sensor -> promotion_job
    -> promote (Serve hot-swaps) or archive

Every run is the real job from ``orchestration.definitions`` on the persistent Dagster instance under
``DAGSTER_HOME`` (``RTOPT_HOME/dagster``), so ``rtopt dev`` shows the runs, materializations and asset checks
afterwards; MLflow (versions, aliases) and the audit log are the settings' own. The sensors are the real
definitions evaluated on instance-backed contexts (cursor carried from tick to tick, as the daemon would);
their requested runs are launched in process with the request's run config, tags and run key. One thing is
the scenario's own: the requested training runs get small step budgets merged into their config, so the
loop fits CI. The gate's verdict is whatever the shadow decisions say; nothing here steers it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, RunRequest

from assets.features import offline_features, online_features
from assets.market_data import asset_name
from models.marketdata.schema import DataKind
from models.marketdata.store import MarketDataStore
from orchestration.ingestion import ingest
from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV
from orchestration.scenario_chain import Chain
from orchestration.scenario_data import ScenarioData, ShiftSpec, prepare_data
from orchestration.scenario_report import collect_records, print_table, write_report
from orchestration.scenario_traffic import Pace, Traffic
from orchestration.sensors import DRIFT_REPORT_KEY
from orchestration.settings import Settings


@dataclass(frozen=True, kw_only=True, slots=True)
class ScenarioConfig:
    """The scenario's knobs; the defaults keep it near two minutes on a 2-core machine."""

    symbol: str = "BTC-PERP"
    shift: ShiftSpec = field(default_factory=ShiftSpec)
    total_steps: int = 512
    """SB3 steps per agent, baseline and retraining alike (small: CI time, not model quality)."""
    regime_bars: int = 2_000
    """Simulated bars the regime detector is fitted on."""
    drift_window: int = 1_440
    """Rows of recent features the drift report compares (all of them after the break)."""
    slow: Pace = field(default_factory=lambda: Pace(2, 0.2))
    """Traffic while the loop trains and reloads."""
    fast: Pace = field(default_factory=lambda: Pace(10, 0.02))
    """Traffic while the shadow gate waits for its paired decisions."""
    gate_poll_s: float = 1.0
    gate_timeout_s: float = 240.0
    after_swap_s: float = 3.0
    """Traffic kept flowing after the verdict, so decisions by the new champion (if any) are seen."""
    output: Path = Path("bench/scenario.json")

    def __post_init__(self) -> None:
        minimums = {"total_steps": 64, "regime_bars": 500, "drift_window": 100}
        for name, low in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: must be an int >= {low}, got {value!r}")
        if self.drift_window > self.shift.recent_bars:
            why = (
                f"must not exceed shift.recent_bars ({self.shift.recent_bars}): the window would reach before the break"
            )
            raise ValueError(f"drift_window: {why}, got {self.drift_window}")
        for name in ("gate_poll_s", "gate_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")


class Clock:
    """Seconds since the scenario began; each step prints its progress line with it."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.wall0 = time.time()
        self.marks: dict[str, float] = {}

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def mark(self, name: str) -> float:
        self.marks[name] = round(self.now(), 3)
        return self.marks[name]

    def say(self, text: str) -> None:
        print(f"[{self.now():6.1f}s] {text}", flush=True)


def budgets(config: ScenarioConfig) -> dict[str, Any]:
    steps = {"symbol": config.symbol, "total_steps": config.total_steps}
    return {
        "ops": {
            "ppo_agent": {"config": steps},
            "ddpg_agent": {"config": steps},
            "strategy_bandit": {"config": {"symbol": config.symbol}},
            "regime_model": {"config": {"symbol": config.symbol, "n_bars": config.regime_bars}},
            "model_evaluation": {"config": {"symbol": config.symbol}},
        }
    }


def _features(chain: Chain, symbol: str) -> None:
    selection = [AssetKey(asset_name(DataKind.BARS)), offline_features.key, online_features.key]
    chain.execute("platform_job", partition_key=symbol, asset_selection=selection)


def _drift(chain: Chain, config: ScenarioConfig) -> dict[str, Any]:
    run_config = {
        "ops": {"feature_drift_report": {"config": {"symbol": config.symbol, "window_rows": config.drift_window}}}
    }
    result = chain.execute("drift_job", run_config)
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == DRIFT_REPORT_KEY]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _wait_for_verdict(chain: Chain, traffic: Traffic, config: ScenarioConfig, clock: Clock) -> RunRequest | None:
    deadline = time.perf_counter() + config.gate_timeout_s
    while time.perf_counter() < deadline:
        requests = chain.tick("shadow_comparison_sensor")
        if requests:
            return requests[0]
        clock.say(f"      shadow gate waits: {chain.ticks[-1]['skip_reason']} ({traffic.sent()} events sent)")
        time.sleep(config.gate_poll_s)
    return None


def run_scenario(settings: Settings, config: ScenarioConfig | None = None) -> dict[str, Any]:
    """Run the loop (module docstring), write ``config.output``, print the table; returns the report."""
    from orchestration.definitions import build_definitions
    from serving.serve.runner import start, stop

    config, clock = config or ScenarioConfig(), Clock()
    scenario_id = f"scenario-{int(clock.wall0)}-{secrets.token_hex(3)}"
    token = secrets.token_urlsafe(24)
    _export_tokens(token)
    definitions = build_definitions(settings)
    store = MarketDataStore(settings.market_data_root)
    data = prepare_data(settings.home / "scenario" / scenario_id, config.shift, config.symbol)
    with DagsterInstance.get() as instance:
        chain = Chain(definitions, instance, scenario_id, budgets(config))
        clock.say(f"1/8 {scenario_id}: ingesting {data.history_file.name} (real {data.symbol} history)")
        ingest(store, instance, data.history_file, data.symbol, DataKind.BARS)
        chain.execute("feature_store_job")
        _features(chain, data.symbol)
        clock.say(f"2/8 training_job: baseline champions ({config.total_steps} steps per agent)")
        chain.execute("training_job", budgets(config), {"rtopt/scenario_step": "baseline"})
        clock.mark("baseline_trained")
        clock.say("3/8 Ray Serve: champion behind POST /v1/decisions; client thread starts posting")
        url = start(_serve_config(settings, data.symbol))
        _export_url(url)
        traffic = Traffic(url, [*data.warmup, *data.recent], config.slow, head=len(data.warmup))
        traffic.start()
        try:
            report = _loop(chain, traffic, data, config, clock, store, settings)
            report["serve_status"] = _status(url)
        finally:
            outcome = traffic.stop()
            stop()
            _export_url(None)
        clock.mark("end")
        report.update(collect_records(instance, settings, scenario_id, outcome, chain, clock))
    write_report(report, config.output)
    print_table(report)
    return report


def _loop(
    chain: Chain,
    traffic: Traffic,
    data: ScenarioData,
    config: ScenarioConfig,
    clock: Clock,
    store: MarketDataStore,
    settings: Settings,
) -> dict[str, Any]:
    clock.say(f"4/8 the shifted recent bars arrive: {data.recent_file.name}, break at {data.shift.at.isoformat()}")
    clock.mark("shift_ingested")
    ingest(store, chain.instance, data.recent_file, data.symbol, DataKind.BARS)
    _features(chain, data.symbol)
    drift = _drift(chain, config)
    detected = clock.mark("drift_detected")
    clock.say(f"    feature_drift_report: drifted={drift['drifted']} ({drift['drift_reason']})")
    report: dict[str, Any] = {"drift_detected": bool(drift["drifted"]), "drift": _drift_summary(drift)}
    requests = chain.tick("drift_sensor")
    if not requests:
        clock.say(f"    drift_sensor: {chain.ticks[-1]['skip_reason']}; the loop stops here")
        return report
    clock.say("5/8 drift_sensor requested training_job: retraining on the shifted data")
    training = chain.launch("drift_sensor", requests[0])
    report["retrain_run_id"] = training.run_id
    report["registered"] = _registered(training)
    report["model_checks"] = {
        f"{e.asset_key.to_user_string()}.{e.check_name}": e.passed for e in training.get_asset_check_evaluations()
    }
    clock.mark("challenger_registered")
    shadow_requests = chain.tick("new_challenger_sensor")
    if not shadow_requests:
        clock.say(f"    new_challenger_sensor: {chain.ticks[-1]['skip_reason']}; the loop stops here")
        return report
    report["challenger_version"] = shadow_requests[0].tags["rtopt/challenger"]
    clock.say(f"6/8 new_challenger_sensor -> shadow_start_job: Serve shadows {report['challenger_version']}")
    chain.launch("new_challenger_sensor", shadow_requests[0])
    clock.mark("shadow_started")
    traffic.set_pace(config.fast)
    clock.say("7/8 shadow decisions accumulate; shadow_comparison_sensor polls the app")
    verdict = _wait_for_verdict(chain, traffic, config, clock)
    traffic.set_pace(config.slow)
    if verdict is None:
        clock.say(f"    no verdict within {config.gate_timeout_s:.0f} s")
        return report
    gate = json.loads(verdict.run_config["ops"]["apply_gate_verdict"]["config"]["gate_json"])
    promote = bool(verdict.run_config["ops"]["apply_gate_verdict"]["config"]["promote"])
    report.update(gate_decision="promote" if promote else "archive", gate=gate)
    clock.say(f"8/8 promotion_job: {report['gate_decision']} ({gate.get('reason', gate.get('condition'))})")
    result = chain.launch("shadow_comparison_sensor", verdict)
    report["promotion_run_id"] = result.run_id
    clock.mark("verdict_applied")
    report["drift_to_serving_s"] = round(clock.marks["verdict_applied"] - detected, 3)
    time.sleep(config.after_swap_s)
    return report


def _registered(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    out = {}
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        if "registered_model" in meta:
            out[str(meta["registered_model"])] = {"version": meta["version"], "alias": meta["alias"]}
    return out


def _drift_summary(drift: dict[str, Any]) -> dict[str, Any]:
    keys = ("drift_share", "drift_reason", "drifted_features", "reference_rows", "current_rows", "method")
    return {k: drift[k] for k in keys if k in drift}


def _serve_config(settings: Settings, symbol: str) -> Any:
    from serving.serve.config import ServeConfig
    from serving.serve.ports import free_port

    store = settings.online_store
    return ServeConfig(
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        model_cache=str(settings.home / "serving" / "models"),
        symbols=(symbol,),
        clock="market",
        registry_poll_s=5.0,
        redis_url=store.redis_url if store.backend == "redis" else None,
        audit_dsn=settings.audit_dsn,
        max_batch=1_000,
        port=free_port(),
    )


def _status(url: str) -> dict[str, Any]:
    import requests

    body: dict[str, Any] = requests.get(f"{url}/v1/status", timeout=30).json()
    return {k: body.get(k) for k in ("status", "active_models", "decisions_generated", "daily_pnl")}


def _export_tokens(token: str) -> None:
    """The admin token the app checks and the lifecycle jobs and sensors send (set before Ray starts)."""
    import os

    for name in (ADMIN_TOKEN_ENV, "RTOPT_TOKEN_ADMIN"):
        os.environ[name] = token
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"


def _export_url(url: str | None) -> None:
    import os

    if url is None:
        os.environ.pop(SERVE_URL_ENV, None)
    else:
        os.environ[SERVE_URL_ENV] = url
