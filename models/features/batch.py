"""Vectorised features over a whole frame: the offline twin of ``engine.FeatureEngine``.

An independent implementation (numpy sliding windows, pandas rolling and ewm), not a loop over the
incremental kernel, so the parity tests compare two derivations of each formula. Windowed means and
variances are computed per row on the window shifted by that row's own close (two-pass, exact
subtraction by Sterbenz's lemma), which makes this side the numerically careful reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from models.features.definitions import DEFAULT_CONFIG, FeatureConfig, feature_names
from models.marketdata.schema import TIME, DataKind

EVENT_COLUMNS = ("close", "high", "low", "volume", "bid", "ask", "bid_size", "ask_size")
DAY_NS = 86_400_000_000_000
TWO_PI = 2.0 * math.pi
Arrays = dict[str, np.ndarray]


def timestamp_ns(timestamps: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (int64) of a tz-aware timestamp column; naive timestamps are refused."""
    if not isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{TIME}: needs tz-aware UTC timestamps, got dtype {timestamps.dtype}")
    utc = timestamps.dt.tz_convert("UTC").dt.as_unit("ns")
    ns: np.ndarray = utc.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ns


def events_frame(frame: pd.DataFrame, kind: DataKind | str) -> pd.DataFrame:
    """Turn a curated bars, quotes, trades or book frame into the canonical event frame.

    Bars keep OHLC, volume (0 when absent) and bid/ask when present. Quotes and book snapshots (top
    level) become events at the mid with close = high = low = mid and volume 0. Trades become events
    at the trade price with volume = price * size (quote currency). Absent fields are NaN.
    """
    kind = DataKind(kind)
    n = len(frame)
    out = pd.DataFrame({TIME: frame[TIME]}, index=frame.index)
    nan = np.full(n, np.nan)
    if kind is DataKind.BARS:
        price = {c: frame[c].to_numpy(dtype=np.float64) for c in ("close", "high", "low")}
        volume = frame["volume"].to_numpy(dtype=np.float64) if "volume" in frame.columns else np.zeros(n)
        sides = [frame[c].to_numpy(dtype=np.float64) if c in frame.columns else nan for c in ("bid", "ask")]
        sizes = [nan, nan]
    elif kind in (DataKind.QUOTES, DataKind.BOOK):
        level = "" if kind is DataKind.QUOTES else "_price_0"
        sides = [frame[f"{s}{level}"].to_numpy(dtype=np.float64) for s in ("bid", "ask")]
        mid = (sides[0] + sides[1]) * 0.5
        price = {"close": mid, "high": mid, "low": mid}
        volume = np.zeros(n)
        size_of = {"bid_size": "bid_size", "ask_size": "ask_size"}
        if kind is DataKind.BOOK:
            size_of = {"bid_size": "bid_size_0", "ask_size": "ask_size_0"}
        sizes = [frame[c].to_numpy(dtype=np.float64) if c in frame.columns else nan for c in size_of.values()]
    else:
        trade = frame["price"].to_numpy(dtype=np.float64)
        price = {"close": trade, "high": trade, "low": trade}
        volume = trade * frame["size"].to_numpy(dtype=np.float64)
        sides, sizes = [nan, nan], [nan, nan]
    values = [*price.values(), volume, *sides, *sizes]
    for name, column in zip(EVENT_COLUMNS, values, strict=True):
        out[name] = column
    return out


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def rolling_windows(x: np.ndarray, n: int) -> np.ndarray:
    """Row t holds x[t-n+1 .. t]; rows before the first full window are NaN."""
    if len(x) == 0:
        return np.empty((0, n))
    padded = np.concatenate([np.full(n - 1, np.nan), x])
    return sliding_window_view(padded, n)


def window_zscore(x: np.ndarray, n: int) -> np.ndarray:
    """(x_t - mean) / std over the window ending at t, population std; 0 when the window is constant."""
    window = rolling_windows(x, n)
    shifted = window - x[:, None]
    mean = shifted.mean(axis=1)
    var = ((shifted - mean[:, None]) ** 2).mean(axis=1)
    constant = window.max(axis=1) == window.min(axis=1)
    bound = math.sqrt(n - 1)  # Samuelson's inequality; clipping only removes rounding past it
    return np.where(constant, 0.0, np.clip(-mean / np.sqrt(var), -bound, bound))


