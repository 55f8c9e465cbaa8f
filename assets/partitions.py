"""Partitions shared by the market-data and feature assets."""

from dagster import DynamicPartitionsDefinition

# One partition per traded symbol; `rtopt ingest` and the demo add keys as data arrives.
symbols_partitions = DynamicPartitionsDefinition(name="symbols")
