"""`rtopt backtest`: a market-data file through the DecisionEngine and its paper broker, beside the baselines.

Models come from the registry (the ``champion`` alias, the bundle serving uses) or, with
``--train-fraction F``, are trained on the file's first ``F`` of rows and the rest is backtested, so the
models never score on what they were trained on. The champion may have been trained on the very file
given; the command says so, and ``--train-fraction`` is the out-of-sample answer.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.marketdata.ingest import load_file
from models.marketdata.schema import DataKind
from models.marketdata.store import check_symbol
from orchestration.settings import Settings

if TYPE_CHECKING:  # the model stack (torch, SB3) loads only when a backtest runs, not for `rtopt --help`
    import pandas as pd

    from serving.decision.bundle import ModelBundle


class NoChampionError(LookupError):
    """The registry has no champion to backtest."""


NO_CHAMPION = (
    "no champion model in the registry at {uri}; run `make demo` (or the training_job) to register one, "
    "or pass --train-fraction F to train on the file's first part and backtest the rest"
)


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backtest", help="replay a market-data file through the DecisionEngine and score it beside the baselines"
    )
    parser.add_argument("--data", type=Path, required=True, help="any file the loaders accept (csv, csv.gz, parquet)")
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--kind", choices=[k.value for k in DataKind], default=DataKind.BARS.value)
    parser.add_argument("--time-format", default=None, help="auto (default), compact, dayfirst, unix_ms, or strftime")
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=None,
        help="train the models on this first fraction of the rows (0 < F < 1) instead of using the champion",
    )
    parser.add_argument("--agent", choices=("ppo", "ddpg"), default="ppo")
    parser.add_argument(
        "--agent-steps", type=int, default=None, help="agent training steps (with --train-fraction; default 4000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the training (with --train-fraction)")
    parser.add_argument("--json", type=Path, default=None, dest="json_out", help="write the results as JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="write the equity curves as a PNG here")


def _say(line: str) -> None:
    print(line, flush=True)


def _champion(args: argparse.Namespace, settings: Settings) -> tuple[ModelBundle, dict[str, Any]] | None:
    """The registry's champion bundle for ``args.agent``; None when nothing is registered."""
    from serving.decision.registry import load_bundle, resolve

    versions = resolve("champion", args.agent)
    if versions is None:
        return None
    bundle = load_bundle(versions, settings.home / "serving" / "models")
    _say(f"models: registry champion {dict(bundle.versions)}")
    _say("note: the champion may have been trained on this file; --train-fraction gives an out-of-sample test")
    return bundle, {"models": {"source": "registry", "alias": "champion"}}


def _train(
    args: argparse.Namespace, settings: Settings, frame: pd.DataFrame, kind: DataKind
) -> tuple[ModelBundle, pd.DataFrame, dict[str, Any]]:
    """Train a bundle on the first ``--train-fraction`` of ``frame``; the rest is what gets backtested."""
    from serving.decision.training import BundleTrainingConfig, train_bundle

    fraction = args.train_fraction
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--train-fraction: must lie strictly between 0 and 1, got {fraction}")
    cut = int(len(frame) * fraction)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = settings.home / "backtest" / f"{args.symbol}-{stamp}"
    steps = BundleTrainingConfig().agent_steps if args.agent_steps is None else args.agent_steps
    config = BundleTrainingConfig(agent=args.agent, agent_steps=steps, seed=args.seed)
    _say(f"training on rows [0, {cut}) of {len(frame)}, backtesting rows [{cut}, {len(frame)}); models in {folder}")
    bundle = train_bundle(frame.iloc[:cut], kind, folder, config, progress=_say)
    source = {"source": "trained", "train_fraction": fraction, "train_rows": cut, "folder": str(folder)}
    return bundle, frame.iloc[cut:], {"models": source | {"agent": args.agent, "agent_steps": steps}}


def _models(
    args: argparse.Namespace, settings: Settings, frame: pd.DataFrame, kind: DataKind
) -> tuple[ModelBundle, pd.DataFrame, dict[str, Any]]:
    """The bundle, the rows to backtest and where the models came from (trained, or the champion)."""
    if args.train_fraction is not None:
        return _train(args, settings, frame, kind)
    champion = _champion(args, settings)
    if champion is None:
        raise NoChampionError(NO_CHAMPION.format(uri=settings.mlflow_tracking_uri))
    bundle, extra = champion
    return bundle, frame, extra


def run_backtest_command(args: argparse.Namespace, settings: Settings) -> int:
    from serving.decision.backtest import format_table, run_backtest, write_json, write_plot
    from serving.decision.registry import ModelUnavailableError

    check_symbol(args.symbol)
    kind = DataKind(args.kind)
    loaded = load_file(args.data, kind, args.time_format)
    _say(f"loaded {loaded.accepted_count} rows of {args.data} ({loaded.rejected_count} rejected by validation)")
    try:
        bundle, frame, extra = _models(args, settings, loaded.frame, kind)
    except (NoChampionError, ModelUnavailableError) as error:
        print(f"rtopt backtest: error: {error}", file=sys.stderr)
        return 2
    outcome = run_backtest(frame, kind, args.symbol, bundle, progress=_say)
    _say(f"\n{args.symbol}: {len(outcome.window)} events scored, {outcome.events_per_s:,.0f} events/s")
    if outcome.rejected:
        _say(f"rejected by the engine: {dict(outcome.rejected)}")
    _say(format_table(outcome))
    if args.json_out is not None:
        _say(f"json: {write_json(outcome, args.json_out, {'data': str(args.data), **extra})}")
    if args.plot is not None:
        _say(f"plot: {write_plot(outcome, args.plot)}")
    return 0
