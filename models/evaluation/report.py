"""Rendering an ``EvaluationReport``: a Markdown summary and a PNG of every equity curve.

Both show every policy the report holds, in its order, with no ranking and no highlighting of a winner:
the reader sees the composed policy next to the baselines it has to beat, including when it loses.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from models.evaluation.compare import EvaluationReport, PolicyResult
from models.evaluation.metrics import Metrics

_HEADER = "| policy | total return | Sharpe | Sortino | max drawdown | turnover | hit rate | trades | costs (bps) |"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100.0 * value:+.2f}%"


def _ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.2f}"


def _metrics_cells(metrics: Metrics) -> list[str]:
    return [
        _percent(metrics.total_return),
        _ratio(metrics.sharpe),
        _ratio(metrics.sortino),
        "n/a" if math.isnan(metrics.max_drawdown) else f"{100.0 * metrics.max_drawdown:.2f}%",
        f"{metrics.turnover:.1f}",
        "n/a" if math.isnan(metrics.hit_rate) else f"{100.0 * metrics.hit_rate:.1f}%",
        str(metrics.trade_count),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _utc(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _preamble(report: EvaluationReport) -> list[str]:
    p, costs = report.protocol, report.protocol.execution
    times = report.timestamps_ns
    return [
        f"# Out-of-sample evaluation (protocol {p.version})",
        "",
        f"Test window: {_utc(int(times[0]))} to {_utc(int(times[-1]))}, {len(times) - 1} decisions in "
        f"{len(report.folds)} walk-forward folds (split {p.train_fraction:g}/{p.validation_fraction:g}/"
        f"{p.test_fraction:g}). Costs: fee {costs.fee_bps:g} bps, impact {costs.impact_bps:g} bps per full "
        f"position, volatility slippage {costs.volatility_slippage:g}, fallback spread {costs.fallback_spread_bps:g} "
        f"bps. Seeds {', '.join(map(str, p.seeds))}. Sharpe and Sortino annualized with {p.bars_per_year:,.0f} bars "
        f"per year, risk-free rate {p.risk_free_rate:g}.",
        "",
        "Every run is reported as it came out: no selection over seeds, folds or windows. n/a: undefined "
        "(no variance, no losing bar or no bar in the market). An arm that cannot act on this data (cross-venue "
        "arbitrage with one venue, market making without a quoted book) or that trades only through quotes "
        "(market making targets 0) is flat in a target-position backtest.",
        "",
    ]


def _summary_table(results: tuple[PolicyResult, ...]) -> list[str]:
    lines = [_HEADER, "|" + "---|" + "---:|" * 8]
    for r in results:
        lines.append(_row([r.name, *_metrics_cells(r.metrics), f"{r.total_cost_bps:.1f}"]))
    return lines


def _fold_table(report: EvaluationReport) -> list[str]:
    starts = [_utc(int(report.timestamps_ns[f.test.start - report.window.start])) for f in report.folds]
    header = ["policy", *(f"fold {f.index}: {start}" for f, start in zip(report.folds, starts, strict=True))]
    lines = ["## Total return per walk-forward fold", "", _row(header), "|---|" + "---:|" * len(report.folds)]
    lines += [_row([r.name, *(_percent(m.total_return) for m in r.fold_metrics)]) for r in report.results]
    return lines


def _arm_table(report: EvaluationReport) -> list[str]:
    choosing = [r for r in report.results if r.arm_shares and not r.name.startswith("strategy:")]
    if not choosing or not report.arms:
        return []
    lines = ["## Share of decisions per arm", "", _row(["policy", *report.arms]), "|---|" + "---:|" * len(report.arms)]
    lines += [_row([r.name, *(f"{100.0 * r.arm_shares[a]:.1f}%" for a in report.arms)]) for r in choosing]
    return lines


def report_markdown(report: EvaluationReport) -> str:
    """The report as Markdown: protocol, one metrics row per policy, per-fold returns and arm usage."""
    sections = [_preamble(report), _summary_table(report.results), [""], _fold_table(report)]
    arms = _arm_table(report)
    if arms:
        sections += [[""], arms]
    return "\n".join(line for section in sections for line in section) + "\n"


def plot_equity(report: EvaluationReport, path: str | Path) -> Path:
    """Write a PNG of every policy's equity curve (Agg backend, no display needed); returns the path.

    Baselines are dashed, the composed runs solid; dotted verticals mark the walk-forward fold starts.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(11.0, 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = report.timestamps_ns.astype("datetime64[ns]")
    palette = colormaps["tab20"]
    for i, result in enumerate(report.results):
        composed = result.name.startswith("composed")
        axes.plot(
            times,
            result.equity,
            label=result.name,
            color=palette(i % palette.N),
            linewidth=1.6 if composed else 0.9,
            linestyle="-" if composed else "--",
        )
    for fold in report.folds:
        axes.axvline(times[fold.test.start - report.window.start], color="grey", linestyle=":", linewidth=0.8)
    axes.axhline(1.0, color="black", linewidth=0.6)
    axes.set_title(f"Out-of-sample equity net of costs (protocol {report.protocol.version})")
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("equity (multiples of the maximum notional)")
    axes.legend(fontsize="small", ncol=2, loc="best")
    axes.grid(alpha=0.3)
    figure.savefig(out, format="png", dpi=100)
    return out
