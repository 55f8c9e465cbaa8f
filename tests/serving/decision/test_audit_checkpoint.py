"""The SQLite audit log checkpoints its WAL in a background thread, never inside a decision's COMMIT."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from serving.decision.audit import AuditLog


def _checkpointers(path: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"audit-checkpoint:{path}"]


def test_append_given_many_records_copies_the_wal_into_the_database_file_off_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = AuditLog(path)
    log.checkpoint_every_s = 0.05
    before = path.stat().st_size
    for n in range(300):
        log.append("decision", {"n": n, "pad": "x" * 1_000})
    autocheckpoint = log._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    deadline = time.monotonic() + 10.0
    while path.stat().st_size <= before and time.monotonic() < deadline:
        time.sleep(0.05)

    assert autocheckpoint == 0
    assert path.stat().st_size > before + 300 * 1_000
    assert log.verify() is None
    log.close()


def test_close_given_an_appending_log_stops_its_checkpointer_and_the_file_reads_back_intact(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = AuditLog(path)
    log.append("decision", {"n": 1})
    assert len(_checkpointers(path)) == 1

    log.close()

    assert _checkpointers(path) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1
    assert AuditLog(path, create=False).verify() is None


def test_audit_log_given_only_reads_starts_no_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()

    reader = AuditLog(path, create=False)
    reader.verify()

    assert _checkpointers(path) == []
    reader.close()
