"""Backtest: a file's rows through the DecisionEngine and its paper broker, scored beside the baselines.

Every row becomes the shared wire payload (``serving.decision.replay.frame_payloads`` of the canonical
event frame, so bars, quotes, trades and book snapshots all replay) and goes through ``engine.process``,
the same call the Ray Serve deployment and the Python API make: the backtest runs the production path,
not a model of it. After each event the champion's paper broker gives the equity curve, in units of the
maximum notional (``1 + equity / max_notional``, the convention of ``models.evaluation.backtest``), and
the position held after the event's fills.

The baselines (flat, buy-and-hold, each strategy alone, the random arm per protocol seed) run through
``models.evaluation`` on the same accepted rows, with the broker's execution costs (the env and the
paper broker share one cost model). Everything is scored from the first row whose features are all
defined (the engine holds ``warming_up`` before it, the baselines cannot decide), with the metrics that
``model_evaluation`` reports. An event the engine rejects is counted by reason and left out of the
baselines' rows too, so both sides always score the same events.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from models.env import MarketReplay
from models.env.replay import FloatArray, IntArray
from models.evaluation.backtest import BacktestResult, identity_scaler, market_view, run_policy
from models.evaluation.metrics import Metrics, compute_metrics
from models.evaluation.policies import baseline_policies
from models.evaluation.protocol import PROTOCOL_V1, EvaluationProtocol
from models.features import PAIR_FEATURE_NAMES, events_frame
from models.marketdata.schema import DataKind
from models.strategies import build_strategies
from models.streaming.events import EventRejected
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Decision
from serving.decision.replay import frame_payloads

ENGINE_POLICY = "decision_engine"
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestConfig:
    """The engine under test and how it is scored."""

    engine: EngineConfig = field(default_factory=lambda: EngineConfig(clock="market"))
    """Its ``symbols`` are replaced by the backtested symbol; the clock must be the market's."""
    protocol: EvaluationProtocol = PROTOCOL_V1
    """Annualization, the baselines' order factors and random-arm seeds; costs are taken from the broker."""
    progress_steps: int = 10
    """Progress lines over the replay (one every ``1 / progress_steps`` of the events)."""

    def __post_init__(self) -> None:
        if self.engine.clock != "market":
            # against the wall clock every historical event is older than max_feature_age: all would hold stale
            raise ValueError(f"engine.clock: a backtest needs the market clock, got {self.engine.clock!r}")
        if self.progress_steps < 1:
            raise ValueError(f"progress_steps: must be >= 1, got {self.progress_steps}")


@dataclass(frozen=True, kw_only=True, eq=False)
class BacktestOutcome:
    """One backtest: the engine's decisions and curves, and every policy's metrics over the scored window."""

    symbol: str
    kind: DataKind
    decisions: tuple[Decision, ...]
    """The champion's decision for every accepted event, in order."""
    timestamps_ns: IntArray
    """Event time of every accepted event."""
    equity: FloatArray
    """The engine's equity after every accepted event (units of the maximum notional, starting at 1)."""
    positions: FloatArray
    """The engine's position after every accepted event's fills (fraction of the maximum position)."""
    window: range
    """Accepted events scored: from the first with every feature defined to the last."""
    metrics: Mapping[str, Metrics]
    """Policy -> metrics over ``window``: the engine (``ENGINE_POLICY``) first, then the baselines."""
    curves: Mapping[str, FloatArray]
    """Policy -> equity over ``window`` (the engine's rebased to 1 at the window's start)."""
    rejected: Mapping[str, int]
    """Events the engine rejected, by reason."""
    events_per_s: float
    """Events through the replay loop (``engine.process`` and the recording) per second of wall time."""
    model_versions: Mapping[str, str]
    final_status: Mapping[str, Any]
    """``engine.status()`` after the last event (PnL, positions, risk events, bandit counts)."""

    def __post_init__(self) -> None:
        for array in (self.timestamps_ns, self.equity, self.positions, *self.curves.values()):
            array.flags.writeable = False

    def metrics_table(self) -> dict[str, dict[str, float]]:
        """Policy -> metric -> value (the shape ``EvaluationReport.metrics_table`` has)."""
        return {name: m.as_dict() for name, m in self.metrics.items()}


