"""Market replay: the arrays an episode walks through, precomputed once from the offline features.

The features come from ``models.features.compute_features`` over the event frame, the batch twin of the
streaming ``FeatureEngine`` that the live path runs; there is no second feature implementation here.
Row t of every array is what is known at the close of bar t (the feature contract: row t depends only on
rows up to t), so the environment may read row t when deciding at t and row t + 1 when scoring it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.features import FEATURE_NAMES, compute_features, events_frame, timestamp_ns
from models.features.batch import event_arrays
from models.features.definitions import DEFAULT_CONFIG, FeatureConfig
from models.marketdata.schema import TIME, DataKind
from models.marketdata.simulator import REGIMES

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

N_REGIMES = len(REGIMES)
"""Width of the regime block: the seed's seven regimes, in ``models.marketdata.simulator.REGIMES`` order."""
VOLATILITY_FEATURE = "ewma_vol"
"""The feature that prices volatility in slippage and the risk penalty (per-bar log-return std)."""


def regime_one_hot(regime: npt.ArrayLike, n_rows: int) -> Float32Array:
    """Regime input as an ``(n_rows, 7)`` float32 block.

    Accepts integer codes (index into ``REGIMES``; -1 for unknown, which gives an all-zero row) or an
    already one-hot / probability block of shape ``(n_rows, 7)``.
    """
    values = np.asarray(regime)
    if values.ndim == 2:
        if values.shape != (n_rows, N_REGIMES):
            raise ValueError(f"regime: a one-hot block must have shape ({n_rows}, {N_REGIMES}), got {values.shape}")
        block = values.astype(np.float32)
        if not np.isfinite(block).all() or (block < 0.0).any() or (block > 1.0).any():
            raise ValueError("regime: one-hot entries must lie in [0, 1]")
        return block
    if values.shape != (n_rows,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"regime: integer codes must have shape ({n_rows},), got {values.shape} {values.dtype}")
    if ((values < -1) | (values >= N_REGIMES)).any():
        raise ValueError(f"regime: codes must lie in [-1, {N_REGIMES - 1}]")
    block = np.zeros((n_rows, N_REGIMES), dtype=np.float32)
    known = values >= 0
    block[np.flatnonzero(known), values[known]] = 1.0
    return block


def regime_codes(labels: pd.Series) -> IntArray:
    """Integer codes of regime labels (the simulator's ``regime`` column); unknown labels raise."""
    index = {regime.value: code for code, regime in enumerate(REGIMES)}
    unknown = set(labels.unique()) - set(index)
    if unknown:
        raise ValueError(f"regime: unknown labels {sorted(map(str, unknown))}")
    codes: IntArray = np.asarray(labels.map(index).to_numpy(), dtype=np.int64)
    return codes


def _first_valid_row(features: FloatArray) -> int:
    finite = np.isfinite(features).all(axis=1)
    return int(np.argmax(finite)) if finite.any() else len(features)


