"""Drive a strategy over hand-made feature rows and collect what it targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.strategies import Signal, Strategy


def run(strategy: Strategy, rows: Sequence[Mapping[str, float]]) -> list[Signal]:
    return [strategy.on_features(row) for row in rows]


def targets(signals: Sequence[Signal]) -> list[float | None]:
    """Each signal's target position, None where the strategy was inactive."""
    return [s.target_position if s.active else None for s in signals]


def rows(names: Sequence[str], *values: Sequence[float]) -> list[dict[str, float]]:
    """Feature rows from columns: ``rows(("a", "b"), [a1, a2], [b1, b2])``."""
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
