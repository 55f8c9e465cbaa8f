"""Open, apply and materialize the Feast repository in ``feature_repo/``."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.repo_operations import parse_repo

FEATURE_VIEW = "market_features"
PUSH_SOURCE = "market_features_push"
FEATURE_SERVICE = "decision_v1"


@dataclass(frozen=True, slots=True)
class AppliedRepo:
    """What ``apply_repo`` registered."""

    entities: tuple[str, ...]
    feature_views: tuple[str, ...]
    feature_services: tuple[str, ...]
    data_sources: tuple[str, ...]


def open_store(repo: Path, yaml_file: Path) -> FeatureStore:
    """A FeatureStore over ``repo`` with the environment's ``feature_store.yaml``."""
    return FeatureStore(repo_path=str(repo), fs_yaml_file=yaml_file)


def apply_repo(store: FeatureStore, repo: Path) -> AppliedRepo:
    """The Python equivalent of ``feast apply``: parse the repo's definitions and register them."""
    if str(repo) not in sys.path:
        # Feast's CLI puts the repo on sys.path the same way so its modules can import each other.
        sys.path.append(str(repo))
    with contextlib.chdir(repo):  # parse_repo names modules relative to the working directory
        contents = parse_repo(repo)
    objects: list[Any] = [
        *contents.data_sources,
        *contents.entities,
        *contents.feature_views,
        *contents.feature_services,
    ]
    store.apply(objects)
    return AppliedRepo(
        entities=tuple(e.name for e in contents.entities),
        feature_views=tuple(v.name for v in contents.feature_views),
        feature_services=tuple(s.name for s in contents.feature_services),
        data_sources=tuple(s.name for s in contents.data_sources),
    )


def materialize(store: FeatureStore, start: datetime, end: datetime) -> None:
    """Load the latest row per symbol in [start, end] from the offline files into the online store."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start/end: must be timezone-aware")
    store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])
