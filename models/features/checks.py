"""Data-quality checks on computed features: NaN after warm-up, point in time, value ranges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.features.definitions import FeatureDef

FeatureFn = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """Whether a check passed, and the numbers behind it."""

    passed: bool
    details: dict[str, float | int | str]


def nan_after_warmup(features: pd.DataFrame, names: tuple[str, ...], warmup: int) -> CheckOutcome:
    """No feature is NaN or infinite from row ``warmup`` on."""
    tail = features[list(names)].iloc[warmup:].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(tail)
    per_feature = {name: int(bad[:, i].sum()) for i, name in enumerate(names) if bad[:, i].any()}
    return CheckOutcome(not per_feature, {"rows_checked": len(tail), **per_feature})


def value_ranges(features: pd.DataFrame, defs: tuple[FeatureDef, ...], warmup: int) -> CheckOutcome:
    """Every defined value lies within its feature's documented bounds."""
    tail = features.iloc[warmup:]
    outside: dict[str, float | int | str] = {}
    for d in defs:
        values = tail[d.name].to_numpy(dtype=np.float64)
        low = -np.inf if d.lower is None else d.lower
        high = np.inf if d.upper is None else d.upper
        count = int(((values < low) | (values > high)).sum())
        if count:
            outside[d.name] = count
    return CheckOutcome(not outside, {"rows_checked": len(tail), **outside})


def point_in_time(events: pd.DataFrame, compute: FeatureFn, names: tuple[str, ...], cut: int) -> CheckOutcome:
    """Changing every row after ``cut`` (prices scaled, volumes doubled) never changes a feature at or before it.

    Features are computed twice: on the events as they are and on a copy whose future rows are
    perturbed; rows ``<= cut`` must be identical (bitwise, NaN equal to NaN).
    """
    if not 0 <= cut < len(events) - 1:
        raise ValueError(f"cut: {cut} must leave at least one row after it (have {len(events)} rows)")
    altered = events.copy()
    future = altered.index > altered.index[cut]
    for column in ("close", "high", "low", "bid", "ask"):
        if column in altered.columns:
            altered.loc[future, column] = altered.loc[future, column] * 1.5
    if "volume" in altered.columns:
        altered.loc[future, "volume"] = altered.loc[future, "volume"] * 2.0 + 1.0
    before = compute(events)[list(names)].iloc[: cut + 1].to_numpy()
    after = compute(altered)[list(names)].iloc[: cut + 1].to_numpy()
    same = (before == after) | (np.isnan(before) & np.isnan(after))
    return CheckOutcome(
        bool(same.all()), {"cut_row": cut, "rows_compared": cut + 1, "cells_changed": int((~same).sum())}
    )
