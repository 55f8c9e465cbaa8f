"""AuditLog: a hash chain on SQLite that names the first edited, deleted or reordered record."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.decision.audit import GENESIS, AuditLog, AuditWriteError, ChainBreak, record_hash


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    audit = AuditLog(tmp_path / "audit" / "audit.db")
    for i in range(1, 6):
        audit.append("decision", {"n": i, "symbol": "BTC-PERP", "position_size": i / 10})
    yield audit
    audit.close()


def tamper(path: Path, *statements: str) -> None:
    """Edit the file behind the log's back, as someone with write access to it could."""
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in statements:
        db.execute(statement)
    db.close()


def test_verify_given_untouched_log_returns_none_and_chain_from_genesis(log: AuditLog) -> None:
    records = list(log.records())

    assert log.verify() is None
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    first = records[0]
    assert first.hash == record_hash(GENESIS, 1, first.ts_ns, "decision", first.payload)
    assert json.loads(records[2].payload) == {"n": 3, "symbol": "BTC-PERP", "position_size": 0.3}


def test_append_given_mixed_kinds_returns_hash_and_records_filter_by_kind(log: AuditLog) -> None:
    digest = log.append("reject", {"reason": "duplicate"})

    assert [r.hash for r in log.records("reject")] == [digest]
    assert log.count() == 6 and len(list(log.records("decision"))) == 5


def test_verify_given_payload_edited_in_sqlite_returns_that_seq(log: AuditLog) -> None:
    edited = '{"n":3,"position_size":1.0,"symbol":"BTC-PERP"}'
    tamper(log.path, f"UPDATE audit SET payload = '{edited}' WHERE seq = 3")

    assert log.verify() == ChainBreak(3, "content does not match its hash (edited)")


def test_verify_given_edit_with_its_hash_recomputed_returns_the_next_seq(log: AuditLog) -> None:
    third = next(r for r in log.records() if r.seq == 3)
    payload = '{"n":3,"position_size":1.0,"symbol":"BTC-PERP"}'
    forged = record_hash(third.prev_hash, 3, third.ts_ns, third.kind, payload)
    tamper(log.path, f"UPDATE audit SET payload = '{payload}', hash = '{forged}' WHERE seq = 3")

    assert log.verify() == ChainBreak(4, "prev_hash does not match the previous record (reordered or removed)")


def test_verify_given_record_deleted_returns_its_seq(log: AuditLog) -> None:
    tamper(log.path, "DELETE FROM audit WHERE seq = 2")

    assert log.verify() == ChainBreak(2, "record 2 is missing (next is 3)")


def test_verify_given_last_record_deleted_returns_its_seq(log: AuditLog) -> None:
    # Regression: a chain checked only from the front cannot see its tail cut; the writer knows its head.
    tamper(log.path, "DELETE FROM audit WHERE seq = 5")

    assert log.verify() == ChainBreak(5, "record 5 is missing (the log ends at 4)")


def test_verify_given_two_records_swapped_returns_the_first_swapped_seq(log: AuditLog) -> None:
    tamper(
        log.path,
        "UPDATE audit SET seq = -1 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = -1",
    )

    assert log.verify() == ChainBreak(2, "prev_hash does not match the previous record (reordered or removed)")


def test_append_given_reopened_file_continues_the_chain(log: AuditLog) -> None:
    head = list(log.records())[-1]
    log.close()

    reopened = AuditLog(log.path)
    reopened.append("decision", {"n": 6})
    records = list(reopened.records())
    reopened.close()

    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[-1].prev_hash == head.hash
    assert AuditLog(log.path).verify() is None


def test_append_given_closed_connection_raises_audit_write_error_and_keeps_the_chain(log: AuditLog) -> None:
    log.close()

    with pytest.raises(AuditWriteError, match="write failed"):
        log.append("decision", {"n": 6})

    reopened = AuditLog(log.path)
    assert reopened.count() == 5 and reopened.verify() is None
    reopened.close()


def test_append_given_table_moved_away_raises_audit_write_error_and_head_not_advanced(log: AuditLog) -> None:
    tamper(log.path, "ALTER TABLE audit RENAME TO audit_moved")

    with pytest.raises(AuditWriteError, match="no such table"):
        log.append("decision", {"n": 6})

    tamper(log.path, "ALTER TABLE audit_moved RENAME TO audit")
    log.append("decision", {"n": 6})  # the failed write did not advance the head: seq 6 follows seq 5
    assert log.verify() is None and [r.seq for r in log.records()] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("payload", [{"x": float("nan")}, {"x": object()}])
def test_append_given_payload_not_json_raises_audit_write_error(log: AuditLog, payload: dict[str, object]) -> None:
    with pytest.raises(AuditWriteError, match="not JSON-serialisable"):
        log.append("decision", payload)

    assert log.count() == 5
