"""Append-only, hash-chained audit log: SQLite in WAL mode by default, PostgreSQL in prod.

Each record carries the SHA-256 of the previous record's hash and its own content, so an edited,
deleted or reordered record breaks the chain from that point (``verify`` names the first one).
A failed write raises ``AuditWriteError``: the caller must stop trading, never decide unaudited.

A cut tail leaves a valid chain behind, so every append also stores the new head (seq and hash) in
a one-row ``audit_head`` table in the same transaction; ``verify`` checks the log's last record
against it, so even a freshly opened log sees its last records deleted. The head is read from that
table inside the append's write transaction, never from memory: several writers (threads, processes,
Serve shards) on one store keep one chain. On SQLite the common case takes one autocommit statement
(``AuditLog._write_fast``): the insert happens only while the stored head is the one this log last
wrote, and a trigger of this connection moves the head in the same statement; anything else takes the
full transaction (``AuditLog._write``). What a hash chain cannot see is an attacker who rewrites
both tables consistently (re-hashing everything after an edit, or cutting the tail and setting the
head back); only an anchor outside the store catches that, which is why ``rtopt audit verify``
prints the head hash: record it elsewhere (a ticket, a signed message) and compare later.

``open_audit(dsn)`` picks the backend: ``sqlite:///path`` (this module) or ``postgresql://...``
(``serving.decision.audit_postgres``). Both satisfy ``AuditTrail``. A decision engine's writer puts a
journal in front of a SQLite store (``open_audit(dsn, journal=True)``, ``serving.decision.audit_journal``):
one write per decision, taken into the store in batches by ``AuditLog.ingest``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

GENESIS = "0" * 64
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
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
_HEAD_SCHEMA = """
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)
"""
_INSERT = "INSERT INTO audit (seq, ts_ns, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_AFTER_SEEN = """
INSERT INTO audit (seq, ts_ns, kind, payload, prev_hash, hash) SELECT ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq = ? AND hash = ?)
"""
# TEMP: the trigger lives in this connection only, never in the file. A persistent one would also move the
# head for a record inserted behind the log's back, and ``verify`` would no longer see it (past the head).
_HEAD_FOLLOWS = """
CREATE TEMP TRIGGER IF NOT EXISTS audit_head_follows AFTER INSERT ON main.audit
BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END
"""
_INSERT_ROWS = "INSERT INTO audit (seq, ts_ns, kind, payload, prev_hash, hash) VALUES"
_ROWS_PER_INSERT = 800
_JOURNAL_SCHEMA = "CREATE TABLE IF NOT EXISTS audit_journal (source TEXT PRIMARY KEY, offset INTEGER NOT NULL)"
_JOURNAL_UPSERT = """
INSERT INTO audit_journal (source, offset) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET offset = excluded.offset
"""
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


class AuditWriteError(RuntimeError):
    """The audit record could not be written; nothing that needed it may go ahead."""


class AuditUnavailableError(RuntimeError):
    """The audit store could not be opened (no such file or table, database unreachable)."""


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


class Head(NamedTuple):
    """A position in the chain: the last record's seq and hash (``Head(0, GENESIS)`` for an empty log)."""

    seq: int
    hash: str


class Verdict(NamedTuple):
    """What ``inspect`` found: the last record of the intact chain, and the first break (None: intact)."""

    head: Head
    broken: ChainBreak | None


EMPTY = Head(0, GENESIS)


def record_hash(prev_hash: str, seq: int, ts_ns: int, kind: str, payload: str) -> str:
    text = f"{prev_hash}|{seq}|{ts_ns}|{kind}|{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


class Encoded(str):
    """A payload already in canonical JSON (sorted keys, compact, no NaN), stored and hashed as it is.

    For records encoded faster than the general encoder can (``Decision.canonical_json``); any other
    payload is a mapping and goes through ``encode_payload``.
    """

    __slots__ = ()


Payload = Mapping[str, Any] | Encoded


def encode_payload(payload: Payload) -> str:
    """Canonical JSON (sorted keys, no NaN), the exact text that is hashed and stored."""
    if isinstance(payload, Encoded):
        return str(payload)
    try:
        return _ENCODER.encode(payload)
    except (TypeError, ValueError) as error:
        raise AuditWriteError(f"payload: not JSON-serialisable ({error})") from error


