"""`make dev`: the Dagster UI and the MLflow UI on localhost, for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.settings import Settings

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def run_dev(settings: Settings, dagster_port: int, mlflow_port: int) -> int:
    bin_dir = Path(sys.executable).parent
    dagster = shutil.which("dagster", path=str(bin_dir)) or "dagster"
    mlflow = shutil.which("mlflow", path=str(bin_dir)) or "mlflow"
    env = dict(os.environ)
    mlflow_cmd = [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(mlflow_port),
        "--backend-store-uri",
        settings.mlflow_tracking_uri,
        "--default-artifact-root",
        settings.mlflow_artifact_root,
    ]
    dagster_cmd = [dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(dagster_port)]
    print(f"Dagster UI: http://127.0.0.1:{dagster_port}   MLflow UI: http://127.0.0.1:{mlflow_port}")
    print("Ctrl-C stops both.")
    mlflow_proc = subprocess.Popen(mlflow_cmd, env=env)
    try:
        return subprocess.call(dagster_cmd, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        mlflow_proc.terminate()
        mlflow_proc.wait(timeout=30)
