"""The audit log: a hash chain on SQLite and on PostgreSQL that names the first edited, deleted or reordered record.

The PostgreSQL variants (marker ``postgres``) run against the server on 127.0.0.1:5432, or the one named by
``RTOPT_TEST_POSTGRES_DSN``, each in a table of its own that is dropped afterwards.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest

from serving.decision.audit import (
    GENESIS,
    AuditLog,
    AuditRecord,
    AuditTrail,
    AuditUnavailableError,
    AuditWriteError,
    ChainBreak,
    Head,
    Verdict,
    open_audit,
    record_hash,
)


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


# The same chain and the same checks on every store: SQLite, and PostgreSQL (marker ``postgres``).

POSTGRES_DSN = os.environ.get("RTOPT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PgConnection = psycopg.Connection[tuple[object, ...]]


class Store(NamedTuple):
    """An audit store under test, and a way to edit it behind the log's back."""

    dsn: str
    table: str
    tamper: Callable[..., None]  # SQL statements; ``{t}`` stands for the records table, ``{h}`` for the head table

    def open(self, create: bool = True) -> AuditTrail:
        return open_audit(self.dsn, table=self.table, create=create)


@pytest.fixture
def postgres() -> Iterator[PgConnection]:
    """An autocommit connection to the PostgreSQL server; skips the test when it does not answer."""
    try:
        conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} does not answer ({error})")
    yield conn
    conn.close()


