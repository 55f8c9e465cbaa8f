"""A private ``redis-server`` for the restart tests, killable and restartable on the same port and data.

It runs on a spare port with an fsync-always append-only file in a temporary folder, so whatever Redis
acknowledged survives a SIGKILL, as a production Redis with ``appendfsync always`` would.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from serving.serve.ports import free_port


class RedisServer:
    """A private ``redis-server`` that can be killed (SIGKILL) and restarted on the same port and data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        # appendfsync always: every acknowledged write is on disk before the reply, so SIGKILL loses nothing.
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder)]
        args += ["--appendonly", "yes", "--appendfsync", "always"]
        self._process = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except redis.ConnectionError:  # refused, or BusyLoadingError while it loads the AOF
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within 10 s")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None