def _wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder average of x[1:] (x[0] is NaN): seeded at t = n with mean(x[1..n]), then alpha = 1/n."""
    out = np.full_like(x, np.nan)
    if len(x) > n:
        seeded = np.concatenate([[x[1 : n + 1].mean()], x[n + 1 :]])
        out[n:] = pd.Series(seeded).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    return out


def _price_features(c: np.ndarray, cfg: FeatureConfig) -> Arrays:
    ret = np.log(c / _lag(c, 1))
    out: Arrays = {f"ret_{k}": np.log(c / _lag(c, k)) for k in cfg.ret_windows}
    for n in cfg.rvol_windows:
        out[f"rvol_{n}"] = np.sqrt(rolling_windows(ret * ret, n).mean(axis=1))
    ewma = pd.Series(ret * ret).ewm(alpha=1.0 - cfg.ewma_lambda, adjust=False).mean().to_numpy()
    out["ewma_vol"] = np.sqrt(ewma)
    out[f"roc_{cfg.roc_window}"] = c / _lag(c, cfg.roc_window) - 1.0
    fast = (rolling_windows(c, cfg.ma_fast) - c[:, None]).mean(axis=1)
    slow = (rolling_windows(c, cfg.ma_slow) - c[:, None]).mean(axis=1)
    out["ma_cross"] = (fast - slow) / (c + slow)
    change = c - _lag(c, 1)
    gain = _wilder(np.maximum(change, 0.0), cfg.rsi_window)
    loss = _wilder(np.maximum(-change, 0.0), cfg.rsi_window)
    out[f"rsi_{cfg.rsi_window}"] = np.where(gain + loss == 0.0, 50.0, 100.0 * gain / (gain + loss))
    out[f"zscore_{cfg.zscore_window}"] = window_zscore(c, cfg.zscore_window)
    return out


def _flow_features(ev: Arrays, cfg: FeatureConfig) -> Arrays:
    c, v = ev["close"], ev["volume"]
    fast = rolling_windows(v, cfg.volume_fast).mean(axis=1)
    slow = rolling_windows(v, cfg.volume_slow).mean(axis=1)
    ratio = np.where((fast == 0.0) & (slow == 0.0), 1.0, fast / slow)
    if cfg.volume_fast <= cfg.volume_slow:
        # the short window's sum never exceeds the long one's; clipping only removes rounding past the bound
        ratio = np.minimum(ratio, cfg.volume_slow / cfg.volume_fast)
    typical = rolling_windows((ev["high"] + ev["low"] + c) / 3.0, cfg.vwap_window) - c[:, None]
    weights = rolling_windows(v, cfg.vwap_window)
    total = weights.sum(axis=1)
    offset = np.where(total == 0.0, typical.mean(axis=1), (typical * weights).sum(axis=1) / total)
    return {"volume_ratio": ratio, f"vwap_dev_{cfg.vwap_window}": -offset / (c + offset)}


def _book_features(ev: Arrays, cfg: FeatureConfig) -> Arrays:
    bid, ask = ev["bid"], ev["ask"]
    quoted = (bid > 0.0) & (ask > 0.0) & np.isfinite(bid) & np.isfinite(ask)
    spread = np.where(quoted, (ask - bid) / ((bid + ask) * 0.5) * 1e4, 0.0)
    total = ev["bid_size"] + ev["ask_size"]
    sized = (total > 0.0) & np.isfinite(total)
    imbalance = np.where(sized, (ev["bid_size"] - ev["ask_size"]) / total, 0.0)
    return {
        "spread_bps": spread,
        f"spread_z_{cfg.spread_z_window}": window_zscore(spread, cfg.spread_z_window),
        "book_imbalance": imbalance,
        "microprice_offset_bps": 0.5 * spread * imbalance,
    }


def _risk_features(ev: Arrays, ts_ns: np.ndarray, cfg: FeatureConfig) -> Arrays:
    c, v = ev["close"], ev["volume"]
    ret = np.log(c / _lag(c, 1))
    term = np.where(v > 0.0, np.abs(ret) / v * 1e6, 0.0)
    term[np.isnan(ret)] = np.nan
    n = cfg.amihud_window
    total = rolling_windows(term, n).sum(axis=1)
    count = rolling_windows((v > 0.0).astype(np.float64), n).sum(axis=1)
    amihud = np.divide(total, count, out=np.zeros_like(total), where=count > 0.0)
    amihud[np.isnan(total)] = np.nan
    high_water = pd.Series(c).rolling(cfg.drawdown_window).max().to_numpy()
    angle = TWO_PI * (np.mod(ts_ns, DAY_NS).astype(np.float64) / DAY_NS)
    return {
        f"amihud_{n}": amihud,
        f"drawdown_{cfg.drawdown_window}": c / high_water - 1.0,
        "tod_sin": np.sin(angle),
        "tod_cos": np.cos(angle),
    }


def event_arrays(events: pd.DataFrame) -> Arrays:
    """The event columns as float64 arrays: volume 0 and the quote fields NaN where absent."""
    n = len(events)
    defaults = {"volume": 0.0, "high": np.nan, "low": np.nan}
    out: Arrays = {}
    for name in EVENT_COLUMNS:
        present = name in events.columns
        out[name] = events[name].to_numpy(dtype=np.float64) if present else np.full(n, defaults.get(name, np.nan))
    out["volume"] = np.nan_to_num(out["volume"], nan=0.0)
    out["high"] = np.where(np.isnan(out["high"]), out["close"], out["high"])
    out["low"] = np.where(np.isnan(out["low"]), out["close"], out["low"])
    bad = ~(out["close"] > 0.0) | ~np.isfinite(out["close"]) | ~(out["volume"] >= 0.0) | np.isinf(out["volume"])
    if bad.any():
        raise ValueError(f"rejected event {int(np.argmax(bad))}: close must be > 0 and volume >= 0")
    return out


def compute_features(bars: pd.DataFrame, config: FeatureConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Features of every row of an event frame (``timestamp``, ``close`` and optional event columns).

    Returns ``timestamp`` plus ``feature_names(config)`` as float64, one row per input row, NaN in each
    feature's warm-up. Row t depends only on rows up to t.
    """
    ev = event_arrays(bars)
    ts_ns = timestamp_ns(bars[TIME])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            **_price_features(ev["close"], config),
            **_flow_features(ev, config),
            **_book_features(ev, config),
            **_risk_features(ev, ts_ns, config),
        }
    out = pd.DataFrame({name: values[name] for name in feature_names(config)}, index=bars.index)
    out.insert(0, TIME, bars[TIME])
    return out
