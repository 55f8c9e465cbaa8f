"""The evaluation protocol: splits, walk-forward folds, seeds and costs, fixed in code before any result is seen.

``PROTOCOL_V1`` was written, and every value in it chosen, before this package ran its first backtest. It is
the protocol the ``model_evaluation`` asset reports under. Changing a value after looking at results is a new
protocol (a new ``version``), and the results of the old one stay reported: choosing the split, the folds or
the costs that make a policy look best is data snooping (H. White, "A reality check for data snooping",
Econometrica 2000), and the reported Sharpe ratio would then be the maximum of many tries, not an estimate.

Time is split chronologically, never shuffled::

    rows   [0 ............ train ............)[ ... validation ... )[ ........ test ........ )
    folds                                                           [ fold 0 )[ fold 1 ) ...

The train part fits the models, the validation part chooses between them (the champion gate), and the test
part is only ever scored. Walk-forward folds cut the test part into consecutive windows; the training data of
fold ``k`` is everything before its window (an expanding window: train + validation + the earlier folds), less
``embargo_bars`` rows. With one-bar rewards no embargo is needed: the last training label, the move from row
``s - 1`` to ``s``, ends where the first scored move of the fold (``s`` to ``s + 1``) begins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, overload

import pandas as pd

from models.env.config import ExecutionConfig, check_int, check_number
from models.env.replay import MarketReplay
from models.marketdata.schema import TIME

BARS_PER_YEAR_1M_CRYPTO = 525_600.0
"""1-minute bars in a year of a market that trades 24/7 with no holidays (crypto): 365 * 24 * 60."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EvaluationProtocol:
    """How policies are evaluated; fixed in code BEFORE results are seen (see the module docstring).

    Frozen and keyword-only, so a protocol cannot drift during a run and an unknown field is an error.
    """

    version: str = "v1"
    """Name recorded with every result (MLflow, Dagster metadata); a changed value is a new version."""
    train_fraction: float = 0.6
    """First part of the rows, chronologically: the models' training data."""
    validation_fraction: float = 0.2
    """Middle part: model selection (the champion gate), never scored here."""
    test_fraction: float = 0.2
    """Last part: scored out of sample, never used for training by this package."""
    n_folds: int = 4
    """Consecutive walk-forward windows the test part is cut into (expanding training window)."""
    embargo_bars: int = 0
    """Rows dropped from the end of each fold's training data; set it to the label horizon - 1."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Every seeded policy (random arm choice, the bandit's exploration) runs once per seed; all are reported."""
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    """Fees and slippage: the trading environment's own execution model, so costs match the env."""
    entry_factor: float = 1.0
    """Limit aggressiveness of opening legs of policies without an actor (1: pay the ask / hit the bid)."""
    exit_factor: float = 1.0
    """Limit aggressiveness of reducing legs of policies without an actor (1: cross the spread)."""
    bars_per_year: float = BARS_PER_YEAR_1M_CRYPTO
    """Annualization of Sharpe and Sortino: 525,600 one-minute bars for a 24/7 crypto market."""
    risk_free_rate: float = 0.0
    """Annual risk-free rate subtracted from returns in Sharpe and Sortino (0: a perpetual's margin earns none)."""

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("version: must be a non-empty name")
        for name in ("train_fraction", "validation_fraction", "test_fraction"):
            check_number(self, name, 0.0, 1.0, open_low=True)
        total = self.train_fraction + self.validation_fraction + self.test_fraction
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"test_fraction: train + validation + test must sum to 1, got {total}")
        check_int(self, "n_folds", 1)
        check_int(self, "embargo_bars", 0)
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds: must be a non-empty tuple of ints >= 0, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: must be distinct, got {self.seeds!r}")
        if not isinstance(self.execution, ExecutionConfig):
            raise ValueError(f"execution: must be an ExecutionConfig, got {type(self.execution).__name__}")
        check_number(self, "entry_factor", 0.0, 1.0)
        check_number(self, "exit_factor", 0.0, 1.0)
        check_number(self, "bars_per_year", 0.0, 1e9, open_low=True)
        check_number(self, "risk_free_rate", -1.0, 10.0)


