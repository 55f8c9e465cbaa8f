"""PNGs of a training run for its MLflow artifacts ("plots/"): learning curves and a confusion matrix.

Rendered like ``models.evaluation.plot_equity``: a ``Figure`` on the Agg canvas (no display, no pyplot
global state, so safe in a Dagster worker thread), constrained layout, light grid, 100 dpi.
An empty curve is an error, never a blank picture: a run that learned nothing visible says so loudly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CURVE_SIZE = (8.0, 4.5)
"""Figure size in inches of a learning curve (800 x 450 pixels at ``DPI``)."""
CONFUSION_SIZE = (8.0, 7.0)
DPI = 100
CURVE_X_LABEL = "MLflow step (progress report index)"
"""The curves of a ``TrainingRecord`` are logged with step = index, so the plot uses the same axis."""


def plot_curve(name: str, values: Sequence[float], path: str | Path, *, model: str) -> Path:
    """Write a PNG of one learning curve (x: its index, as logged to MLflow; y: its values); returns the path."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"curve {name!r} of {model}: no values to plot (got shape {y.shape})")
    if not np.isfinite(y).any():
        raise ValueError(f"curve {name!r} of {model}: no finite value to plot")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=CURVE_SIZE, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # markers as well as the line: a curve of a few reports would otherwise read as a straight segment
    axes.plot(np.arange(y.size), y, marker="o", markersize=3, linewidth=1.2, color="tab:blue")
    axes.set_title(f"{model}: {name}")
    axes.set_xlabel(CURVE_X_LABEL)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(name)
    axes.grid(alpha=0.3)
    figure.savefig(out, format="png", dpi=DPI)
    return out


def curve_file_name(name: str) -> str:
    """``name`` as a file name: anything but letters, digits, ``-``, ``_`` and ``.`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"


def plot_curves(curves: Mapping[str, Sequence[float]], folder: Path, *, model: str) -> list[Path]:
    """One PNG per curve in ``folder``, named after the curve; raises on the first empty one."""
    names = [curve_file_name(n) for n in curves]
    if len(set(names)) != len(names):
        raise ValueError(f"curves of {model}: names {sorted(curves)} collide as file names {names}")
    return [plot_curve(n, v, folder / f, model=model) for (n, v), f in zip(curves.items(), names, strict=True)]


def _annotate_counts(axes: Axes, counts: npt.NDArray[np.int64], shares: npt.NDArray[np.float64]) -> None:
    for (i, j), count in np.ndenumerate(counts):
        dark = bool(shares[i, j] > 0.5)  # NaN compares False: a blank cell keeps black text
        axes.text(j, i, str(count), ha="center", va="center", fontsize="small", color="white" if dark else "black")


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, *, title: str) -> Path:
    """Write a PNG heatmap of a confusion matrix (rows: true class, columns: estimate); returns the path.

    Each cell shows its count; its colour is the share of its row, so that a rare class's errors are as
    visible as a frequent one's. A class with no rows is left blank (its share is undefined, not 0).
    """
    counts = np.asarray(confusion, dtype=np.int64)
    k = len(labels)
    if counts.shape != (k, k):
        raise ValueError(f"confusion: expected a {k} x {k} matrix for labels {list(labels)}, got shape {counts.shape}")
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.full(counts.shape, math.nan), where=rows > 0)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=CONFUSION_SIZE, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the true class's rows")
    _annotate_counts(axes, counts, shares)
    axes.set_xticks(range(k), labels, rotation=45, ha="right")
    axes.set_yticks(range(k), labels)
    axes.set_xlabel("estimate")
    axes.set_ylabel("true class")
    figure.suptitle(title)  # over the figure, not the axes: a long title would run into the colour bar
    figure.savefig(out, format="png", dpi=DPI)
    return out
