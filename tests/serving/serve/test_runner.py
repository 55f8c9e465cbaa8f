"""A Serve start that fails leaves no Ray behind, so the next ``start`` or ``ray.init`` in the process works."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

from serving.serve import runner
from serving.serve.config import ServeConfig
from serving.serve.ports import free_port


def test_start_given_serve_start_fails_shuts_ray_down_and_reraises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_: object) -> None:
        raise RuntimeError("Failed to bind to address")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(runner.serve, "start", refuse)
    config = ServeConfig(
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", model_cache=str(tmp_path / "cache"), port=free_port()
    )

    with pytest.raises(RuntimeError, match="Failed to bind"):
        runner.start(config, num_cpus=1)

    assert not ray.is_initialized()