@pytest.fixture
def pg_store(postgres: PgConnection) -> Iterator[Store]:
    """A PostgreSQL table of the test's own (and its head table), dropped afterwards."""
    table = f"audit_test_{uuid.uuid4().hex[:12]}"

    def tamper_postgres(*statements: str) -> None:
        for statement in statements:
            postgres.execute(statement.replace("{t}", table).replace("{h}", f"{table}_head").encode())

    yield Store(POSTGRES_DSN, table, tamper_postgres)
    postgres.execute(f"DROP TABLE IF EXISTS {table}, {table}_head, {table}_moved".encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "postgres":
        pg: Store = request.getfixturevalue("pg_store")
        return pg
    path = tmp_path / "audit.db"

    def tamper_sqlite(*statements: str) -> None:
        tamper(path, *(s.replace("{t}", "audit").replace("{h}", "audit_head") for s in statements))

    return Store(f"sqlite:///{path}", "audit", tamper_sqlite)


@pytest.fixture
def filled(store: Store) -> Store:
    """The store with five decisions, written by a log that is closed again."""
    log = store.open()
    for i in range(1, 6):
        log.append("decision", {"n": i, "symbol": "BTC-PERP", "position_size": i / 10})
    log.close()
    return store


def inspect_fresh(store: Store) -> Verdict:
    """The chain as a new process sees it: a new connection, no memory of what was written."""
    log = store.open(create=False)
    try:
        return log.inspect()
    finally:
        log.close()


def record_at(store: Store, seq: int) -> AuditRecord:
    log = store.open(create=False)
    try:
        return next(r for r in log.records() if r.seq == seq)
    finally:
        log.close()


SWAP_2_AND_4 = (
    "UPDATE {t} SET seq = -1 WHERE seq = 2",
    "UPDATE {t} SET seq = 2 WHERE seq = 4",
    "UPDATE {t} SET seq = 4 WHERE seq = -1",
)
TAMPERING = {
    "edited": (
        ("""UPDATE {t} SET payload = '{"n":3,"position_size":1.0,"symbol":"BTC-PERP"}' WHERE seq = 3""",),
        ChainBreak(3, "content does not match its hash (edited)"),
    ),
    "first_deleted": (("DELETE FROM {t} WHERE seq = 1",), ChainBreak(1, "record 1 is missing (next is 2)")),
    "middle_deleted": (("DELETE FROM {t} WHERE seq = 3",), ChainBreak(3, "record 3 is missing (next is 4)")),
    "last_deleted": (("DELETE FROM {t} WHERE seq = 5",), ChainBreak(5, "record 5 is missing (the log ends at 4)")),
    "all_deleted": (("DELETE FROM {t}",), ChainBreak(1, "record 1 is missing (the log ends at 0)")),
    "reordered": (SWAP_2_AND_4, ChainBreak(2, "prev_hash does not match the previous record (reordered or removed)")),
}


def test_append_given_any_store_returns_intact_chain_from_genesis_when_reopened(store: Store) -> None:
    log = store.open()
    hashes = [log.append("decision", {"n": i}) for i in range(1, 4)] + [log.append("reject", {"reason": "dup"})]
    log.close()

    reopened = store.open(create=False)
    records = list(reopened.records())
    assert isinstance(reopened, AuditTrail)
    assert [r.hash for r in records] == hashes and reopened.count() == 4
    assert records[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert [json.loads(r.payload) for r in reopened.records("reject")] == [{"reason": "dup"}]
    assert reopened.inspect() == Verdict(Head(4, hashes[-1]), None)
    reopened.close()


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_given_fresh_log_after_tampering_returns_first_bad_seq(filled: Store, how: str) -> None:
    statements, expected = TAMPERING[how]
    filled.tamper(*statements)

    assert inspect_fresh(filled).broken == expected


def test_verify_given_last_record_replaced_and_rehashed_returns_its_seq(filled: Store) -> None:
    # The forged record chains correctly to record 4; only the stored head still names the real one.
    forged = record_hash(record_at(filled, 4).hash, 5, 1, "decision", "{}")
    filled.tamper(f"UPDATE {{t}} SET ts_ns = 1, payload = '{{}}', hash = '{forged}' WHERE seq = 5")

    replaced = ChainBreak(5, "the record is not the one this log wrote or found at open (replaced)")
    assert inspect_fresh(filled).broken == replaced


def test_verify_given_record_inserted_past_the_head_returns_its_seq(filled: Store) -> None:
    head = inspect_fresh(filled).head
    forged = record_hash(head.hash, 6, 1, "decision", "{}")
    filled.tamper(f"INSERT INTO {{t}} VALUES (6, 1, 'decision', '{{}}', '{head.hash}', '{forged}')")

    assert inspect_fresh(filled).broken == ChainBreak(6, "record 6 is past the stored head (not written by append)")


def test_verify_given_tail_cut_and_head_set_back_returns_none_and_only_the_anchor_differs(filled: Store) -> None:
    # The documented limit of a hash chain: both tables rewritten consistently pass; an external anchor does not.
    anchored, fourth = inspect_fresh(filled).head, record_at(filled, 4)
    filled.tamper("DELETE FROM {t} WHERE seq = 5", f"UPDATE {{h}} SET seq = 4, hash = '{fourth.hash}'")

    verdict = inspect_fresh(filled)
    assert verdict == Verdict(Head(4, fourth.hash), None) and anchored.seq == 5 and verdict.head != anchored


def test_append_given_tail_cut_and_head_set_back_under_an_open_log_raises_audit_write_error(filled: Store) -> None:
    log = filled.open()
    fourth = record_at(filled, 4)
    filled.tamper("DELETE FROM {t} WHERE seq = 5", f"UPDATE {{h}} SET seq = 4, hash = '{fourth.hash}'")

    with pytest.raises(AuditWriteError, match="went back from seq 5 to 4"):
        log.append("decision", {"n": 6})
    assert log.verify() == ChainBreak(5, "record 5 is missing (the log ends at 4)")
    log.close()


def test_append_given_head_row_deleted_raises_audit_write_error_and_verify_names_it(filled: Store) -> None:
    log = filled.open()
    filled.tamper("DELETE FROM {h}")

    with pytest.raises(AuditWriteError, match="the stored head is missing"):
        log.append("decision", {"n": 6})
    log.close()

    assert inspect_fresh(filled).broken == ChainBreak(5, "the stored head is missing (audit_head emptied)")


def test_append_given_records_table_moved_away_raises_audit_write_error_and_head_not_moved(filled: Store) -> None:
    log = filled.open()
    filled.tamper("ALTER TABLE {t} RENAME TO {t}_moved")

    with pytest.raises(AuditWriteError, match="write failed"):
        log.append("decision", {"n": 6})

    filled.tamper("ALTER TABLE {t}_moved RENAME TO {t}")
    log.append("decision", {"n": 6})  # seq 6 follows seq 5: the failed write left the head where it was
    assert log.verify() is None and [r.seq for r in log.records()] == [1, 2, 3, 4, 5, 6]
    log.close()


def test_append_given_closed_log_raises_audit_write_error_and_keeps_the_chain(filled: Store) -> None:
    log = filled.open()
    log.close()

    with pytest.raises(AuditWriteError, match="write failed"):
        log.append("decision", {"n": 6})

    assert inspect_fresh(filled).head.seq == 5 and inspect_fresh(filled).broken is None


def test_append_given_four_writers_on_one_store_returns_one_intact_chain(store: Store) -> None:
    # Each writer has a connection of its own, as a Serve shard in its own process has.
    writers = [store.open() for _ in range(4)]

    def write(log: AuditTrail, writer: int) -> None:
        for i in range(25):
            log.append("decision", {"writer": writer, "n": i})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, writers, range(4)))
    assert all(log.verify() is None for log in writers)
    for log in writers:
        log.close()

    verdict = inspect_fresh(store)
    assert verdict.broken is None and verdict.head.seq == 100


