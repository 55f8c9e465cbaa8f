"""`rtopt publish` then `rtopt stream --until-idle`: a real file through Redis Streams into both stores."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import redis

from models.features import compute_features, events_frame, feature_names
from models.marketdata.samples import SAMPLES
from models.marketdata.schema import DataKind
from orchestration.cli import main
from orchestration.settings import Settings
from serving.features.feast_repo import apply_repo, open_store
from serving.features.online_reader import OnlineFeatureReader
from serving.streaming.redis_io import StreamKeys, delete_keys
from serving.streaming.sinks import read_parquet_features


def test_publish_then_stream_given_btc_sample_returns_batch_equal_features_online_and_offline(
    rtopt_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    if rtopt_settings.online_store.backend != "redis":
        pytest.skip(rtopt_settings.online_store.reason)
    apply_repo(open_store(rtopt_settings.feast_repo, rtopt_settings.feast_yaml), rtopt_settings.feast_repo)
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    symbol, prefix = f"S{uuid.uuid4().hex[:8]}", f"rtopt-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(rtopt_settings.online_store.redis_url)
    try:
        assert main(["publish", str(sample.paths[0]), "--symbol", symbol, "--prefix", prefix]) == 0
        published = json.loads(capsys.readouterr().out)
        assert published["published"] == 10_080
        assert main(["stream", "--until-idle", "--prefix", prefix]) == 0
    finally:
        delete_keys(client, StreamKeys(prefix=prefix), 1)

    batch = compute_features(events_frame(sample.load().frame, DataKind.BARS))
    offline = read_parquet_features(rtopt_settings.home / "features" / "stream", symbol)
    names = list(feature_names())
    assert len(offline) == 10_080
    assert np.allclose(offline[names].to_numpy()[60:], batch[names].to_numpy()[60:], rtol=1e-9, atol=1e-12)
    online = OnlineFeatureReader(client, "rtopt", names).read(symbol)
    assert online is not None
    assert online.values.tolist() == offline[names].iloc[-1].tolist()
