"""`rtopt kill`, `rtopt resume`, `rtopt risk status`: the kill switch from a shell.

The commands write (or read) the kill file, ``$RTOPT_HOME/risk/kill_switch.json``
(``serving.safety.kill_switch``). Every ``PreTradeRisk`` built with that file reads it when it starts, so a
restarted engine comes back HALTED, and a running one ``stat``s it on the order path at most every 50 ms and
adopts a newer write: ``rtopt kill`` blocks a running Serve app's next order at most ~50 ms after it returns
(``measure_kill_latency(route="file")``), with no HTTP call. Each shard's monitor reads the same file, so
one kill halts every shard.

Who may do this is whoever may write ``$RTOPT_HOME`` (the file's permissions are the authentication of a
shell command); every write records who (``--by``) and why (``--cause``), and its ``seq`` grows by one.

With ``--url`` the command goes to a running Serve app instead (``POST /v1/admin/kill|resume``), with the role
token in ``$RTOPT_TOKEN_RISK`` (``--token-env`` names another variable; never an argument, where ``ps`` would
show it). The app's roles (``serving.safety.auth``): a trader may kill, only risk or admin may resume; the
audit record's ``by`` is ``<role>:<--by>``. A refusal (401, 403, 422) or an unreachable app is an error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from datetime import UTC, datetime
from typing import Any

from orchestration.settings import Settings
from orchestration.veto_cli import RoleClient, role_token
from serving.safety.kill_switch import KillSwitchRecord, KillSwitchStore, kill_switch_path

RISK_COMMANDS = ("kill", "resume", "risk")
DEFAULT_TOKEN_ENV = "RTOPT_TOKEN_RISK"


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--url", default=None, help="a running Serve app (default: write the kill file)")
    remote.add_argument("--token-env", default=DEFAULT_TOKEN_ENV, help="variable holding the role token (--url)")
    remote.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the app (--url)")
    help_kill = "trip the kill switch: every engine on this RTOPT_HOME (or the app at --url) goes HALTED"
    kill = sub.add_parser("kill", parents=[remote], help=help_kill)
    kill.add_argument("--cause", required=True, help="why (kept with the state change)")
    kill.add_argument("--by", default=None, help="who (default: cli:<login name>)")
    help_resume = "a person's decision to trade again: the kill switch off (ACTIVE)"
    resume = sub.add_parser("resume", parents=[remote], help=help_resume)
    resume.add_argument("--by", required=True, help="who decided")
    resume.add_argument("--cause", required=True, help="why it is safe to trade again")
    risk = sub.add_parser("risk", help="the risk monitor's persisted state")
    risk_sub = risk.add_subparsers(dest="risk_command", required=True)
    risk_sub.add_parser("status", help="the kill switch and the strategies disabled until a person re-enables them")


def run_risk_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("kill", "resume") and args.url is not None:
        print(json.dumps(_remote(args), indent=2))
        return 0
    store = KillSwitchStore(kill_switch_path(settings.home))
    if args.command == "kill":
        record = store.kill(_required("cause", args.cause), args.by or _login(), time.time_ns())
    elif args.command == "resume":
        record = store.resume(_required("cause", args.cause), _required("by", args.by), time.time_ns())
    else:
        record = store.read()
    print(json.dumps(describe(record, store), indent=2))
    return 0


def _remote(args: argparse.Namespace) -> dict[str, Any]:
    """``rtopt kill|resume --url``: the Serve app's answer (each shard's trading state)."""
    token = role_token(args.token_env, f"role token to {args.command} the app at {args.url}")
    client = RoleClient(args.url, token, timeout_s=args.timeout)
    by = (args.by or _login()) if args.command == "kill" else _required("by", args.by)
    return client.post(f"/v1/admin/{args.command}", {"cause": _required("cause", args.cause), "by": by})


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
