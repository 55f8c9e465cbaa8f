"""Load a file (or a bid file and an ask file) into validated rows and rejects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.marketdata.loaders import LINE, RAW, SourceTable, read_source
from models.marketdata.schema import TIME, DataKind
from models.marketdata.validation import REJECT_COLUMNS, Reason, validate


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Accepted rows, rejects (``_line``, ``reason``, ``detail``, ``_raw``) and the source files."""

    kind: DataKind
    frame: pd.DataFrame
    rejects: pd.DataFrame
    sources: tuple[Path, ...]
    lines: pd.Series

    @property
    def accepted_count(self) -> int:
        return len(self.frame)

    @property
    def rejected_count(self) -> int:
        return len(self.rejects)


def load_file(path: Path, kind: DataKind, time_format: str | None = None) -> LoadResult:
    """Read and validate one file; raises LoaderError when the file as a whole is unusable."""
    checked = validate(read_source(path, kind), kind, time_format)
    return LoadResult(kind, checked.frame, checked.rejects, (path,), checked.lines)


def load_bid_ask(bid_path: Path, ask_path: Path, time_format: str | None = None) -> LoadResult:
    """Join a BID bar file and an ASK bar file of the same minutes into mid bars with a spread.

    The joined bar's OHLC is the mid ((bid + ask) / 2) of each field, ``bid`` and ``ask`` are the
    sides' closes and ``spread`` is ``ask - bid``. A minute present on one side only is rejected
    (``missing_other_side``); a minute whose bid close is above its ask close is rejected
    (``crossed_quote``). Line numbers in the rejects refer to the bid file unless the row came
    from the ask file alone.
    """
    bid = load_file(bid_path, DataKind.BARS, time_format)
    ask = load_file(ask_path, DataKind.BARS, time_format)
    bid_side = bid.frame.assign(**{LINE: bid.lines})
    ask_side = ask.frame.assign(**{LINE: ask.lines})
    merged = bid_side.merge(ask_side, on=TIME, how="outer", suffixes=("_bid", "_ask"), indicator=True)
    joined = merged[merged["_merge"] == "both"]
    prices = {c: (joined[f"{c}_bid"] + joined[f"{c}_ask"]) / 2.0 for c in ("open", "high", "low", "close")}
    table = pd.DataFrame({TIME: joined[TIME], **prices, "bid": joined["close_bid"], "ask": joined["close_ask"]})
    if "volume_bid" in joined.columns:
        table["volume"] = joined["volume_bid"] + joined["volume_ask"]
    table[LINE] = joined[f"{LINE}_bid"].astype("int64")
    table[RAW] = (
        "bid line "
        + joined[f"{LINE}_bid"].astype("int64").astype("string")
        + ", ask line "
        + joined[f"{LINE}_ask"].astype("int64").astype("string")
    )
    checked = validate(SourceTable(table.reset_index(drop=True), _no_bad_lines(), True), DataKind.BARS)
    orphans = _orphans(merged)
    parts = [r for r in (bid.rejects, ask.rejects, orphans, checked.rejects) if len(r)]
    rejects = pd.concat(parts, ignore_index=True) if parts else checked.rejects
    return LoadResult(
        kind=DataKind.BARS,
        frame=checked.frame,
        rejects=rejects.sort_values(LINE, kind="stable").reset_index(drop=True)[REJECT_COLUMNS],
        sources=(bid_path, ask_path),
        lines=checked.lines,
    )


def _orphans(merged: pd.DataFrame) -> pd.DataFrame:
    one_side = merged[merged["_merge"] != "both"]
    missing = one_side["_merge"].map({"left_only": "ask", "right_only": "bid"})
    line = one_side[f"{LINE}_bid"].fillna(one_side[f"{LINE}_ask"]).astype("int64")
    return pd.DataFrame(
        {
            LINE: line,
            "reason": Reason.MISSING_OTHER_SIDE.value,
            "detail": "no " + missing.astype("string") + " bar for " + one_side[TIME].astype("string"),
            RAW: "",
        }
    )


def _no_bad_lines() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == LINE else "string") for c in REJECT_COLUMNS})
