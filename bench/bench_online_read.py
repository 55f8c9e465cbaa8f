"""Hot-path read of one symbol's vector: fast reader vs raw Redis HGETALL vs Feast's SDK, same run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import redis

from bench.common import feast_on_redis, latencies_us, merge_results, pct, print_table
from models.features import feature_names
from serving.features.feast_repo import FEATURE_SERVICE, FEATURE_VIEW
from serving.features.online_reader import OnlineFeatureReader

SYMBOL = "BENCH-READ"
N = 5_000


def run() -> dict[str, float | int | str]:
    settings, store = feast_on_redis()
    names = feature_names()
    row = pd.DataFrame([dict(zip(names, np.linspace(-1, 1, len(names)), strict=True))])
    row.insert(0, "event_timestamp", pd.Timestamp.now(tz="UTC"))
    row.insert(0, "symbol", SYMBOL)
    store.write_to_online_store(FEATURE_VIEW, row)
    client = redis.Redis.from_url(settings.online_store.redis_url)
    reader = OnlineFeatureReader(client, store.project, names)
    key = reader._key(SYMBOL)
    service = store.get_feature_service(FEATURE_SERVICE)
    fast = latencies_us(lambda: reader.read(SYMBOL), N)
    raw = latencies_us(lambda: client.hgetall(key), N)  # type: ignore[arg-type]
    sdk = latencies_us(lambda: store.get_online_features(features=service, entity_rows=[{"symbol": SYMBOL}]), N // 5)
    return {
        "online_read_p50_us": pct(fast, 50),
        "online_read_p99_us": pct(fast, 99),
        "redis_raw_read_p50_us": pct(raw, 50),
        "redis_raw_read_p99_us": pct(raw, 99),
        "feast_sdk_read_p50_us": pct(sdk, 50),
        "feast_sdk_read_p99_us": pct(sdk, 99),
        "online_read_p99_vs_raw": round(pct(fast, 99) / pct(raw, 99), 2),
        "online_read_fields": len(names) + 1,
    }


if __name__ == "__main__":
    result = run()
    print_table(
        "online read of one symbol (21 features + timestamp), loopback Redis", [(k, v, "") for k, v in result.items()]
    )
    merge_results(result)
    print(json.dumps(result))
