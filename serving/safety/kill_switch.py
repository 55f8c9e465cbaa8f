"""The kill switch's persisted state: one small JSON file, so HALTED survives a restart and crosses processes.

Who writes it: the monitor on every kill, resume and strategy (dis|re)enable; ``rtopt kill`` / ``rtopt resume``
from a shell. Who reads it: the monitor when it is built (a restarted engine comes back HALTED) and, while
running, on the order path: at most every ``poll_interval`` it ``stat``s the file, and only when the file
changed (inode, size, mtime: every write is a new inode, see below) reads it and adopts a newer ``seq``. A kill
from the CLI therefore blocks a running engine's next order at most ``poll_interval`` (50 ms) after the write.

Writes are atomic and durable: the new content goes to a temporary file in the same folder, is fsynced,
``os.replace``d over the old file (atomic on POSIX), and the folder is fsynced. Read-modify-write runs under
an exclusive ``flock`` on a sibling lock file, so two writers (two shards, or a shard and the CLI) never
lose each other's update and ``seq`` always grows.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

KILL_FILE_VERSION = 1


class KillFileError(ValueError):
    """The kill file exists but cannot be read as a kill state (the monitor then fails safe: HALTED)."""


def kill_switch_path(home: Path) -> Path:
    """Where the kill state lives under the project's state folder (``RTOPT_HOME``)."""
    return home / "risk" / "kill_switch.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class KillSwitchRecord:
    """The persisted part of the risk state: the kill switch and the strategies only a person may re-enable."""

    seq: int = 0
    """Grows by one with every write; a reader adopts a record newer than the last one it saw."""
    halted: bool = False
    cause: str = ""
    by: str = ""
    timestamp_ns: int = 0
    disabled_strategies: Mapping[str, str] = field(default_factory=dict)
    """Strategy -> why it was disabled."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "disabled_strategies", MappingProxyType(dict(self.disabled_strategies)))

    def to_json(self) -> str:
        body = {
            "version": KILL_FILE_VERSION,
            "seq": self.seq,
            "halted": self.halted,
            "cause": self.cause,
            "by": self.by,
            "timestamp_ns": self.timestamp_ns,
            "disabled_strategies": dict(self.disabled_strategies),
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> KillSwitchRecord:
        try:
            body: dict[str, Any] = json.loads(text)
            if body.get("version") != KILL_FILE_VERSION:
                raise KillFileError(f"version: expected {KILL_FILE_VERSION}, got {body.get('version')!r}")
            return cls(
                seq=int(body["seq"]),
                halted=_boolean(body["halted"]),
                cause=str(body["cause"]),
                by=str(body["by"]),
                timestamp_ns=int(body["timestamp_ns"]),
                disabled_strategies={str(k): str(v) for k, v in dict(body["disabled_strategies"]).items()},
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise KillFileError(f"kill file: {type(error).__name__}: {error}") from error


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise KillFileError(f"halted: must be true or false, got {value!r}")
    return value


class KillSwitchStore:
    """The kill file at ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> KillSwitchRecord:
        """The stored record; a fresh (ACTIVE, seq 0) one when there is no file. Raises ``KillFileError``."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return KillSwitchRecord()
        return KillSwitchRecord.from_json(text)

    def signature(self) -> tuple[int, int, int] | None:
        """(inode, size, mtime_ns): changes with every write (each is a new inode); None without a file."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def update(self, change: Callable[[KillSwitchRecord], KillSwitchRecord]) -> KillSwitchRecord:
        """Read, ``change``, write back with ``seq + 1``, all under the lock; returns what was written.

        An unreadable file is replaced (the change is built on a fresh record) so a person can always kill
        or resume; the old content is kept beside it as ``<name>.corrupt``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            try:
                current = self.read()
            except KillFileError:
                self.path.replace(self.path.with_name(self.path.name + ".corrupt"))
                current = KillSwitchRecord()
            record = replace(change(current), seq=current.seq + 1)
            self._write(record.to_json())
        return record

    def kill(self, cause: str, by: str, now_ns: int) -> KillSwitchRecord:
        """Write HALTED (what ``rtopt kill`` does): running monitors adopt it on their next poll."""
        return self.update(lambda r: replace(r, halted=True, cause=cause, by=by, timestamp_ns=now_ns))

    def resume(self, cause: str, by: str, now_ns: int) -> KillSwitchRecord:
        """Write ACTIVE (what ``rtopt resume`` does)."""
        return self.update(lambda r: replace(r, halted=False, cause=cause, by=by, timestamp_ns=now_ns))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, text: str) -> None:
        folder = self.path.parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp).replace(self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)
