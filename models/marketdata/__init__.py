"""Market-data layer: typed records, loaders, validation, simulator and the Parquet store."""