def next_record(head: Head | None, seen: Head, kind: str, payload: str, ts_ns: int | None = None) -> AuditRecord:
    """The record that follows the stored ``head``, stamped ``ts_ns`` (default: now); refused when the head is
    gone or went back.

    Other writers only move the head forward, so a head behind ``seen`` (the last one this log wrote or
    found at open) means the tail was cut and the head set back: writing on would hide that.
    """
    if head is None:
        raise AuditWriteError("the stored head is missing")
    if head.seq < seen.seq:
        raise AuditWriteError(f"the stored head went back from seq {seen.seq} to {head.seq} (tail cut)")
    seq, ts_ns = head.seq + 1, time.time_ns() if ts_ns is None else ts_ns
    return AuditRecord(seq, ts_ns, kind, payload, head.hash, record_hash(head.hash, seq, ts_ns, kind, payload))


def check_chain(records: Iterable[AuditRecord], stored: Head | None, seen: Head = EMPTY) -> Verdict:
    """Walk ``records`` (in seq order) from genesis; the first break, or None when intact.

    ``stored`` is the head table's row (None when it is gone); ``seen`` is the last record this
    process wrote or read at open: other writers only add to the chain, so it must still be there.
    """
    last = EMPTY
    for record in records:
        broken = _link_problem(record, last, seen)
        if broken is not None:
            return Verdict(last, broken)
        last = Head(record.seq, record.hash)
    return Verdict(last, _tail_problem(last, stored, seen))


def _link_problem(record: AuditRecord, last: Head, seen: Head) -> ChainBreak | None:
    expected = last.seq + 1
    if record.seq != expected:
        return ChainBreak(expected, f"record {expected} is missing (next is {record.seq})")
    if record.prev_hash != last.hash:
        return ChainBreak(record.seq, "prev_hash does not match the previous record (reordered or removed)")
    if record_hash(last.hash, record.seq, record.ts_ns, record.kind, record.payload) != record.hash:
        return ChainBreak(record.seq, "content does not match its hash (edited)")
    if record.seq == seen.seq and record.hash != seen.hash:
        return ChainBreak(record.seq, "the record is not the one this log wrote or found at open (replaced)")
    return None


def _tail_problem(last: Head, stored: Head | None, seen: Head) -> ChainBreak | None:
    missing = ChainBreak(last.seq + 1, f"record {last.seq + 1} is missing (the log ends at {last.seq})")
    if last.seq < seen.seq:
        return missing
    if stored is None:
        return ChainBreak(last.seq, "the stored head is missing (audit_head emptied)")
    if last.seq < stored.seq:
        return missing
    if last.seq > stored.seq:
        return ChainBreak(stored.seq + 1, f"record {stored.seq + 1} is past the stored head (not written by append)")
    if last.hash != stored.hash:
        return ChainBreak(last.seq, "the last record does not match the stored head (replaced)")
    return None


@runtime_checkable
class AuditTrail(Protocol):
    """What the decision path needs from an audit log, whatever stores it."""

    def append(self, kind: str, payload: Payload) -> str: ...

    def records(self, kind: str | None = None) -> Iterator[AuditRecord]: ...

    def count(self) -> int: ...

    def verify(self) -> ChainBreak | None: ...

    def inspect(self) -> Verdict: ...

    def close(self) -> None: ...


