"""``free_port`` picks outside the ranges other processes bind at random."""

from __future__ import annotations

import socket

import pytest

from serving.serve import ports
from serving.serve.ports import RAY_MAX_WORKER_PORT, free_port


def test_free_port_given_defaults_returns_bindable_port_between_ray_workers_and_ephemeral_range() -> None:
    port = free_port()

    assert RAY_MAX_WORKER_PORT < port < ports._ephemeral_low()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_free_port_given_every_candidate_taken_raises_naming_range(monkeypatch: pytest.MonkeyPatch) -> None:
    class Taken(socket.socket):
        def bind(self, address: object) -> None:
            raise OSError("in use")

    monkeypatch.setattr(ports.socket, "socket", Taken)

    with pytest.raises(RuntimeError, match=r"no free port on 127.0.0.1 in \[20000, "):
        free_port()
