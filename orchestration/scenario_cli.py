"""``rtopt scenario``: the end-to-end lifecycle scenario (``orchestration.scenario``) in its own state folder."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from orchestration.settings import DEFAULT_REDIS_URL

SCENARIO_HOME = "scenario"
"""The scenario's RTOPT_HOME, under the main one: its market data must hold the shifted week only."""
SCENARIO_REDIS_DB = 15
"""The scenario's own Redis database, emptied at its start. Feast keeps the newest row per entity and skips
a write at the same instant, so the shifted week's last BTC-PERP vector written to the shared database
would hide the real one (same timestamps) from every later write there."""


def add_command(sub: Any) -> None:
    parser = sub.add_parser("scenario", help="drift -> retraining -> shadow -> gate -> Serve swap, on real data")
    parser.add_argument("--output", type=Path, default=Path("bench/scenario.json"))
    parser.add_argument("--home", type=Path, default=None, help="state folder (default: RTOPT_HOME/scenario)")
    parser.add_argument("--total-steps", type=int, default=512, help="SB3 steps per agent and training run")


def scenario_redis_url(url: str) -> str:
    """``url`` with its database replaced by ``SCENARIO_REDIS_DB`` (same server, credentials and options)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"REDIS_URL: the scenario needs a redis:// or rediss:// URL, got scheme {parts.scheme!r}")
    return urlunsplit(parts._replace(path=f"/{SCENARIO_REDIS_DB}"))


def run_scenario_command(args: argparse.Namespace, settings: object) -> int:
    """Wipe and prepare the scenario's home, run the loop, print where to look; 1 when the loop broke off."""
    from orchestration.scenario import ScenarioConfig, run_scenario
    from orchestration.settings import Settings, load_settings, prepare

    assert isinstance(settings, Settings)
    config = ScenarioConfig(total_steps=args.total_steps, output=args.output)
    home = (args.home or settings.home / SCENARIO_HOME).resolve()
    # A fresh state each run: an earlier week (shifted or not) in the store would blur the break.
    shutil.rmtree(home, ignore_errors=True)
    # Exported, not only passed: ``orchestration.definitions`` resolves the settings again from the
    # environment when it is imported, and must find the scenario's.
    os.environ["REDIS_URL"] = scenario_redis_url(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    os.environ["RTOPT_HOME"] = str(home)
    redis_url = os.environ["REDIS_URL"]
    scenario_settings = load_settings()
    if scenario_settings.online_store.backend == "redis":
        redis.Redis.from_url(redis_url).flushdb()
    prepare(scenario_settings)
    report = run_scenario(scenario_settings, config)
    print(f"\nwrote {args.output}; look at the chain: RTOPT_HOME={home} rtopt dev")
    complete = "gate_decision" in report and report["swap_failed_requests"] == 0
    return 0 if complete else 1