@dataclass(slots=True)
class _Replay:
    """What the replay loop records per accepted event (``rows``: its position in the payloads)."""

    decisions: list[Decision] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    positions: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _replay(engine: DecisionEngine, payloads: Sequence[Mapping[str, Any]], steps: int, say: Progress) -> _Replay:
    """Every payload through ``engine.process``; the champion's equity and position after each accepted one."""
    out, broker = _Replay(), engine.broker
    unit = 1.0 / engine.config.broker.max_notional
    every = max(1, math.ceil(len(payloads) / steps))
    started = time.perf_counter()
    for i, payload in enumerate(payloads):
        try:
            decision = engine.process(payload)
        except EventRejected:
            continue  # counted by the engine (``reject_counts``) with its reason
        out.decisions.append(decision)
        out.rows.append(i)
        out.equity.append(1.0 + broker.equity() * unit)
        # the position after the event's fills is the one the decision started from (its order works next event)
        out.positions.append(decision.previous_position)
        if (i + 1) % every == 0 or i + 1 == len(payloads):
            rate = (i + 1) / (time.perf_counter() - started)
            say(f"replay: {i + 1}/{len(payloads)} events ({100 * (i + 1) // len(payloads)}%), {rate:,.0f} events/s")
    out.seconds = time.perf_counter() - started
    return out


def _baselines(replay: MarketReplay, window: range, protocol: EvaluationProtocol) -> list[BacktestResult]:
    """Each baseline over ``window`` through the env's fills (the strategies' signals computed once).

    One symbol has no pair: the pair features are NaN, as the engine gives them (the pairs arm stays inactive).
    """
    nan_pairs = {name: np.full(len(replay), math.nan) for name in PAIR_FEATURE_NAMES}
    view = market_view(replay, window, build_strategies(), nan_pairs)
    scaler = identity_scaler(len(replay.feature_names))
    return [
        run_policy(replay, policy, view, scaler=scaler, protocol=protocol)
        for policy in baseline_policies(view.arms, protocol)
    ]


def _scored_window(replay: MarketReplay) -> range:
    window = range(replay.first_valid, len(replay))
    if len(window) < 2:
        raise ValueError(
            f"data: {len(replay)} accepted events leave {len(window)} after the features' warm-up "
            f"({replay.first_valid} rows); a backtest needs at least 2"
        )
    return window


def _metrics(equity: FloatArray, positions: FloatArray, protocol: EvaluationProtocol) -> Metrics:
    return compute_metrics(
        equity, positions, bars_per_year=protocol.bars_per_year, risk_free_rate=protocol.risk_free_rate
    )


def _score(
    run: _Replay, replay: MarketReplay, window: range, protocol: EvaluationProtocol
) -> tuple[dict[str, Metrics], dict[str, FloatArray]]:
    """Metrics and equity curves over ``window``: the engine's (rebased to 1 there), then each baseline's."""
    part = slice(window.start, window.stop)
    equity = np.asarray(run.equity)
    engine_curve = equity[part] / equity[window.start]
    baselines = _baselines(replay, window, protocol)
    metrics = {ENGINE_POLICY: _metrics(engine_curve, np.asarray(run.positions)[part], protocol)}
    metrics |= {r.policy: _metrics(r.equity, r.positions, protocol) for r in baselines}
    return metrics, {ENGINE_POLICY: engine_curve} | {r.policy: r.equity for r in baselines}


def run_backtest(
    frame: pd.DataFrame,
    kind: DataKind,
    symbol: str,
    bundle: ModelBundle,
    config: BacktestConfig | None = None,
    progress: Progress | None = None,
) -> BacktestOutcome:
    """Replay ``frame`` (a loaded file of ``kind``) through a fresh engine deciding with ``bundle``; score it.

    See the module docstring. Raises ``ValueError`` when too few events are left after the warm-up.
    """
    config = config or BacktestConfig()
    engine = DecisionEngine(bundle, replace(config.engine, symbols=frozenset({symbol})))
    protocol = replace(config.protocol, execution=engine.config.broker.execution)
    payloads = frame_payloads(events_frame(frame, kind), symbol)
    run = _replay(engine, payloads, config.progress_steps, progress or (lambda _: None))
    if not run.rows:
        raise ValueError(f"data: the engine rejected all {len(payloads)} events ({engine.reject_counts})")
    replay = MarketReplay.from_bars(frame.iloc[run.rows], kind)
    window = _scored_window(replay)
    metrics, curves = _score(run, replay, window, protocol)
    return BacktestOutcome(
        symbol=symbol,
        kind=kind,
        decisions=tuple(run.decisions),
        timestamps_ns=replay.timestamps_ns.copy(),
        equity=np.asarray(run.equity),
        positions=np.asarray(run.positions),
        window=window,
        metrics=MappingProxyType(metrics),
        curves=MappingProxyType(curves),
        rejected=MappingProxyType(dict(engine.reject_counts)),
        events_per_s=len(payloads) / run.seconds,
        model_versions=MappingProxyType(dict(bundle.versions)),
        final_status=MappingProxyType(engine.status()),
    )


