"""shadow_comparison_sensor and new_challenger_sensor: what they request, once, from what Serve and the registry say.

The Serve app and the registry are read through the factories' ``fetch`` and ``current`` callables: each test
hands in the comparison the app would answer (built as ``merge_paired`` builds it) or the challenger the
registry holds. The requested run configs are validated against the jobs they are for.
"""

from __future__ import annotations

from typing import Any

import pytest
from dagster import DagsterInstance, Definitions, build_sensor_context, validate_run_config

from assets.resources import MlflowResource
from models.evaluation.gate import GateConfig
from models.seeding import make_rng
from orchestration.lifecycle_jobs import LifecycleResource, promotion_job, shadow_start_job
from orchestration.sensors import (
    CHALLENGER_TAG,
    GATE_TAG,
    TRIGGER_TAG,
    build_new_challenger_sensor,
    build_shadow_comparison_sensor,
)
from serving.decision.registry import ResolvedVersions
from serving.lifecycle.comparison import ShadowComparison, merge_paired

CHAMPION = ResolvedVersions("1", "1", "1", "ppo")
CHALLENGER = ResolvedVersions("2", "1", "2", "ppo")
"""Shares the champion's bandit: the gate judges the PnL alone (no off-policy evidence to weigh)."""
KEY = "regime2-bandit1-ppo2"
CONFIG = GateConfig(min_decisions=200, n_resamples=300)
RESOURCES = {
    "mlflow": MlflowResource(tracking_uri="sqlite:///m.db", registry_uri="sqlite:///m.db", artifact_root="file:///a"),
    "lifecycle": LifecycleResource(audit_dsn="sqlite:///audit.db", model_cache="cache"),
}


def comparison(n: int, lift_bps: float, versions: ResolvedVersions | None = CHALLENGER) -> ShadowComparison:
    rng = make_rng(7)
    champion = rng.normal(0.0, 1.0, size=n)
    shard = {
        "shard": 0,
        "versions": None if versions is None else versions.names(),
        "champion_versions": CHAMPION.names(),
        "champion_bps": champion.tolist(),
        "challenger_bps": (champion + lift_bps + rng.normal(0.0, 0.3, size=n)).tolist(),
    }
    return ShadowComparison.from_json(merge_paired("challenger", [shard]))


def shadow_tick(seen: ShadowComparison | None, cursor: str | None = None) -> Any:
    sensor = build_shadow_comparison_sensor(promotion_job.name, CONFIG, fetch=lambda: seen)
    return sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor))


def valid_for(job_name: str, run_config: dict[str, Any]) -> dict[str, Any]:
    defs = Definitions(jobs=[promotion_job, shadow_start_job], resources=RESOURCES)
    return validate_run_config(defs.resolve_job_def(job_name), run_config)


def test_shadow_sensor_given_no_serve_app_returns_skip_naming_the_variable() -> None:
    tick = shadow_tick(None)

    assert not tick.run_requests
    assert tick.skip_message is not None and "RTOPT_SERVE_URL unset" in tick.skip_message


def test_shadow_sensor_given_too_few_decisions_returns_skip_with_count() -> None:
    tick = shadow_tick(comparison(150, lift_bps=1.0))

    assert not tick.run_requests
    assert tick.skip_message == f"{KEY}: 150 of 200 paired shadow decisions"
    assert tick.cursor is None


def test_shadow_sensor_given_better_challenger_requests_promotion_once() -> None:
    tick = shadow_tick(comparison(300, lift_bps=1.0))

    (request,) = tick.run_requests or []
    assert request.run_key == f"shadow-gate-{KEY}-promote"
    assert request.tags[TRIGGER_TAG] == "shadow_gate" and request.tags[GATE_TAG] == "promote"
    assert request.tags[CHALLENGER_TAG] == KEY and tick.cursor == KEY
    config = valid_for(promotion_job.name, request.run_config)["ops"]["apply_gate_verdict"]["config"]
    assert (config["promote"], config["actor"], config["reason"]) == (True, "2", "promote")
    again = shadow_tick(comparison(400, lift_bps=-1.0), cursor=tick.cursor)
    assert not again.run_requests and again.skip_message == f"{KEY}: judged already"


def test_shadow_sensor_given_challenger_no_better_requests_archive_with_reason() -> None:
    tick = shadow_tick(comparison(300, lift_bps=0.0))

    (request,) = tick.run_requests or []
    assert request.run_key == f"shadow-gate-{KEY}-archive"
    config = valid_for(promotion_job.name, request.run_config)["ops"]["apply_gate_verdict"]["config"]
    assert config["promote"] is False
    assert config["reason"].split(" ")[0] in ("ci_includes_zero", "challenger_worse")


def test_shadow_sensor_given_shards_not_all_shadowing_returns_skip() -> None:
    tick = shadow_tick(comparison(300, lift_bps=1.0, versions=None))

    assert not tick.run_requests
    assert tick.skip_message is not None and "no challenger is shadowed by every shard" in tick.skip_message


def challenger_tick(
    current: ResolvedVersions | None, cursor: str | None = None, serve_url: str | None = "http://serve:8000"
) -> Any:
    sensor = build_new_challenger_sensor(shadow_start_job.name, current=lambda: current)
    with pytest.MonkeyPatch.context() as env:
        if serve_url is None:
            env.delenv("RTOPT_SERVE_URL", raising=False)
        else:
            env.setenv("RTOPT_SERVE_URL", serve_url)
        return sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor))


def test_new_challenger_sensor_given_new_challenger_requests_reload_once() -> None:
    tick = challenger_tick(CHALLENGER)
    again = challenger_tick(CHALLENGER, cursor=tick.cursor)

    (request,) = tick.run_requests or []
    assert request.run_key == f"shadow-start-{KEY}" and tick.cursor == KEY
    assert request.tags[TRIGGER_TAG] == "new_challenger"
    config = valid_for(shadow_start_job.name, request.run_config)["ops"]["reload_serve_for_challenger"]["config"]
    assert (config["regime"], config["bandit"], config["actor"]) == ("2", "1", "2")
    assert not again.run_requests and again.skip_message == f"challenger unchanged ({KEY})"


def test_new_challenger_sensor_given_challenger_gone_moves_cursor_without_request() -> None:
    tick = challenger_tick(None, cursor=KEY)

    assert not tick.run_requests
    assert (tick.skip_message, tick.cursor) == ("no challenger registered", "none")


def test_new_challenger_sensor_given_no_serve_app_skips_and_moves_cursor() -> None:
    tick = challenger_tick(CHALLENGER, serve_url=None)

    assert not tick.run_requests
    assert tick.cursor == KEY
    assert tick.skip_message is not None and "no Serve app to reload" in tick.skip_message
