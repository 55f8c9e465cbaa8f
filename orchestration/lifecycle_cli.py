"""`rtopt promote` and `rtopt rollback`: move the champion by hand, all or nothing (``serving.lifecycle``).

    rtopt promote [--agent ppo] [--serve-url URL] [--reason R] [--by NAME]
    rtopt rollback [--agent ppo] [--serve-url URL] --reason R --by NAME

``promote`` makes the current challenger (the registry's ``challenger`` alias) the champion without waiting
for the shadow gate: an operator's decision, audited with who and why. ``rollback`` returns the champion to
the versions the ``previous`` alias names (the champion before the last promotion), once.

With ``--serve-url`` (default ``$RTOPT_SERVE_URL``) the Serve app is reloaded with ``Authorization: Bearer
$RTOPT_TOKEN_ADMIN`` (``--token-env`` names another variable) and every shard must report the new champion,
or the aliases go back. Without a URL the aliases move unverified and running apps follow on their next
registry poll. The result prints as JSON; exit 0 when done, 1 when refused or reverted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from mlflow import MlflowClient

from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV, lifecycle_resource
from orchestration.settings import Settings
from serving.decision.audit import AuditTrail, open_audit
from serving.decision.registry import resolve
from serving.lifecycle.promotion import PromotionResult, Reload, promote, rollback
from serving.lifecycle.serve_http import serve_reload

LIFECYCLE_COMMANDS = ("promote", "rollback")


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--agent", choices=["ppo", "ddpg"], default="ppo")
    common.add_argument("--serve-url", default=None, help=f"the Serve app to hot-swap (default ${SERVE_URL_ENV})")
    common.add_argument("--token-env", default=ADMIN_TOKEN_ENV, help="variable holding the Serve admin token")
    promote_cmd = sub.add_parser(
        "promote", parents=[common], help="make the challenger the champion (aliases, audit, Serve hot-swap)"
    )
    promote_cmd.add_argument("--reason", default="manual promotion", help="why (kept in the audit trail)")
    promote_cmd.add_argument("--by", default=None, help="who decided (default: the login name)")
    rollback_cmd = sub.add_parser("rollback", parents=[common], help="return the champion to the previous versions")
    rollback_cmd.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    rollback_cmd.add_argument("--by", required=True, help="who decided")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "unknown"


def _reload(args: argparse.Namespace) -> Reload | None:
    url = args.serve_url or os.environ.get(SERVE_URL_ENV, "").strip()
    if not url:
        return None
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        raise ValueError(f"{args.token_env}: unset; export the Serve admin token to reload {url}")
    return serve_reload(url, token)


def _run(args: argparse.Namespace, settings: Settings, audit: AuditTrail, reload: Reload | None) -> PromotionResult:
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri)
    cache, by = Path(lifecycle_resource(settings).model_cache), args.by or _operator()
    if args.command == "rollback":
        return rollback(
            agent=args.agent, client=client, audit=audit, cache=cache, reload=reload, reason=args.reason, by=by
        )
    challenger = resolve("challenger", args.agent, client)
    if challenger is None:
        raise ValueError("no challenger registered: nothing to promote")
    return promote(challenger, client=client, audit=audit, cache=cache, reload=reload, reason=args.reason, by=by)


def run_lifecycle_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``rtopt promote`` or ``rtopt rollback``; 0 when done, 1 when refused or reverted."""
    reload = _reload(args)
    audit = open_audit(settings.audit_dsn)
    try:
        result = _run(args, settings, audit, reload)
    finally:
        audit.close()
    print(json.dumps(result.to_dict(), indent=2))
    if not result.ok:
        print(f"rtopt {args.command}: {result.status}: {result.cause}", file=sys.stderr)
    elif reload is None:
        print(f"rtopt {args.command}: no Serve app given: running apps follow on their registry poll", file=sys.stderr)
    return 0 if result.ok else 1
