"""The ``rtopt`` command: ingest, info, demo, scenario, dev, publish, stream, backtest, serve, audit."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from models.marketdata.loaders import LoaderError
from models.marketdata.schema import DataKind
from models.marketdata.timeparse import TimeFormatError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtopt", description="Real-time trading optimization platform.")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="validate a market-data file and store it for the assets")
    ingest.add_argument("file", type=Path)
    ingest.add_argument("--symbol", required=True)
    ingest.add_argument("--kind", choices=[k.value for k in DataKind], default=DataKind.BARS.value)
    ingest.add_argument("--time-format", default=None, help="auto (default), compact, dayfirst, unix_ms, or strftime")
    ingest.add_argument("--ask", type=Path, default=None, help="ASK-side bar file; FILE is then the BID side")
    info = sub.add_parser("info", help="where every piece of state lives and which backend serves it")
    info.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="ingest the shipped real data and run the platform job end to end")
    from orchestration.streaming_cli import add_commands

    add_commands(sub)
    from orchestration.backtest_cli import add_command as add_backtest

    add_backtest(sub)
    from orchestration.serve_cli import add_command as add_serve

    add_serve(sub)
    from orchestration.audit_cli import add_command as add_audit

    add_audit(sub)
    from orchestration.risk_cli import add_command as add_risk

    add_risk(sub)
    from orchestration.veto_cli import add_command as add_veto

    add_veto(sub)
    from orchestration.lifecycle_cli import add_command as add_lifecycle

    add_lifecycle(sub)
    from orchestration.scenario_cli import add_command as add_scenario

    add_scenario(sub)
    dev = sub.add_parser("dev", help="start the Dagster UI and the MLflow UI on localhost")
    dev.add_argument("--dagster-port", type=int, default=3000)
    dev.add_argument("--mlflow-port", type=int, default=5000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except (LoaderError, TimeFormatError, ValueError, FileNotFoundError) as exc:
        print(f"rtopt {args.command}: error: {exc}", file=sys.stderr)
        return 2


# command -> (module, function(args, settings)); imported on use, so `rtopt --help` stays fast.
_COMMANDS: dict[str, tuple[str, str]] = {
    "backtest": ("orchestration.backtest_cli", "run_backtest_command"),
    "serve": ("orchestration.serve_cli", "run_serve_command"),
    "audit": ("orchestration.audit_cli", "run_audit_command"),
    "promote": ("orchestration.lifecycle_cli", "run_lifecycle_command"),
    "rollback": ("orchestration.lifecycle_cli", "run_lifecycle_command"),
    "veto": ("orchestration.veto_cli", "run_veto_command"),
    "kill": ("orchestration.risk_cli", "run_risk_command"),
    "resume": ("orchestration.risk_cli", "run_risk_command"),
    "risk": ("orchestration.risk_cli", "run_risk_command"),
    "scenario": ("orchestration.scenario_cli", "run_scenario_command"),
}


def _dispatch(args: argparse.Namespace) -> int:
    from orchestration.settings import load_settings, prepare

    settings = load_settings()
    prepare(settings)
    if args.command == "info":
        from orchestration.info import describe, render

        print(json.dumps(describe(settings), indent=2) if args.json else render(describe(settings)))
        return 0
    if args.command == "ingest":
        return _ingest(args, settings)
    if args.command in ("publish", "stream"):
        from orchestration.streaming_cli import run_publish, run_stream

        return (run_publish if args.command == "publish" else run_stream)(args, settings)
    handler = _COMMANDS.get(args.command)
    if handler is not None:
        module, function = handler
        run: Callable[[argparse.Namespace, object], int] = getattr(importlib.import_module(module), function)
        return run(args, settings)
    if args.command == "demo":
        from orchestration.demo import run_demo

        return run_demo(settings)
    from orchestration.dev import run_dev

    return run_dev(settings, args.dagster_port, args.mlflow_port)


def _ingest(args: argparse.Namespace, settings: object) -> int:
    from dagster import DagsterInstance

    from models.marketdata.store import MarketDataStore
    from orchestration.ingestion import ingest
    from orchestration.settings import Settings

    assert isinstance(settings, Settings)
    store = MarketDataStore(settings.market_data_root)
    with DagsterInstance.get() as instance:
        manifest = ingest(store, instance, args.file, args.symbol, DataKind(args.kind), args.time_format, args.ask)
    if manifest.accepted == 0:
        print(
            f"rtopt ingest: error: {args.file}: no valid rows ({manifest.rejected} rejected, reasons in "
            f"{manifest.rejects_path})",
            file=sys.stderr,
        )
        return 2
    print(f"accepted {manifest.accepted} rows, rejected {manifest.rejected}")
    print(json.dumps({k: v for k, v in asdict(manifest).items() if k != "sources"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
