"""Feature contract: the configuration, the names in vector order, and the table of definitions.

Both engines (``engine.FeatureEngine``, incremental; ``batch.compute_features``, vectorised) emit
exactly ``feature_names(config)`` in this order. Names carry the window length, so the defaults give
the published names (``ret_5``, ``zscore_30``, ...) and a changed window is a differently named
feature rather than a silently different one under the same name.

Warm-up, here and everywhere in this package, is the number of leading events whose value is NaN:
``values[warmup:]`` is always defined. It counts the events a window needs, e.g. ``ret_60`` needs the
close 60 events back, so its first 60 rows are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureConfig:
    """Window lengths of the single-symbol features, in events (bars, quotes or trades)."""

    ret_windows: tuple[int, int, int, int] = (1, 5, 15, 60)
    """Lags of the four log returns ``ret_k``; rvol, ewma_vol and amihud always use the 1-event return."""
    rvol_windows: tuple[int, int] = (15, 60)
    """Windows of the two realized volatilities."""
    ewma_lambda: float = 0.94
    """RiskMetrics decay of ``ewma_vol`` (J.P. Morgan, RiskMetrics Technical Document, 1996)."""
    roc_window: int = 10
    ma_fast: int = 10
    ma_slow: int = 30
    rsi_window: int = 14
    """Wilder's period; the smoothing is alpha = 1 / rsi_window (Wilder, 1978)."""
    zscore_window: int = 30
    volume_fast: int = 5
    volume_slow: int = 60
    vwap_window: int = 30
    spread_z_window: int = 60
    amihud_window: int = 30
    drawdown_window: int = 60

    def __post_init__(self) -> None:
        windows = {
            "ret_windows": self.ret_windows,
            "rvol_windows": self.rvol_windows,
            **{f: (getattr(self, f),) for f in _SCALAR_WINDOWS},
        }
        for field, values in windows.items():
            if any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{field}: windows must be integers >= 1, got {values!r}")
        for field in ("ret_windows", "rvol_windows"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field}: windows must be distinct (they name the features), got {values!r}")
        if self.ma_fast >= self.ma_slow:
            raise ValueError(f"ma_fast: {self.ma_fast} must be shorter than ma_slow {self.ma_slow}")
        if self.zscore_window < 2 or self.spread_z_window < 2:
            raise ValueError("zscore_window/spread_z_window: a z-score needs at least 2 events")
        if not 0.0 < self.ewma_lambda < 1.0:
            raise ValueError(f"ewma_lambda: must lie in (0, 1), got {self.ewma_lambda}")

    @property
    def longest_window(self) -> int:
        """Events of history the incremental engine keeps (the longest look-back plus the current event)."""
        return 1 + max(*self.ret_windows, *self.rvol_windows, *(int(getattr(self, f)) for f in _SCALAR_WINDOWS))