# -- reporting -----------------------------------------------------------------------------------------


def decision_counts(decisions: Sequence[Decision]) -> dict[str, dict[str, int]]:
    """How often each action, hold reason ("none": the decision acted), strategy and regime occurred."""
    return {
        "actions": dict(Counter(d.action.value for d in decisions)),
        "hold_reasons": dict(Counter(d.hold_reason.value or "none" for d in decisions)),
        "strategies": dict(Counter(d.strategy for d in decisions if d.strategy)),
        "regimes": dict(Counter(d.regime for d in decisions)),
    }


def _utc(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def summary(outcome: BacktestOutcome) -> dict[str, Any]:
    """The JSON form: metrics table, decision counts, model versions, throughput, rejects, final state."""
    status = outcome.final_status
    times = outcome.timestamps_ns
    return {
        "symbol": outcome.symbol,
        "kind": outcome.kind.value,
        "events": len(outcome.decisions) + sum(outcome.rejected.values()),
        "decisions": len(outcome.decisions),
        "rejected": dict(outcome.rejected),
        "window": {
            "first_event": outcome.window.start,
            "events": len(outcome.window),
            "start": _utc(int(times[outcome.window.start])),
            "end": _utc(int(times[-1])),
        },
        "metrics": outcome.metrics_table(),
        "counts": decision_counts(outcome.decisions),
        "model_versions": dict(outcome.model_versions),
        "events_per_s": outcome.events_per_s,
        "final": {k: status[k] for k in ("trading_state", "total_pnl", "positions", "risk_events", "bandit")},
    }


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither); mappings and sequences recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(outcome: BacktestOutcome, path: Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``summary(outcome)`` (plus ``extra``, e.g. where the models came from) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = _json_safe({**summary(outcome), **(extra or {})})
    path.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n")
    return path


_COLUMNS = ("total return", "Sharpe", "Sortino", "max DD", "turnover", "hit rate", "trades")


def _cells(m: Metrics) -> list[str]:
    def fmt(value: float, spec: str, suffix: str = "") -> str:
        return "n/a" if math.isnan(value) else format(value, spec) + suffix

    return [
        fmt(100.0 * m.total_return, "+.2f", "%"),
        fmt(m.sharpe, "+.2f"),
        fmt(m.sortino, "+.2f"),
        fmt(100.0 * m.max_drawdown, ".2f", "%"),
        f"{m.turnover:.1f}",
        fmt(100.0 * m.hit_rate, ".1f", "%"),
        str(m.trade_count),
    ]


def format_table(outcome: BacktestOutcome) -> str:
    """The metrics as an aligned text table, the engine first, every baseline after it; n/a: undefined."""
    rows = [["policy", *_COLUMNS]] + [[name, *_cells(m)] for name, m in outcome.metrics.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
        for row in rows
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def write_plot(outcome: BacktestOutcome, path: Path) -> Path:
    """A PNG of the engine's equity (solid) beside every baseline's (dashed) over the scored window."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(11.0, 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = outcome.timestamps_ns[outcome.window.start :].astype("datetime64[ns]")
    palette = colormaps["tab20"]
    for i, (name, curve) in enumerate(outcome.curves.items()):
        engine = name == ENGINE_POLICY
        axes.plot(
            times,
            curve,
            label=name,
            color="black" if engine else palette(i % palette.N),
            linewidth=1.8 if engine else 0.9,
            linestyle="-" if engine else "--",
        )
    axes.axhline(1.0, color="grey", linewidth=0.6)
    axes.set_title(f"{outcome.symbol}: DecisionEngine vs baselines, equity net of costs")
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("equity (multiples of the maximum notional)")
    axes.legend(fontsize="small", ncol=2, loc="best")
    axes.grid(alpha=0.3)
    figure.savefig(path, format="png", dpi=100)
    return path
