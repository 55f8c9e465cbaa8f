"""Streaming feature pipeline, the pure part: events, keyed event-time processing, file replay.

The Redis Streams worker, the sinks and the parallel runners live in ``serving.streaming``.
"""

from models.streaming.events import EventRejected, MarketEvent, Reason, parse_event
from models.streaming.processor import FeatureRow, KeyedProcessor, Processed, StreamConfig, partition_of
from models.streaming.replay import events_from_dataset, events_from_frame, feed, replay

__all__ = [
    "EventRejected",
    "FeatureRow",
    "KeyedProcessor",
    "MarketEvent",
    "Processed",
    "Reason",
    "StreamConfig",
    "events_from_dataset",
    "events_from_frame",
    "feed",
    "parse_event",
    "partition_of",
    "replay",
]
