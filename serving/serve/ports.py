"""A free local TCP port for a server that binds it later.

``bind(("127.0.0.1", 0))`` hands out a port from the kernel's ephemeral range, and releases it at
once: between that and the server's own bind, anything else that binds port 0 may take it. Ray is
such a neighbour: ``ray.init`` starts a dozen processes that do exactly that, so a Serve proxy
given such a port fails to start now and then ("Failed to bind to address"). The ports here come
from below the ephemeral range and above Ray's worker ports, where nothing picks at random.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

RAY_MAX_WORKER_PORT = 19_999
"""Ray's default ``max_worker_port``: its workers take ports from 10002 to here."""
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL_LOW = 32_768
_TRIES = 200


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that is free now, outside the ranges other processes pick from at random."""
    low, high = RAY_MAX_WORKER_PORT + 1, _ephemeral_low()
    if high - low < 1_000:
        low, high = 1_024, high
    rng = random.SystemRandom()
    for _ in range(_TRIES):
        port = rng.randrange(low, high)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port on {host} in [{low}, {high}) after {_TRIES} tries")