PROTOCOL_V1 = EvaluationProtocol()
"""The protocol the platform reports under: 60/20/20 split, 4 folds, seeds 0-2, the env's default costs."""


class Split(NamedTuple):
    """Row ranges of the three chronological parts."""

    train: range
    validation: range
    test: range


@dataclass(frozen=True, kw_only=True, slots=True)
class Fold:
    """One walk-forward window: ``test`` is scored, ``train`` (all of it before ``test``) may fit models."""

    index: int
    train: range
    test: range

    def __post_init__(self) -> None:
        if self.train.start != 0 or self.train.step != 1 or self.test.step != 1:
            raise ValueError(f"train: an expanding window starts at row 0 with step 1, got {self.train}")
        if len(self.train) < 2 or len(self.test) < 1:
            raise ValueError(f"train/test: need >= 2 training rows and >= 1 test row, got {self.train}, {self.test}")
        if self.train.stop > self.test.start:
            raise ValueError(f"train: {self.train} overlaps the test window {self.test}")


def split_bounds(n_rows: int, protocol: EvaluationProtocol = PROTOCOL_V1) -> Split:
    """The train, validation and test row ranges of ``n_rows`` chronological rows."""
    train_stop = round(n_rows * protocol.train_fraction)
    validation_stop = round(n_rows * (protocol.train_fraction + protocol.validation_fraction))
    parts = Split(range(0, train_stop), range(train_stop, validation_stop), range(validation_stop, n_rows))
    if min(len(parts.train), len(parts.validation)) < 2 or len(parts.test) < 2 * protocol.n_folds:
        raise ValueError(
            f"n_rows: {n_rows} rows give parts of {[len(p) for p in parts]} rows; every part needs 2 and the test "
            f"part 2 per fold ({protocol.n_folds} folds)"
        )
    return parts


@overload
def split(
    frame: pd.DataFrame, protocol: EvaluationProtocol = ...
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]: ...


@overload
def split(
    frame: MarketReplay, protocol: EvaluationProtocol = ...
) -> tuple[MarketReplay, MarketReplay, MarketReplay]: ...


def split(
    frame: pd.DataFrame | MarketReplay, protocol: EvaluationProtocol = PROTOCOL_V1
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | tuple[MarketReplay, MarketReplay, MarketReplay]:
    """``(train, validation, test)`` of a chronological event/feature frame or a replay, by the protocol's fractions.

    A frame with a ``timestamp`` column must be sorted by it: a shuffled frame would leak the future into train.
    A replay's parts keep the features computed from the history before them (``MarketReplay.slice``).
    """
    parts = split_bounds(len(frame), protocol)
    if isinstance(frame, MarketReplay):
        train, validation, test = (frame.slice(p.start, p.stop) for p in parts)
        return train, validation, test
    if TIME in frame.columns and not frame[TIME].is_monotonic_increasing:
        raise ValueError(f"frame: {TIME} must be non-decreasing; sort the frame before splitting it")
    first, middle, last = (frame.iloc[p.start : p.stop] for p in parts)
    return first, middle, last


def walk_forward_folds(n_rows: int, protocol: EvaluationProtocol = PROTOCOL_V1) -> tuple[Fold, ...]:
    """The protocol's folds: the test part cut into ``n_folds`` consecutive windows of near-equal length.

    Fold ``k`` trains on rows ``[0, test_start_k - embargo_bars)``: everything before its window, so the
    windows are chronological, never overlap their own training data, and together cover the test part.
    """
    test = split_bounds(n_rows, protocol).test
    k = protocol.n_folds
    edges = [test.start + (len(test) * i) // k for i in range(k + 1)]
    return tuple(
        Fold(index=i, train=range(0, edges[i] - protocol.embargo_bars), test=range(edges[i], edges[i + 1]))
        for i in range(k)
    )
