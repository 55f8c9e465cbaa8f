"""`rtopt kill`, `rtopt resume`, `rtopt risk status`: the kill switch from a shell.

The commands write (or read) the kill file, ``$RTOPT_HOME/risk/kill_switch.json``
(``serving.safety.kill_switch``). Every ``PreTradeRisk`` built with that file reads it when it starts, so a
restarted engine comes back HALTED, and a running one ``stat``s it on the order path at most every 50 ms and
adopts a newer write: ``rtopt kill`` blocks a running Serve app's next order at most ~50 ms after it returns
(``measure_kill_latency(route="file")``), with no HTTP call. Each shard's monitor reads the same file, so
one kill halts every shard.

Who may do this is whoever may write ``$RTOPT_HOME`` (the file's permissions are the authentication of a
shell command); every write records who (``--by``) and why (``--cause``), and its ``seq`` grows by one.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from datetime import UTC, datetime
from typing import Any

from orchestration.settings import Settings
from serving.safety.kill_switch import KillSwitchRecord, KillSwitchStore, kill_switch_path

RISK_COMMANDS = ("kill", "resume", "risk")


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kill = sub.add_parser("kill", help="trip the kill switch: every engine on this RTOPT_HOME goes HALTED")
    kill.add_argument("--cause", required=True, help="why (kept with the state change)")
    kill.add_argument("--by", default=None, help="who (default: cli:<login name>)")
    resume = sub.add_parser("resume", help="a person's decision to trade again: the kill switch off (ACTIVE)")
    resume.add_argument("--by", required=True, help="who decided")
    resume.add_argument("--cause", required=True, help="why it is safe to trade again")
    risk = sub.add_parser("risk", help="the risk monitor's persisted state")
    risk_sub = risk.add_subparsers(dest="risk_command", required=True)
    risk_sub.add_parser("status", help="the kill switch and the strategies disabled until a person re-enables them")


def run_risk_command(args: argparse.Namespace, settings: Settings) -> int:
    store = KillSwitchStore(kill_switch_path(settings.home))
    if args.command == "kill":
        record = store.kill(_required("cause", args.cause), args.by or _login(), time.time_ns())
    elif args.command == "resume":
        record = store.resume(_required("cause", args.cause), _required("by", args.by), time.time_ns())
    else:
        record = store.read()
    print(json.dumps(describe(record, store), indent=2))
    return 0


def describe(record: KillSwitchRecord, store: KillSwitchStore) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(record.timestamp_ns / 1e9, tz=UTC).isoformat() if record.timestamp_ns else None
    return {
        "kill_switch": "on (HALTED)" if record.halted else "off",
        "halted": record.halted,
        "cause": record.cause,
        "by": record.by,
        "at": stamp,
        "seq": record.seq,
        "disabled_strategies": dict(record.disabled_strategies),
        "file": str(store.path),
    }


def _required(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise ValueError(f"--{name}: must not be empty")
    return value


def _login() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"