_SCALAR_WINDOWS = (
    "roc_window",
    "ma_fast",
    "ma_slow",
    "rsi_window",
    "zscore_window",
    "volume_fast",
    "volume_slow",
    "vwap_window",
    "spread_z_window",
    "amihud_window",
    "drawdown_window",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PairConfig:
    """Windows of the two-symbol features, in aligned events."""

    corr_window: int = 60
    spread_z_window: int = 60

    def __post_init__(self) -> None:
        if self.corr_window < 2 or self.spread_z_window < 2:
            raise ValueError(f"PairConfig: windows must be >= 2, got {self.corr_window}, {self.spread_z_window}")


DEFAULT_CONFIG = FeatureConfig()
DEFAULT_PAIR_CONFIG = PairConfig()


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureDef:
    """One feature: its name, formula, warm-up (leading NaN events) and plausible bounds (None: unbounded)."""

    name: str
    formula: str
    warmup: int
    lower: float | None
    upper: float | None


def _z_bound(n: int) -> float:
    # Samuelson's inequality: with the population std, |x_i - mean| <= std * sqrt(n - 1), reached when
    # the other n - 1 values are equal (a trade after a flat stretch does reach it).
    return math.sqrt(n - 1)


def _d(name: str, formula: str, warmup: int, lower: float | None = None, upper: float | None = None) -> FeatureDef:
    return FeatureDef(name=name, formula=formula, warmup=warmup, lower=lower, upper=upper)


def _price_defs(c: FeatureConfig) -> list[FeatureDef]:
    r1 = "r = log(close_t / close_(t-1))"
    lam = c.ewma_lambda
    return [
        *(_d(f"ret_{k}", f"log(close_t / close_(t-{k}))", k) for k in c.ret_windows),
        *(_d(f"rvol_{n}", f"sqrt(mean(r^2) over the last {n} events), {r1}", n, 0.0) for n in c.rvol_windows),
        _d("ewma_vol", f"sqrt(s2_t), s2_t = {lam} s2_(t-1) + (1 - {lam}) r_t^2, seeded with the first r^2", 1, 0.0),
        _d(f"roc_{c.roc_window}", f"close_t / close_(t-{c.roc_window}) - 1", c.roc_window, -1.0),
        _d("ma_cross", f"(SMA_{c.ma_fast} - SMA_{c.ma_slow}) / SMA_{c.ma_slow} of close", c.ma_slow - 1, -1.0),
        _d(
            f"rsi_{c.rsi_window}",
            f"100 avg_gain / (avg_gain + avg_loss); Wilder smoothing alpha 1/{c.rsi_window} of close changes, "
            f"seeded with the mean of the first {c.rsi_window}; 50 when both averages are 0",
            c.rsi_window,
            0.0,
            100.0,
        ),
        _d(
            f"zscore_{c.zscore_window}",
            f"(close - mean) / std over {c.zscore_window} events (population std); 0 when std is 0",
            c.zscore_window - 1,
            -_z_bound(c.zscore_window),
            _z_bound(c.zscore_window),
        ),
    ]


def _flow_defs(c: FeatureConfig) -> list[FeatureDef]:
    fast, slow = c.volume_fast, c.volume_slow
    return [
        _d(
            "volume_ratio",
            f"mean(volume over {fast}) / mean(volume over {slow}); 1 when both means are 0",
            max(fast, slow) - 1,
            0.0,
            # sum over the short window <= sum over the long one, so the ratio is at most slow / fast
            slow / fast if fast <= slow else None,
        ),
        _d(
            f"vwap_dev_{c.vwap_window}",
            f"(close - VWAP) / VWAP, VWAP = sum(tp volume) / sum(volume) over {c.vwap_window} events, "
            "tp = (high + low + close) / 3; VWAP = mean(tp) when the window's volume is 0",
            c.vwap_window - 1,
            -1.0,
        ),
    ]


def _book_defs(c: FeatureConfig) -> list[FeatureDef]:
    n = c.spread_z_window
    return [
        _d("spread_bps", "(ask - bid) / mid * 1e4, mid = (bid + ask) / 2; 0 without bid and ask", 0, 0.0),
        _d(
            f"spread_z_{n}",
            f"(spread_bps - mean) / std over {n} events; 0 when std is 0",
            n - 1,
            -_z_bound(n),
            _z_bound(n),
        ),
        _d("book_imbalance", "(bid_size - ask_size) / (bid_size + ask_size); 0 without sizes", 0, -1.0, 1.0),
        _d(
            "microprice_offset_bps",
            "(microprice - mid) / mid * 1e4, microprice = (bid ask_size + ask bid_size) / (bid_size + ask_size), "
            "computed as spread_bps * book_imbalance / 2 (the same number without the cancellation)",
            0,
        ),
    ]


def _risk_defs(c: FeatureConfig) -> list[FeatureDef]:
    day = "2 pi seconds_since_midnight_UTC / 86400"
    return [
        _d(
            f"amihud_{c.amihud_window}",
            f"1e6 mean(|r| / volume) over those of the last {c.amihud_window} events with volume > 0; 0 if none",
            c.amihud_window,
            0.0,
        ),
        _d(
            f"drawdown_{c.drawdown_window}",
            f"close / max(close over {c.drawdown_window}) - 1",
            c.drawdown_window - 1,
            -1.0,
            0.0,
        ),
        _d("tod_sin", f"sin({day})", 0, -1.0, 1.0),
        _d("tod_cos", f"cos({day})", 0, -1.0, 1.0),
    ]


def feature_table(config: FeatureConfig = DEFAULT_CONFIG) -> tuple[FeatureDef, ...]:
    """The single-symbol features in vector order."""
    return (*_price_defs(config), *_flow_defs(config), *_book_defs(config), *_risk_defs(config))


def pair_feature_table(config: PairConfig = DEFAULT_PAIR_CONFIG) -> tuple[FeatureDef, ...]:
    """The two-symbol features in vector order; r is each symbol's 1-event log return."""
    n, m = config.corr_window, config.spread_z_window
    return (
        _d(
            f"pair_corr_{n}",
            f"Pearson correlation of r_a and r_b over {n} events; 0 when either std is 0",
            n,
            -1.0,
            1.0,
        ),
        _d(
            f"pair_spread_z_{m}",
            f"z-score over {m} events of s = log(close_a) - log(close_b), computed as log(close_a / close_b); "
            "0 when std is 0",
            m - 1,
            -_z_bound(m),
            _z_bound(m),
        ),
    )


def feature_names(config: FeatureConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    return tuple(d.name for d in feature_table(config))


def pair_feature_names(config: PairConfig = DEFAULT_PAIR_CONFIG) -> tuple[str, ...]:
    return tuple(d.name for d in pair_feature_table(config))


def features_markdown(defs: tuple[FeatureDef, ...] | None = None) -> str:
    """Render a feature table as a Markdown table for the README (the default: single and pair features)."""
    rows = defs if defs is not None else (*FEATURES, *PAIR_FEATURES)
    lines = ["| feature | formula | warm-up | bounds |", "|---|---|---|---|"]
    for d in rows:
        lower = "-inf" if d.lower is None else f"{d.lower:g}"
        upper = "inf" if d.upper is None else f"{d.upper:g}"
        lines.append(f"| `{d.name}` | {d.formula.replace('|', chr(92) + '|')} | {d.warmup} | [{lower}, {upper}] |")
    return "\n".join(lines) + "\n"


FEATURES: tuple[FeatureDef, ...] = feature_table()
PAIR_FEATURES: tuple[FeatureDef, ...] = pair_feature_table()
FEATURE_NAMES: tuple[str, ...] = tuple(d.name for d in FEATURES)
PAIR_FEATURE_NAMES: tuple[str, ...] = tuple(d.name for d in PAIR_FEATURES)
