"""Redis Streams -> features -> Feast online store, with acks; beside it the raw publish rate."""

from __future__ import annotations

import json

import redis

from bench.common import feast_on_redis, merge_results, print_table
from models.features import feature_names
from serving.features.push_sink import FeastPushSink
from serving.streaming.measure import measure_stream_ingest

N_EVENTS = 100_000


def run() -> dict[str, float | int | str]:
    settings, store = feast_on_redis()
    client = redis.Redis.from_url(settings.online_store.redis_url)
    sink = FeastPushSink(store, feature_names())
    measured = measure_stream_ingest(client, N_EVENTS, symbols=4, sink=sink)
    return {
        "stream_ingest_msgs_per_s": round(measured["msgs_per_s"]),
        "stream_publish_msgs_per_s": round(measured["publish_msgs_per_s"]),
        "stream_end_to_end_msgs_per_s": round(measured["end_to_end_msgs_per_s"]),
        "stream_ingest_vs_publish": round(measured["msgs_per_s"] / measured["publish_msgs_per_s"], 2),
        "stream_events": N_EVENTS,
        "stream_online_pushes": sink.pushes,
    }


if __name__ == "__main__":
    result = run()
    print_table(
        "stream ingest: Redis Streams -> 21 features -> Feast online store (Redis), acked",
        [(k, v, "") for k, v in result.items()],
    )
    merge_results(result)
    print(json.dumps(result))
