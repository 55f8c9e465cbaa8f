"""`make dev`: the Dagster UI and the MLflow UI on localhost, for a person to look at."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from orchestration.settings import Settings

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
STOP_TIMEOUT_S = 60


def _commands(settings: Settings, dagster_port: int, mlflow_port: int) -> list[list[str]]:
    bin_dir = Path(sys.executable).parent
    dagster = shutil.which("dagster", path=str(bin_dir)) or "dagster"
    mlflow = shutil.which("mlflow", path=str(bin_dir)) or "mlflow"
    store = [
        "--backend-store-uri",
        settings.mlflow_tracking_uri,
        "--default-artifact-root",
        settings.mlflow_artifact_root,
    ]
    return [
        [mlflow, "server", "--host", "127.0.0.1", "--port", str(mlflow_port), *store],
        [dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(dagster_port)],
    ]


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dev(settings: Settings, dagster_port: int, mlflow_port: int) -> int:
    """Start both UIs; Ctrl-C or SIGTERM stops both (and their children)."""
    print(f"Dagster UI: http://127.0.0.1:{dagster_port}   MLflow UI: http://127.0.0.1:{mlflow_port}")
    print("Ctrl-C stops both.")
    signal.signal(signal.SIGTERM, _stop)
    env = dict(os.environ)
    processes = [
        subprocess.Popen(cmd, env=env, start_new_session=True) for cmd in _commands(settings, dagster_port, mlflow_port)
    ]
    try:
        return processes[1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            _reap(process)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for a UI that was asked to stop; one that has not stopped in a minute (a loaded machine) is killed."""
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"process {process.pid} did not stop in {STOP_TIMEOUT_S} s: killing it", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