@dataclass(frozen=True, slots=True, eq=False)
class MarketReplay:
    """One symbol's history as aligned arrays; build it with ``from_events`` or ``from_bars``.

    Quotes may be NaN where the data has none; the environment then assumes a spread around the close
    (``ExecutionConfig.fallback_spread_bps``).
    """

    timestamps_ns: IntArray
    features: FloatArray
    """``(n, n_features)`` raw features in ``feature_names`` order, NaN in each feature's warm-up."""
    close: FloatArray
    high: FloatArray
    low: FloatArray
    bid: FloatArray
    ask: FloatArray
    volume: FloatArray
    volatility: FloatArray
    """Per-bar log-return volatility known at each row (``ewma_vol``; 0 in its warm-up)."""
    regime: Float32Array
    """``(n, 7)`` regime one-hot or probabilities; all zero where no regime is known."""
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __post_init__(self) -> None:
        n = len(self.close)
        if n < 2:
            raise ValueError(f"close: a replay needs at least 2 rows, got {n}")
        if self.features.shape != (n, len(self.feature_names)):
            raise ValueError(f"features: expected shape ({n}, {len(self.feature_names)}), got {self.features.shape}")
        if self.regime.shape != (n, N_REGIMES):
            raise ValueError(f"regime: expected shape ({n}, {N_REGIMES}), got {self.regime.shape}")
        for name in ("timestamps_ns", "high", "low", "bid", "ask", "volume", "volatility"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name}: expected shape ({n},), got {getattr(self, name).shape}")
        prices = np.stack([self.close, self.high, self.low])
        if not (np.isfinite(prices).all() and (prices > 0.0).all()):
            raise ValueError("close/high/low: prices must be finite and > 0")
        if not (self.low <= self.high).all():
            raise ValueError(f"low: must not exceed high (first at row {int(np.argmax(self.low > self.high))})")
        if not (np.isfinite(self.volatility).all() and (self.volatility >= 0.0).all()):
            raise ValueError("volatility: must be finite and >= 0")
        if np.diff(self.timestamps_ns).min(initial=0) < 0:
            raise ValueError("timestamps_ns: must be non-decreasing")

    def __len__(self) -> int:
        return len(self.close)

    @property
    def first_valid(self) -> int:
        """First row whose features are all defined (after the longest warm-up)."""
        return _first_valid_row(self.features)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        *,
        regime: npt.ArrayLike | None = None,
        feature_config: FeatureConfig = DEFAULT_CONFIG,
    ) -> MarketReplay:
        """Replay of a canonical event frame (``models.features.events_frame``), features computed offline."""
        table = compute_features(events, feature_config)
        names = tuple(str(c) for c in table.columns if c != TIME)
        features = table[list(names)].to_numpy(dtype=np.float64)
        ev = event_arrays(events)
        volatility = np.nan_to_num(features[:, names.index(VOLATILITY_FEATURE)], nan=0.0)
        n = len(events)
        return cls(
            timestamps_ns=timestamp_ns(events[TIME]),
            features=features,
            close=ev["close"],
            high=ev["high"],
            low=ev["low"],
            bid=ev["bid"],
            ask=ev["ask"],
            volume=ev["volume"],
            volatility=volatility,
            regime=regime_one_hot(np.full(n, -1) if regime is None else regime, n),
            feature_names=names,
        )

    @classmethod
    def from_bars(
        cls,
        frame: pd.DataFrame,
        kind: DataKind | str = DataKind.BARS,
        *,
        regime: npt.ArrayLike | None = None,
        feature_config: FeatureConfig = DEFAULT_CONFIG,
    ) -> MarketReplay:
        """Replay of a curated bars, quotes, trades or book frame (as loaded from ``models.marketdata``)."""
        return cls.from_events(events_frame(frame, kind), regime=regime, feature_config=feature_config)

    @classmethod
    def from_simulation(cls, frame: pd.DataFrame, *, with_regime: bool = True) -> MarketReplay:
        """Replay of ``models.marketdata.simulator.simulate`` output; its true regime labels fill the block."""
        regime = regime_codes(frame["regime"]) if with_regime else None
        return cls.from_bars(frame, DataKind.BARS, regime=regime)

    def slice(self, start: int, stop: int) -> MarketReplay:
        """Rows ``[start, stop)``; features keep the history before ``start`` they were computed from."""
        if not 0 <= start < stop <= len(self):
            raise ValueError(f"start/stop: need 0 <= start < stop <= {len(self)}, got {start}, {stop}")
        part = slice(start, stop)
        return MarketReplay(
            timestamps_ns=self.timestamps_ns[part],
            features=self.features[part],
            close=self.close[part],
            high=self.high[part],
            low=self.low[part],
            bid=self.bid[part],
            ask=self.ask[part],
            volume=self.volume[part],
            volatility=self.volatility[part],
            regime=self.regime[part],
            feature_names=self.feature_names,
        )
