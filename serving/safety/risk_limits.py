"""The pre-trade limits: one frozen, keyword-only, validated config; ``None`` (or ``inf``) turns a limit off.

``set_limits`` on the monitor swaps the whole object; ``LimitChange`` is the audit record of a swap (every
field whose value changed, old and new, in JSON-ready form).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, Literal, NamedTuple

_POSITIVE = (
    "max_order_quantity",
    "max_order_notional",
    "price_collar_bps",
    "price_drift_bps",
    "max_position",
    "volatility_target",
    "max_gross_exposure",
    "max_net_exposure",
    "max_symbol_concentration",
    "max_strategy_concentration",
    "daily_loss_reduce",
    "daily_loss_halt",
    "drawdown_reduce",
    "drawdown_halt",
)
_COUNTS = ("max_orders_per_window", "max_repeated_executions")
_WINDOWS = ("price_drift_window", "order_rate_window", "repeated_execution_window")


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskLimits:
    """Every pre-trade limit (units as in ``serving.safety.risk_types``)."""

    max_order_quantity: float | None = None
    """Largest order, asset units."""
    max_order_notional: float | None = None
    """Largest order value (quantity times its limit price, or the mid for a market order), quote currency."""
    cut_oversize: bool = True
    """An order over a size limit (order size, position, exposure, concentration, volatility sizing) is cut to
    what fits; False denies it instead (the fat-finger convention). The engine re-targets every event, so a cut
    order converges on its target over a few events."""
    price_collar_bps: float | None = None
    """Largest distance of an order's limit price from the reference mid, bps."""
    price_drift_bps: float | None = None
    """Largest distance of an order's price from the symbol's oldest mid within ``price_drift_window``, bps."""
    price_drift_window: timedelta = timedelta(minutes=5)
    max_position: float | None = 1.0
    """Largest absolute position per symbol, fractions of a full position."""
    volatility_target: float | None = None
    """Volatility at which a full position is allowed: above it the position cap shrinks by
    ``volatility_target / volatility`` (size inversely proportional to volatility, capped at 1)."""
    max_gross_exposure: float | None = None
    """Largest sum of absolute position values over all symbols, quote currency."""
    max_net_exposure: float | None = None
    """Largest absolute sum of signed position values over all symbols, quote currency."""
    max_symbol_concentration: float | None = None
    """Largest absolute position value of one symbol, as a fraction of the portfolio's capital."""
    max_strategy_concentration: float | None = None
    """Largest gross position value opened by one strategy, as a fraction of the portfolio's capital."""
    daily_loss_reduce: float | None = 5_000.0
    """Loss since the start of the UTC day (quote currency) that moves trading to REDUCING."""
    daily_loss_halt: float | None = None
    """Loss since the start of the UTC day that trips the kill switch (HALTED, working orders cancelled)."""
    drawdown_reduce: float | None = None
    """Fall of equity from its peak (quote currency) that moves trading to REDUCING."""
    drawdown_halt: float | None = None
    """Fall of equity from its peak that trips the kill switch."""
    max_orders_per_window: int | None = None
    """Orders forwarded in any ``order_rate_window`` (sliding); more are denied, never queued."""
    order_rate_window: timedelta = timedelta(seconds=1)
    max_repeated_executions: int | None = None
    """Orders one strategy may send on one symbol within ``repeated_execution_window``; the next one disables
    the strategy until a person re-enables it (CME Globex's execution throttle, per strategy)."""
    repeated_execution_window: timedelta = timedelta(minutes=1)
    max_market_data_age: timedelta | None = None
    """Oldest market data an order may be priced on (against the engine's clock)."""
    idempotency_keys_kept: int = 100_000
    """Idempotency keys of forwarded orders remembered for the duplicate check (oldest forgotten first)."""

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            value = getattr(self, name)
            if value is not None and not value > 0.0:
                raise ValueError(f"{name}: must be > 0 (None or inf: off), got {value}")
        for name in _COUNTS:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name}: must be an int >= 1 (None: off), got {value!r}")
        for name in _WINDOWS:
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.max_market_data_age is not None and self.max_market_data_age <= timedelta(0):
            raise ValueError(f"max_market_data_age: must be > 0 (None: off), got {self.max_market_data_age}")
        if self.idempotency_keys_kept < 1:
            raise ValueError(f"idempotency_keys_kept: must be >= 1, got {self.idempotency_keys_kept}")
        _check_order("daily_loss", self.daily_loss_reduce, self.daily_loss_halt)
        _check_order("drawdown", self.drawdown_reduce, self.drawdown_halt)

    def limit(self, name: str) -> float | None:
        """A numeric limit, ``None`` when off (``inf`` counts as off)."""
        value: float | None = getattr(self, name)
        return None if value is None or math.isinf(value) else value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: windows and ages in seconds."""
        return {k: _jsonable(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RiskLimits:
        """The inverse of ``to_dict`` (what an admin call sends); an unknown field is an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"limits: unknown fields {unknown}")
        windows = (*_WINDOWS, "max_market_data_age")
        parsed: dict[str, Any] = {
            k: timedelta(seconds=v) if k in windows and v is not None else v for k, v in values.items()
        }
        return cls(**parsed)


