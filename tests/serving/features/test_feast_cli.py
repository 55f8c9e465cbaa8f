"""`feast apply` and `feast materialize` work from the command line on the embedded config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from models.features import feature_names
from orchestration.settings import FEATURE_REPO, Settings
from serving.features.feast_repo import FEATURE_SERVICE, open_store

FEAST = str(Path(sys.executable).parent / "feast")


@pytest.mark.expensive
def test_feast_cli_given_sqlite_config_applies_and_materializes_offline_rows(rtopt_settings: Settings) -> None:
    names = list(feature_names())
    rows = pd.DataFrame({n: [0.25, 0.5] for n in names})
    rows.insert(0, "event_timestamp", pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True))
    rows.insert(0, "symbol", "CLI")
    rows.to_parquet(rtopt_settings.offline_features_root / "CLI.parquet", index=False)
    yaml_file = FEATURE_REPO / "feature_store.sqlite.yaml"
    env = {**os.environ, "RTOPT_HOME": str(rtopt_settings.home)}
    env.pop("FEAST_FS_YAML_FILE_PATH", None)

    for args in (["apply"], ["materialize", "2023-12-31T00:00:00", "2024-01-03T00:00:00"]):
        done = subprocess.run(
            [FEAST, "-f", str(yaml_file), *args], cwd=FEATURE_REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]

    store = open_store(FEATURE_REPO, yaml_file)
    got = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE), entity_rows=[{"symbol": "CLI"}]
    )
    assert [got.to_dict()[n][0] for n in names] == [0.5] * len(names)
