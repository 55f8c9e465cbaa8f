"""The journal in front of the SQLite audit log: same records and chain, when each kind is stored, recovery, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.decision.audit import AuditLog, AuditWriteError, open_audit
from serving.decision.audit_journal import JOURNALED_KINDS, JournalConfig, JournaledAudit, recover_journals

QUIET = JournalConfig(ingest_every_s=60.0)
"""No background ingest within a test: only the writer's batches, flushes and reads take records in."""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.db"


@pytest.fixture
def journaled(db: Path) -> Iterator[JournaledAudit]:
    audit = JournaledAudit(AuditLog(db), QUIET)
    yield audit
    audit.close()


def stored(db: Path) -> list[tuple[str, dict[str, object]]]:
    """What another reader of the store sees now (a connection of its own)."""
    reader = AuditLog(db, create=False)
    try:
        return [(r.kind, json.loads(r.payload)) for r in reader.records()]
    finally:
        reader.close()


def journals(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f"{db.name}.journal-*"))


def test_records_given_mixed_kinds_keep_the_append_order_chain_intact_and_timestamps_of_the_append(
    db: Path, journaled: JournaledAudit
) -> None:
    before = time.time_ns()
    for i in range(5):
        journaled.append("decision", {"n": i})
    journaled.append("reject", {"reason": "duplicate"})
    journaled.append("decision", {"n": 5})

    records = list(journaled.records())

    assert [(r.kind, json.loads(r.payload)) for r in records] == [("decision", {"n": i}) for i in range(5)] + [
        ("reject", {"reason": "duplicate"}),
        ("decision", {"n": 5}),
    ]
    assert [r.seq for r in records] == list(range(1, 8))
    assert before <= records[0].ts_ns <= records[-1].ts_ns <= time.time_ns()
    assert journaled.verify() is None and journaled.count() == 7 and journaled.pending == 0


def test_append_given_per_event_kind_returns_its_place_and_leaves_it_to_the_batch(
    db: Path, journaled: JournaledAudit
) -> None:
    place = journaled.append("decision", {"n": 1})

    assert place == f"journal:{journaled.path.name}:0"
    assert stored(db) == [] and journaled.pending == 1
    assert journaled.path.read_text().endswith('\tdecision\t{"n":1}\n')


def test_append_given_admin_kind_takes_in_everything_before_it_and_returns_its_stored_hash(
    db: Path, journaled: JournaledAudit
) -> None:
    journaled.append("decision", {"n": 1})

    digest = journaled.append("risk_state", {"state": "halted"})

    assert stored(db) == [("decision", {"n": 1}), ("risk_state", {"state": "halted"})]
    assert [r.hash for r in journaled.store.records("risk_state")] == [digest]
    assert "risk_state" not in JOURNALED_KINDS and journaled.pending == 0


def test_append_given_a_full_batch_takes_it_into_the_store_in_the_writers_call(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), JournalConfig(ingest_every_s=60.0, batch=4))
    for i in range(9):
        audit.append("decision", {"n": i})

    seen = stored(db)
    audit.close()

    assert seen == [("decision", {"n": i}) for i in range(8)]  # two batches of 4; the ninth waits


def test_background_thread_given_a_quiet_writer_takes_the_rest_in(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), JournalConfig(ingest_every_s=0.02))
    audit.append("decision", {"n": 1})

    deadline = time.monotonic() + 10.0
    while not stored(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = stored(db)
    audit.close()

    assert seen == [("decision", {"n": 1})]


def test_close_given_records_waiting_takes_them_in_and_deletes_the_journal(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), QUIET)
    audit.append("decision", {"n": 1})

    audit.close()
    audit.close()  # twice is fine

    assert stored(db) == [("decision", {"n": 1})] and journals(db) == []
    reopened = AuditLog(db)
    assert reopened.journal_offset(audit.path.name) == 0 and reopened.verify() is None
    reopened.close()


_CRASH = """
import os, sys
from pathlib import Path
from serving.decision.audit import AuditLog
from serving.decision.audit_journal import JournalConfig, JournaledAudit
audit = JournaledAudit(AuditLog(Path(sys.argv[1])), JournalConfig(ingest_every_s=60.0, batch=3))
for i in range(int(sys.argv[2])):
    audit.append("decision", {"n": i})
print(audit.path, flush=True)
os._exit(0)  # a crash: no close, no last batch
"""


def test_recovery_given_a_crashed_writer_takes_in_what_it_journaled_exactly_once(db: Path) -> None:
    db.parent.mkdir(parents=True)
    AuditLog(db).close()
    crashed = subprocess.run([sys.executable, "-c", _CRASH, str(db), "7"], capture_output=True, text=True, check=True)
    left = Path(crashed.stdout.strip())
    assert stored(db) == [("decision", {"n": i}) for i in range(6)]  # its two batches went in before the crash
    with left.open("ab") as journal:
        journal.write(b'123\tdecision\t{"n":"torn')  # a write cut short: no newline, never returned

    audit = JournaledAudit(AuditLog(db), QUIET)
    audit.append("decision", {"n": "after"})
    records = list(audit.records())
    audit.close()

    assert [json.loads(r.payload)["n"] for r in records] == [0, 1, 2, 3, 4, 5, 6, "after"]
    assert not left.exists() and journals(db) == []
    reader = AuditLog(db)
    assert reader.verify() is None and reader.journal_offset(left.name) == 0
    reader.close()


