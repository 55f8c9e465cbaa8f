"""The streaming pipeline's online sink: each symbol's latest vector, pushed through Feast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from feast import FeatureStore
from feast.data_source import PushMode

from models.streaming.processor import FeatureRow
from serving.features.feast_repo import PUSH_SOURCE, open_store
from serving.streaming.sinks import FeatureSink, ParquetSink


class FeastPushSink:
    """Pushes the newest row per symbol of each batch to the online store.

    The online store keeps one vector per symbol (the latest), so pushing every row of a batch
    would only overwrite itself; the full history goes to the offline ParquetSink. One push per
    batch keeps Feast's per-call cost (milliseconds) off the per-event budget.
    """

    def __init__(self, store: FeatureStore, names: Sequence[str], push_source: str = PUSH_SOURCE) -> None:
        self._store = store
        self._names = list(names)
        self._push_source = push_source
        self.pushes = 0

    def write(self, rows: Sequence[FeatureRow]) -> None:
        latest: dict[str, FeatureRow] = {}
        for row in rows:
            seen = latest.get(row.symbol)
            if seen is None or row.timestamp_ns >= seen.timestamp_ns:
                latest[row.symbol] = row
        if not latest:
            return
        frame = pd.DataFrame([r.vector for r in latest.values()], columns=self._names)
        frame.insert(0, "event_timestamp", pd.to_datetime([r.timestamp_ns for r in latest.values()], utc=True))
        frame.insert(0, "symbol", list(latest))
        self._store.push(self._push_source, frame, to=PushMode.ONLINE)
        self.pushes += 1


@dataclass(frozen=True, slots=True)
class OnlineOfflineSinks:
    """Sink factory for stream workers: Feast push (online) and Parquet (offline history).

    Picklable (paths only), so each spawned worker process opens its own FeatureStore.
    """

    repo: Path
    yaml_file: Path
    offline_root: Path
    names: tuple[str, ...]

    def __call__(self, partition: int) -> list[FeatureSink]:
        store = open_store(self.repo, self.yaml_file)
        return [ParquetSink(self.offline_root, self.names), FeastPushSink(store, self.names)]
