"""Feast entities: every feature is keyed by the traded symbol."""

from feast import Entity, ValueType

symbol = Entity(
    name="symbol",
    join_keys=["symbol"],
    value_type=ValueType.STRING,
    description="Traded instrument, as given to `rtopt ingest --symbol` (e.g. BTC-PERP, GBPUSD).",
)
