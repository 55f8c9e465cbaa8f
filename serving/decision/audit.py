"""Append-only, hash-chained audit log on SQLite in WAL mode.

Each record carries the SHA-256 of the previous record's hash and its own content, so an edited,
deleted or reordered record breaks the chain from that point (``verify`` names the first one).
A failed write raises ``AuditWriteError``: the caller must stop trading, never decide unaudited.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

GENESIS = "0" * 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


class AuditWriteError(RuntimeError):
    """The audit record could not be written; nothing that needed it may go ahead."""


class AuditRecord(NamedTuple):
    seq: int
    ts_ns: int
    kind: str
    payload: str
    prev_hash: str
    hash: str


class ChainBreak(NamedTuple):
    seq: int
    problem: str


def record_hash(prev_hash: str, seq: int, ts_ns: int, kind: str, payload: str) -> str:
    text = f"{prev_hash}|{seq}|{ts_ns}|{kind}|{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


class AuditLog:
    """One SQLite file; safe to share between threads of one process (a lock orders the chain)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq, self._head = (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def append(self, kind: str, payload: Mapping[str, Any]) -> str:
        """Write one record; returns its hash. Raises ``AuditWriteError`` when it could not be written."""
        try:
            text = _ENCODER.encode(payload)
        except (TypeError, ValueError) as error:
            raise AuditWriteError(f"payload: not JSON-serialisable ({error})") from error
        with self._lock:
            seq, ts_ns = self._seq + 1, time.time_ns()
            digest = record_hash(self._head, seq, ts_ns, kind, text)
            try:
                self._db.execute(
                    "INSERT INTO audit (seq, ts_ns, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, ts_ns, kind, text, self._head, digest),
                )
            except sqlite3.Error as error:
                raise AuditWriteError(f"audit {self.path}: write failed ({error})") from error
            self._seq, self._head = seq, digest
        return digest

    def records(self, kind: str | None = None) -> Iterator[AuditRecord]:
        query = "SELECT seq, ts_ns, kind, payload, prev_hash, hash FROM audit"
        rows = self._db.execute(query + (" WHERE kind = ?" if kind else "") + " ORDER BY seq", (kind,) if kind else ())
        for row in rows:
            yield AuditRecord(*row)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify(self) -> ChainBreak | None:
        """The first record that breaks the chain (edited, deleted or reordered), or None when intact.

        A cut tail leaves a valid chain behind, so the file's last record is also checked against the head
        this log wrote (or read when it opened the file), taken first: records appended meanwhile only add.
        """
        with self._lock:
            head_seq, head = self._seq, self._head
        previous, expected_seq = GENESIS, 1
        for record in self.records():
            if record.seq != expected_seq:
                return ChainBreak(expected_seq, f"record {expected_seq} is missing (next is {record.seq})")
            if record.prev_hash != previous:
                return ChainBreak(record.seq, "prev_hash does not match the previous record (reordered or removed)")
            if record_hash(previous, record.seq, record.ts_ns, record.kind, record.payload) != record.hash:
                return ChainBreak(record.seq, "content does not match its hash (edited)")
            previous, expected_seq = record.hash, expected_seq + 1
        if expected_seq - 1 < head_seq:
            return ChainBreak(expected_seq, f"record {expected_seq} is missing (the log ends at {expected_seq - 1})")
        if expected_seq - 1 == head_seq and previous != head:
            return ChainBreak(head_seq, "the last record is not the one this log wrote (replaced)")
        return None

    def close(self) -> None:
        self._db.close()
