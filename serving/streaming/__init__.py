"""Streaming feature pipeline, the serving part: Redis Streams workers, sinks, parallel runners.

The pure pieces (events, ``KeyedProcessor``, file replay) live in ``models.streaming``. Ray is
imported only inside ``ray_partition_worker``/``run_ray``.
"""

from serving.streaming.measure import measure_stream_ingest
from serving.streaming.parallel import ParquetSinkFactory, ray_partition_worker, run_local, run_ray
from serving.streaming.redis_io import RetryPolicy, StreamKeys, StreamUnavailable, publish
from serving.streaming.sinks import FeatureSink, MemorySink, ParquetSink, read_parquet_features
from serving.streaming.worker import PartitionWorker, WorkerSettings

__all__ = [
    "FeatureSink",
    "MemorySink",
    "ParquetSink",
    "ParquetSinkFactory",
    "PartitionWorker",
    "RetryPolicy",
    "StreamKeys",
    "StreamUnavailable",
    "WorkerSettings",
    "measure_stream_ingest",
    "publish",
    "ray_partition_worker",
    "read_parquet_features",
    "run_local",
    "run_ray",
]