def test_recovery_given_a_live_writers_journal_leaves_it_alone(db: Path, journaled: JournaledAudit) -> None:
    journaled.append("decision", {"n": 1})
    other = AuditLog(db)

    taken = recover_journals(other)

    assert taken == 0 and journaled.path.exists() and journaled.pending == 1
    assert [json.loads(r.payload) for r in journaled.records()] == [{"n": 1}]
    other.close()


def test_recovery_given_a_journal_partly_taken_in_takes_only_the_rest(db: Path) -> None:
    store = AuditLog(db)
    journal = db.with_name(f"{db.name}.journal-1-dead")
    lines = [f'{i}\tdecision\t{{"n":{i}}}\n'.encode() for i in range(4)]
    journal.write_bytes(b"".join(lines))
    store.ingest([(i, "decision", f'{{"n":{i}}}') for i in range(2)], journal.name, len(lines[0]) + len(lines[1]))

    taken = recover_journals(store)

    assert taken == 2 and not journal.exists()
    assert [json.loads(r.payload)["n"] for r in store.records()] == [0, 1, 2, 3]
    assert [r.ts_ns for r in store.records()] == [0, 1, 2, 3] and store.verify() is None
    store.close()


def test_recovery_given_a_line_that_is_not_a_record_raises_naming_the_journal_and_line(db: Path) -> None:
    store = AuditLog(db)
    journal = db.with_name(f"{db.name}.journal-1-dead")
    journal.write_bytes(b'1\tdecision\t{"n":1}\nnot a record\n')

    with pytest.raises(AuditWriteError, match=r"journal-1-dead: line 2 past the recorded offset is not a record"):
        recover_journals(store)
    assert journal.exists() and store.count() == 0  # nothing taken, nothing deleted
    store.close()


def test_append_given_the_store_refuses_keeps_the_lines_and_raises_until_a_batch_goes_in(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), JournalConfig(ingest_every_s=60.0, batch=2))
    audit.append("decision", {"n": 0})
    audit.store.close()  # the store fails under the writer
    audit.append("decision", {"n": 1})  # its batch fails: the line is in the journal, the failure is kept

    with pytest.raises(AuditWriteError, match="the store refuses records"):
        audit.append("decision", {"n": 2})
    assert audit.pending == 2 and audit.path.read_text().count("\n") == 2

    audit.store = AuditLog(db)  # the store is back
    audit.flush()
    audit.append("decision", {"n": 3})
    assert [json.loads(r.payload)["n"] for r in audit.records()] == [0, 1, 3]
    audit.close()


def test_append_given_more_than_max_pending_waiting_raises(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), JournalConfig(ingest_every_s=60.0, batch=10, max_pending=3))
    for i in range(3):
        audit.append("decision", {"n": i})

    with pytest.raises(AuditWriteError, match="3 records wait for the store"):
        audit.append("decision", {"n": 3})
    audit.close()


def test_append_given_the_journal_cannot_be_written_raises(db: Path) -> None:
    audit = JournaledAudit(AuditLog(db), QUIET)
    os.close(audit._fd)
    audit._fd = os.open(os.devnull, os.O_RDONLY)

    with pytest.raises(AuditWriteError, match="write failed"):
        audit.append("decision", {"n": 1})
    with pytest.raises(AuditWriteError, match="a write failed before"):  # a part of a line may be in the file
        audit.append("decision", {"n": 2})
    assert audit.pending == 0
    audit.close()


def test_append_given_a_kind_with_a_tab_or_an_unserialisable_payload_raises(journaled: JournaledAudit) -> None:
    with pytest.raises(AuditWriteError, match="must not hold a tab"):
        journaled.append("deci\tsion", {"n": 1})
    with pytest.raises(AuditWriteError, match="not JSON-serialisable"):
        journaled.append("decision", {"n": float("nan")})
    assert journaled.pending == 0


@pytest.mark.parametrize(
    ("field", "value"), [("ingest_every_s", 0.0), ("ingest_every_s", 61.0), ("batch", 0), ("max_pending", 0)]
)
def test_journal_config_given_a_bad_value_raises_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        JournalConfig(**{field: value})


def test_open_audit_given_journal_puts_a_sqlite_store_behind_one(db: Path) -> None:
    audit = open_audit(f"sqlite:///{db}", journal=True)
    assert isinstance(audit, JournaledAudit)
    audit.append("decision", {"n": 1})
    audit.close()

    assert stored(db) == [("decision", {"n": 1})]


def test_shard_shutdown_given_a_journaled_engine_takes_the_rest_into_the_store(db: Path) -> None:
    """Serve calls ``DecisionShard.__del__`` on a replica's graceful shutdown: nothing waits in the journal after."""
    from types import SimpleNamespace

    from serving.serve.shard import DecisionShard

    audit = JournaledAudit(AuditLog(db), QUIET)
    audit.append("decision", {"n": 1})
    shard = object.__new__(DecisionShard)
    shard.engine = SimpleNamespace(audit=audit)  # type: ignore[assignment]

    shard.__del__()

    assert stored(db) == [("decision", {"n": 1})] and journals(db) == []
