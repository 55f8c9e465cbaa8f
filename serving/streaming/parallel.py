"""Parallelism as in the seed's FlinkConfig: one worker per partition, on one machine or on Ray.

``run_local`` starts ``config.parallelism`` processes (multiprocessing, spawn: a fork would copy
the parent's Redis connections and numba state), one ``PartitionWorker`` each. Beyond one machine,
``ray_partition_worker()`` builds ``RayPartitionWorker``, a Ray actor wrapping the same worker
class, and ``run_ray`` starts one per partition on whatever cluster ``ray.init`` joined (a local one,
or RAY_ADDRESS). Either way a symbol's events reach exactly one worker (``partition_of``), so its
order and its feature state stay in one place.

Sinks are built inside each worker by a picklable factory called with the partition number, since
a file handle or a client cannot travel to another process.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

from models.features.definitions import FEATURE_NAMES, FeatureConfig
from models.streaming.processor import DEFAULT_FEATURES, StreamConfig
from serving.streaming.redis_io import StreamKeys, connect
from serving.streaming.sinks import FeatureSink, ParquetSink
from serving.streaming.worker import PartitionWorker, WorkerSettings, read_counters

log = logging.getLogger(__name__)
SinkFactory = Callable[[int], Sequence[FeatureSink]]


@dataclass(frozen=True, slots=True)
class ParquetSinkFactory:
    """Sinks for partition p: one ``ParquetSink`` on the shared ``root`` (partitions never share a symbol)."""

    root: Path
    names: tuple[str, ...] = FEATURE_NAMES
    """Feature names in vector order; ``feature_names(config)`` for a job with another FeatureConfig."""

    def __call__(self, partition: int) -> list[FeatureSink]:
        return [ParquetSink(self.root, self.names)]


def partition_settings(settings: WorkerSettings, partition: int) -> WorkerSettings:
    """``settings`` with a consumer name of its own per partition (``<consumer>-<p>`` when one is set)."""
    if settings.consumer is None:
        return settings
    return replace(settings, consumer=f"{settings.consumer}-{partition}")


def _run_partition(
    config: StreamConfig,
    settings: WorkerSettings,
    partition: int,
    sink_factory: SinkFactory,
    features: FeatureConfig,
    until_idle: bool,
    stop: ProcessEvent | None,
) -> None:
    """Process entry point: one worker for one partition until idle or stopped."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s p{partition} %(levelname)s %(name)s: %(message)s")
    worker = PartitionWorker(config, partition, sink_factory(partition), settings=settings, features=features)
    try:
        worker.run(until_idle=until_idle, stop=stop)
    finally:
        worker.close()


def run_local(
    config: StreamConfig,
    settings: WorkerSettings,
    sink_factory: SinkFactory,
    *,
    features: FeatureConfig = DEFAULT_FEATURES,
    until_idle: bool = True,
    stop: ProcessEvent | None = None,
) -> dict[int, dict[str, int]]:
    """Run one worker process per partition and wait for all; returns each partition's counters.

    ``until_idle``: a finite replay, every worker stops when its stream is drained. Otherwise the
    workers run until ``stop`` (an event from ``multiprocessing.get_context("spawn")``) is set.
    Raises ``RuntimeError`` naming the partitions whose process failed; their entries stay pending
    and the next run picks them up.
    """
    if not until_idle and stop is None:
        raise ValueError("stop: a live run (until_idle=False) needs an event to stop it")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_run_partition,
            args=(config, partition_settings(settings, p), p, sink_factory, features, until_idle, stop),
            name=f"rtopt-stream-{p}",
        )
        for p in range(config.parallelism)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p for p, process in enumerate(processes) if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"stream workers for partitions {failed} failed (exit codes in the log above)")
    return partition_counters(settings, config.parallelism)


def partition_counters(settings: WorkerSettings, parallelism: int) -> dict[int, dict[str, int]]:
    """Every partition's counters as the workers mirrored them to Redis."""
    client = connect(settings.url, timeout_s=settings.timeout_s)
    try:
        keys = StreamKeys(prefix=settings.prefix)
        return {p: read_counters(client, keys, p) for p in range(parallelism)}
    finally:
        client.close()


def ray_partition_worker() -> Any:
    """The ``RayPartitionWorker`` actor class (``ray`` is imported here, so serving imports without it)."""
    import ray

    @ray.remote
    class RayPartitionWorker:
        """A ``PartitionWorker`` in a Ray actor: same code, same guarantees, placed by Ray."""

        def __init__(
            self,
            config: StreamConfig,
            settings: WorkerSettings,
            partition: int,
            sink_factory: SinkFactory,
            features: FeatureConfig = DEFAULT_FEATURES,
        ) -> None:
            sinks = sink_factory(partition)
            self._worker = PartitionWorker(config, partition, sinks, settings=settings, features=features)

        def run(self, until_idle: bool = True) -> dict[str, int]:
            try:
                return self._worker.run(until_idle=until_idle)
            finally:
                self._worker.close()

        def counters(self) -> dict[str, int]:
            return self._worker.counters()

    return RayPartitionWorker


def run_ray(
    config: StreamConfig,
    settings: WorkerSettings,
    sink_factory: SinkFactory,
    *,
    features: FeatureConfig = DEFAULT_FEATURES,
    until_idle: bool = True,
) -> dict[int, dict[str, int]]:
    """One ``RayPartitionWorker`` per partition on the Ray cluster the caller initialised; their counters."""
    import ray

    actor = ray_partition_worker()
    workers = [
        actor.remote(config, partition_settings(settings, p), p, sink_factory, features)
        for p in range(config.parallelism)
    ]
    results = ray.get([w.run.remote(until_idle) for w in workers])
    return dict(enumerate(results))
