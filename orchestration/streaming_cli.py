"""`rtopt publish` (a file into the event streams) and `rtopt stream` (the feature workers)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import signal
from pathlib import Path

import redis

from models.features import feature_names
from models.marketdata.ingest import load_file
from models.marketdata.schema import DataKind
from models.streaming.processor import StreamConfig
from models.streaming.replay import events_from_frame, replay
from orchestration.settings import Settings
from serving.features.push_sink import OnlineOfflineSinks
from serving.streaming.parallel import run_local
from serving.streaming.redis_io import StreamKeys, publish
from serving.streaming.worker import WorkerSettings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pub = sub.add_parser("publish", help="validate a market-data file and publish its events to the Redis streams")
    pub.add_argument("file", type=Path)
    pub.add_argument("--symbol", required=True)
    pub.add_argument(
        "--kind", choices=[DataKind.BARS.value, DataKind.QUOTES.value, DataKind.TRADES.value], default="bars"
    )
    pub.add_argument("--time-format", default=None)
    pub.add_argument(
        "--speed", type=float, default=None, help="replay at SPEED x real time (default: as fast as possible)"
    )
    pub.add_argument("--parallelism", type=int, default=1, help="number of partition streams (as `rtopt stream`)")
    pub.add_argument("--prefix", default="rtopt", help="Redis key prefix of the streams")
    stream = sub.add_parser("stream", help="run the streaming feature workers (Redis Streams -> features -> stores)")
    stream.add_argument("--parallelism", type=int, default=1)
    stream.add_argument("--buffer-size", type=int, default=10_000)
    stream.add_argument("--allowed-lateness-ms", type=int, default=0)
    stream.add_argument("--until-idle", action="store_true", help="stop when the streams are drained")
    stream.add_argument("--prefix", default="rtopt", help="Redis key prefix of the streams")


def _redis_url(settings: Settings) -> str:
    if settings.online_store.backend != "redis":
        raise ValueError(f"REDIS_URL: the event streams need Redis ({settings.online_store.reason})")
    return settings.online_store.redis_url


def run_publish(args: argparse.Namespace, settings: Settings) -> int:
    result = load_file(args.file, DataKind(args.kind), args.time_format)
    events = events_from_frame(result.frame, DataKind(args.kind), args.symbol)
    client = redis.Redis.from_url(_redis_url(settings))
    counts = publish(client, replay(events, speed=args.speed), args.parallelism, keys=StreamKeys(prefix=args.prefix))
    print(
        json.dumps({"published": sum(counts.values()), "rejected_rows": result.rejected_count, "per_partition": counts})
    )
    return 0


def run_stream(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    config = StreamConfig(
        parallelism=args.parallelism,
        buffer_size=args.buffer_size,
        allowed_lateness=timedelta(milliseconds=args.allowed_lateness_ms),
    )
    sinks = OnlineOfflineSinks(
        settings.feast_repo, settings.feast_yaml, settings.home / "features" / "stream", feature_names()
    )
    worker_settings = WorkerSettings(url=_redis_url(settings), prefix=args.prefix)
    stop = None
    if not args.until_idle:
        stop = multiprocessing.get_context("spawn").Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counters = run_local(config, worker_settings, sinks, until_idle=args.until_idle, stop=stop)
    print(json.dumps({"partitions": counters}))
    return 0