class _Checkpointer(threading.Thread):
    """Copies the WAL back into the database file off the decision path (``PRAGMA wal_checkpoint(PASSIVE)``).

    SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint`` pages: that
    one decision pays for copying ~1000 pages and an fsync (milliseconds, the p99). A commit is complete
    once it is in the WAL, so moving the checkpoint to this thread changes no record, only who waits.
    PASSIVE never blocks a writer; a busy or failed round is simply retried at the next one.
    """

    def __init__(self, path: Path, every_s: float) -> None:
        super().__init__(name=f"audit-checkpoint:{path}", daemon=True)
        self._path, self._every_s = path, every_s
        self._done = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(str(self._path), isolation_level=None)
        try:
            while not self._done.wait(self._every_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:
                    continue  # busy (another checkpoint, a schema change): the WAL keeps every record meanwhile
        finally:
            db.close()

    def stop(self) -> None:
        self._done.set()
        self.join()


class AuditLog:
    """One SQLite file in WAL mode; threads share it through a lock, processes through SQLite's write lock."""

    checkpoint_every_s = 0.5
    """How often the background checkpointer copies the WAL into the database file (see ``_Checkpointer``)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.is_file():
            raise AuditUnavailableError(f"audit {path}: no such file")
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._transaction():
            self._prepare()
            self._seen = self._read_head() or EMPTY
        self._checkpointer: _Checkpointer | None = None
        self._has_journal_table = False

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        """One transaction; IMMEDIATE takes the file's write lock first, so the head read in it stays the head."""
        self._db.execute(begin)
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _prepare(self) -> None:
        self._db.execute(_SCHEMA)
        self._db.execute(_HEAD_FOLLOWS)
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_head'").fetchone():
            return
        # A file from before the head table: its last record becomes the head it is checked against from now on.
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._db.execute(_HEAD_SCHEMA)
        self._db.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", tuple(last) if last else EMPTY)

    def _read_head(self) -> Head | None:
        row = self._db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return None if row is None else Head(int(row[0]), str(row[1]))

    def append(self, kind: str, payload: Payload) -> str:
        """Write one record; returns its hash. Raises ``AuditWriteError`` when it could not be written."""
        text = encode_payload(payload)
        with self._lock:
            try:
                if self._checkpointer is None:
                    self._start_checkpointer()
                record = self._write_fast(kind, text) or self._write(kind, text)
            except (sqlite3.Error, AuditWriteError) as error:
                raise AuditWriteError(f"audit {self.path}: write failed ({error})") from error
            self._seen = Head(record.seq, record.hash)
        return record.hash

    def _start_checkpointer(self) -> None:
        """On the first append (a reader never starts one): this connection stops checkpointing in its COMMITs."""
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = _Checkpointer(self.path, self.checkpoint_every_s)
        self._checkpointer.start()

    def _write_fast(self, kind: str, text: str) -> AuditRecord | None:
        """The record after ``_seen`` in one autocommit statement; None when it did not apply (``_write`` then does).

        The hot path: one round trip instead of five. The statement holds the file's write lock from its
        check to its end, so it inserts only while the stored head is still ``_seen`` (no other writer came
        between, no tail was cut) and the head trigger moves the head in the same statement, as ``_write``
        would. Any other head, and any error, leaves the file untouched and goes to ``_write``, which
        reads the real head and raises or proceeds exactly as it always has.
        """
        db, seen = self._db, self._seen
        seq, ts_ns = seen.seq + 1, time.time_ns()
        digest = record_hash(seen.hash, seq, ts_ns, kind, text)
        changes = db.total_changes
        try:
            inserted = db.execute(_INSERT_AFTER_SEEN, (seq, ts_ns, kind, text, seen.hash, digest, *seen)).rowcount
        except sqlite3.Error:
            return None
        if inserted != 1:
            return None
        if db.total_changes - changes < 2:  # the record and the head: the trigger cannot be gone, but never assume
            raise AuditWriteError(f"record {seq} was written but the stored head did not follow it")
        return AuditRecord(seq, ts_ns, kind, text, seen.hash, digest)

    def ingest(self, entries: Sequence[tuple[int, str, str]], source: str, offset: int) -> list[AuditRecord]:
        """Chain ``entries`` (ts_ns, kind, canonical payload) after the stored head in one transaction.

        For a journal in front of this log (``serving.decision.audit_journal``): the records keep their
        own timestamps (when they were journaled), and the same transaction stores that ``source`` is taken
        in up to byte ``offset``, so a journal recovered after a crash is taken in exactly once. The head is
        read inside the transaction, as ``_write`` does, so other writers keep one chain. Returns the records.
        """
        with self._lock:
            try:
                self._journal_table()  # before the transaction: a rolled-back batch must not take the table along
                with self._transaction():
                    head = self._read_head()
                    records = []
                    for ts_ns, kind, text in entries:
                        record = next_record(head, self._seen, kind, text, ts_ns)
                        records.append(record)
                        head = Head(record.seq, record.hash)
                    # one statement for the batch (rows of at most 5,000 parameters): every statement
                    # releases and takes back the GIL, which a decision thread beside this one pays for
                    for start in range(0, len(records), _ROWS_PER_INSERT):
                        rows = records[start : start + _ROWS_PER_INSERT]
                        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))
                        self._db.execute(f"{_INSERT_ROWS} {values}", [v for row in rows for v in row])
                    if records:
                        last = records[-1]
                        self._db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (last.seq, last.hash))
                    self._db.execute(_JOURNAL_UPSERT, (source, offset))
            except (sqlite3.Error, AuditWriteError) as error:
                raise AuditWriteError(f"audit {self.path}: ingest failed ({error})") from error
            if records:
                self._seen = Head(records[-1].seq, records[-1].hash)
            return records

    def journal_offset(self, source: str) -> int:
        """How far (bytes) ``source`` has been taken in by ``ingest`` (0 when never)."""
        with self._lock:
            self._journal_table()
            row = self._db.execute("SELECT offset FROM audit_journal WHERE source = ?", (source,)).fetchone()
        return 0 if row is None else int(row[0])

    def forget_journal(self, source: str) -> None:
        """``source`` is gone (fully taken in, then deleted): drop its offset."""
        with self._lock:
            self._journal_table()
            self._db.execute("DELETE FROM audit_journal WHERE source = ?", (source,))

    def _journal_table(self) -> None:
        """The journal offsets' table, created on this connection's first use of it (plain logs never need it);
        called outside any transaction, so a rollback cannot undo it behind the flag."""
        if not self._has_journal_table:
            self._db.execute(_JOURNAL_SCHEMA)
            self._has_journal_table = True

    def _write(self, kind: str, text: str) -> AuditRecord:
        with self._transaction():
            record = next_record(self._read_head(), self._seen, kind, text)
            self._db.execute(_INSERT, record)
            self._db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (record.seq, record.hash))
        return record

    def records(self, kind: str | None = None) -> Iterator[AuditRecord]:
        query = "SELECT seq, ts_ns, kind, payload, prev_hash, hash FROM audit"
        rows = self._db.execute(query + (" WHERE kind = ?" if kind else "") + " ORDER BY seq", (kind,) if kind else ())
        for row in rows:
            yield AuditRecord(*row)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify(self) -> ChainBreak | None:
        """The first record that breaks the chain (edited, deleted or reordered), or None when intact."""
        return self.inspect().broken

    def inspect(self) -> Verdict:
        """The chain checked in one read snapshot against the stored head and the head this log last saw."""
        with self._lock:
            seen = self._seen
            with self._transaction("BEGIN"):
                return check_chain(self.records(), self._read_head(), seen)

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            self._db.close()