@dataclass(frozen=True, slots=True)
class ActiveLimits:
    """The numeric limits as the order path reads them: resolved once per ``set_limits``, each a float or
    ``None`` when off (``RiskLimits.limit``), the market-data age in nanoseconds. One check reads ~15 of them,
    and looking each up by name per order was the largest single cost in the check's profile."""

    max_order_quantity: float | None
    max_order_notional: float | None
    cut_oversize: bool
    price_collar_bps: float | None
    price_drift_bps: float | None
    max_position: float | None
    volatility_target: float | None
    max_gross_exposure: float | None
    max_net_exposure: float | None
    max_symbol_concentration: float | None
    max_strategy_concentration: float | None
    daily_loss_reduce: float | None
    daily_loss_halt: float | None
    drawdown_reduce: float | None
    drawdown_halt: float | None
    max_market_data_age_ns: int | None
    loss_floor: float
    """The lower of ``daily_loss_reduce`` and ``daily_loss_halt`` (inf when both are off): below it and below
    ``drawdown_floor``, no loss limit can move the state, the case of nearly every event."""
    drawdown_floor: float

    def loss_breach(self, loss: float, drawdown: float, level: Literal["halt", "reduce"]) -> str:
        """Why the daily loss or the drawdown reached its ``level`` limit; "" when neither did."""
        halt = level == "halt"
        loss_limit = self.daily_loss_halt if halt else self.daily_loss_reduce
        drawdown_limit = self.drawdown_halt if halt else self.drawdown_reduce
        if loss_limit is not None and loss >= loss_limit:
            return f"daily loss {loss:.2f} reached the {level} limit {loss_limit}"
        if drawdown_limit is not None and drawdown >= drawdown_limit:
            return f"drawdown {drawdown:.2f} reached the {level} limit {drawdown_limit}"
        return ""

    @classmethod
    def of(cls, limits: RiskLimits) -> ActiveLimits:
        age = limits.max_market_data_age
        numeric = {name: limits.limit(name) for name in _POSITIVE}
        return cls(
            cut_oversize=limits.cut_oversize,
            max_market_data_age_ns=None if age is None else window_ns(age),
            loss_floor=_lowest(numeric["daily_loss_reduce"], numeric["daily_loss_halt"]),
            drawdown_floor=_lowest(numeric["drawdown_reduce"], numeric["drawdown_halt"]),
            **numeric,
        )


def _lowest(*limits: float | None) -> float:
    """The lowest limit that is on; inf when none is."""
    return min((limit for limit in limits if limit is not None), default=math.inf)


def _check_order(name: str, reduce: float | None, halt: float | None) -> None:
    if reduce is not None and halt is not None and halt < reduce:
        raise ValueError(f"{name}_halt: must be >= {name}_reduce ({reduce}), got {halt}")


def _jsonable(value: object) -> object:
    return value.total_seconds() if isinstance(value, timedelta) else value


def window_ns(window: timedelta) -> int:
    return window // timedelta(microseconds=1) * 1_000


class LimitChange(NamedTuple):
    """The audit record of one ``set_limits``: who, when, and each changed field's old and new value."""

    timestamp_ns: int
    by: str
    changes: tuple[tuple[str, object, object], ...]
    """(field, old, new), JSON-ready values."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp_ns": self.timestamp_ns,
            "by": self.by,
            "changes": [{"field": f, "old": old, "new": new} for f, old, new in self.changes],
        }


def diff_limits(old: RiskLimits, new: RiskLimits) -> tuple[tuple[str, object, object], ...]:
    before, after = old.to_dict(), new.to_dict()
    return tuple((name, before[name], after[name]) for name in before if before[name] != after[name])