def test_open_given_missing_store_and_no_create_raises_audit_unavailable(store: Store) -> None:
    with pytest.raises(AuditUnavailableError, match="no such"):
        store.open(create=False)


@pytest.mark.postgres
def test_append_given_server_dropped_the_connection_raises_then_next_append_reconnects(
    pg_store: Store, postgres: PgConnection
) -> None:
    log = pg_store.open()
    log.append("decision", {"n": 1})
    postgres.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"rtopt-audit:{pg_store.table}",),
    )

    with pytest.raises(AuditWriteError, match="write failed"):
        log.append("decision", {"n": 2})
    log.append("decision", {"n": 2})

    assert log.verify() is None and [json.loads(r.payload)["n"] for r in log.records()] == [1, 2]
    log.close()


def test_open_given_file_from_before_the_head_table_adopts_its_last_record(log: AuditLog) -> None:
    last = list(log.records())[-1]
    log.close()
    tamper(log.path, "DROP TABLE audit_head")

    reopened = AuditLog(log.path)
    reopened.append("decision", {"n": 6})
    reopened.close()

    assert next(r for r in AuditLog(log.path).records() if r.seq == 6).prev_hash == last.hash
    assert AuditLog(log.path, create=False).inspect().broken is None


@pytest.mark.parametrize("dsn", ["mysql://db/audit", "sqlite:///", "audit.db"])
def test_open_audit_given_unknown_dsn_raises_value_error(dsn: str) -> None:
    with pytest.raises(ValueError, match="audit DSN"):
        open_audit(dsn)


# The SQLite fast path: one autocommit statement while the stored head is the one this log last wrote.


def test_append_given_head_unchanged_writes_one_insert_statement_and_the_file_holds_no_trigger(log: AuditLog) -> None:
    statements: list[str] = []
    log._db.set_trace_callback(statements.append)

    log.append("decision", {"n": 6})

    log._db.set_trace_callback(None)
    assert {s.split()[0] for s in statements} == {"INSERT"}  # no BEGIN, SELECT head, UPDATE head or COMMIT
    assert log.inspect() == Verdict(Head(6, list(log.records())[-1].hash), None)
    with sqlite3.connect(log.path) as db:  # the head trigger is the connection's own (TEMP), not the file's
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []


def test_append_given_another_writer_moved_the_head_takes_the_full_transaction(log: AuditLog) -> None:
    other = AuditLog(log.path)
    slow: list[str] = []
    full_write = log._write

    def spy(kind: str, text: str) -> AuditRecord:
        slow.append(text)
        return full_write(kind, text)

    log._write = spy  # type: ignore[method-assign]
    other.append("decision", {"n": 6, "by": "other"})
    log.append("decision", {"n": 7})  # its head (5) is no longer the stored one (6)
    log.append("decision", {"n": 8})  # the head is its own again: the fast path

    assert [json.loads(text)["n"] for text in slow] == [7]
    records = list(log.records())
    assert [r.seq for r in records] == list(range(1, 9))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert log.verify() is None and other.verify() is None
    other.close()


def test_append_given_a_writer_commits_between_the_hash_and_the_insert_loses_the_race_and_chains_after_it(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path hashes before it takes the write lock; another shard commits in between.
    import serving.decision.audit as audit_module

    other = AuditLog(log.path)
    real_hash = audit_module.record_hash
    raced: list[str] = []

    def hash_then_race(*args: object) -> str:
        digest = real_hash(*args)  # type: ignore[arg-type]
        if not raced:
            raced.append("racing")  # the other writer's own hash comes back here: race once
            raced[0] = other.append("decision", {"n": 6, "by": "other"})
        return digest

    monkeypatch.setattr(audit_module, "record_hash", hash_then_race)
    mine = log.append("decision", {"n": 7})

    records = list(log.records())
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert records[5].hash == raced[0] and records[6].prev_hash == raced[0] and records[6].hash == mine
    assert json.loads(records[6].payload) == {"n": 7}
    monkeypatch.undo()
    assert log.verify() is None and other.verify() is None
    other.close()


def test_append_given_head_trigger_gone_raises_audit_write_error_and_verify_names_the_record(log: AuditLog) -> None:
    log._db.execute("DROP TRIGGER temp.audit_head_follows")  # cannot happen from outside: only to prove the guard

    with pytest.raises(AuditWriteError, match="the stored head did not follow"):
        log.append("decision", {"n": 6})

    assert log.verify() == ChainBreak(6, "record 6 is past the stored head (not written by append)")