def sqlite_path(dsn: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's form, as the settings write it)."""
    if not dsn.startswith(SQLITE_PREFIX) or dsn == SQLITE_PREFIX:
        raise ValueError(f"audit DSN {dsn!r}: expected sqlite:///PATH")
    return Path(dsn.removeprefix(SQLITE_PREFIX))


def open_audit(dsn: str, *, table: str = "audit", create: bool = True, journal: bool = False) -> AuditTrail:
    """The audit log behind ``dsn``; ``table`` names the PostgreSQL table (SQLite's is always ``audit``).

    ``create=False`` refuses a store that does not exist yet (``AuditUnavailableError``), for readers
    such as ``rtopt audit verify`` that must not report an empty new log as intact. ``journal=True`` puts a
    SQLite store behind a ``serving.decision.audit_journal.JournaledAudit`` (a decision engine's writer);
    a PostgreSQL store is returned as it is.
    """
    if dsn.startswith(POSTGRES_PREFIXES):
        from serving.decision.audit_postgres import PostgresAuditLog

        return PostgresAuditLog(dsn, table, create=create)
    if dsn.startswith("sqlite:"):
        if table != "audit":
            raise ValueError(f"audit table {table!r}: a SQLite audit file always keeps its records in 'audit'")
        log = AuditLog(sqlite_path(dsn), create=create)
        if not journal:
            return log
        from serving.decision.audit_journal import JournaledAudit

        return JournaledAudit(log)
    raise ValueError(f"audit DSN: expected sqlite:///PATH or postgresql://..., got {dsn.split(':', 1)[0]}:...")
