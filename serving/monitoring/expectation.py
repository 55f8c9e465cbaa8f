"""The champion's backtest expectation, kept as tags on its registered actor version.

``evaluate_champions`` (the ``model_evaluation`` asset) backtests the composed champion out of sample and
calls ``record_expectation``; a Serve shard reads it back with ``load_expectation`` when it loads a
champion, to judge the champion's live PnL against it (``models.monitoring.performance``). Tags on the
version, not metrics of a run: the expectation belongs to the model the shard loads, found by its version.
"""

from __future__ import annotations

from typing import cast, get_args

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.evaluation.compare import EvaluationReport
from models.monitoring.performance import BacktestExpectation
from serving.decision.registry import Agent, ResolvedVersions, resolve

CHAMPION = "champion"


def actor_model(versions: ResolvedVersions) -> tuple[str, str]:
    """(registered name, version) of the bundle's actor: the version the expectation is tagged on."""
    return f"rtopt-{versions.agent}", versions.actor


def record_expectation(versions: ResolvedVersions, expectation: BacktestExpectation, client: MlflowClient) -> None:
    """Tag the actor version of ``versions`` with ``expectation`` (replacing an earlier one)."""
    name, version = actor_model(versions)
    for key, value in expectation.to_tags().items():
        client.set_model_version_tag(name, version, key, value)


def load_expectation(versions: ResolvedVersions, client: MlflowClient) -> BacktestExpectation | None:
    """The expectation tagged on the actor version; None when it has none. Raises ``MlflowException`` when
    the registry cannot be read and ``ValueError`` when the tags are malformed."""
    name, version = actor_model(versions)
    tags = client.get_model_version(name, version).tags
    return BacktestExpectation.from_tags(tags)


def expectation_or_note(versions: ResolvedVersions, client: MlflowClient) -> tuple[BacktestExpectation | None, str]:
    """``load_expectation``, with why there is none instead of an exception (for a status page)."""
    name, version = actor_model(versions)
    try:
        expectation = load_expectation(versions, client)
    except (MlflowException, ValueError) as error:
        return None, f"{name}/{version}: backtest expectation unreadable ({type(error).__name__}: {error})"
    if expectation is None:
        return None, f"{name}/{version}: no backtest expectation tagged (run model_evaluation)"
    return expectation, ""


def composed_expectation(report: EvaluationReport) -> BacktestExpectation:
    """Per-decision PnL of the composed policy over every protocol seed's run of the test window."""
    runs = [r for r in report.results if r.name.startswith("composed")]
    if not runs:
        raise ValueError(f"report: no composed policy among {report.names}")
    pnl = np.concatenate([np.diff(r.equity) * 1e4 for r in runs])
    return BacktestExpectation.from_pnl(pnl)


def record_champion_expectation(report: EvaluationReport, agent: str, client: MlflowClient) -> BacktestExpectation:
    """Tag the champion's actor with what the backtest of ``report`` expects of it (``model_evaluation``)."""
    if agent not in get_args(Agent):
        raise ValueError(f"agent: must be one of {get_args(Agent)}, got {agent!r}")
    expectation = composed_expectation(report)
    champion = resolve(CHAMPION, cast(Agent, agent), client)
    if champion is None:
        raise ValueError(f"agent: no champion of rtopt-{agent} is registered to tag")
    record_expectation(champion, expectation, client)
    return expectation
