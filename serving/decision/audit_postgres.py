"""The hash-chained audit log on PostgreSQL (prod): the same chain, records and checks as the SQLite one.

Two tables: ``<table>`` holds the records and ``<table>_head`` one row with the head (seq, hash).
Every writer shares one chain per table. Each append is one transaction that takes the head row with
``SELECT ... FOR UPDATE``, inserts the record that follows it and moves the head: the row lock
serialises writers in any number of processes (Serve shards, the Python API) into one total order,
and the head is always read from the table, never from a process's memory. A writer that cannot get
the lock within ``lock_timeout`` fails the append (trading halts) instead of blocking decisions.

The payload column is TEXT, not JSONB: JSONB re-normalises the text, and the hash is over the text.
In prod, let an owner role create the tables and grant the writer role only INSERT and SELECT on
``<table>`` and SELECT and UPDATE on ``<table>_head``: append-only is then enforced by the database,
not just detected by ``verify``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from serving.decision.audit import (
    EMPTY,
    AuditRecord,
    AuditUnavailableError,
    AuditWriteError,
    ChainBreak,
    Head,
    Payload,
    Verdict,
    check_chain,
    encode_payload,
    next_record,
)

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,53}")  # lower case: PostgreSQL folds unquoted names; 63 - len("_head")
_PAGE = 1000
_LOCK_TIMEOUT = "SET lock_timeout = '5s'"
_COLUMNS = "seq, ts_ns, kind, payload, prev_hash, hash"


class _Queries(NamedTuple):
    create: sql.Composed
    create_head: sql.Composed
    seed_head: sql.Composed
    last: sql.Composed
    head: sql.Composed
    lock_head: sql.Composed
    insert: sql.Composed
    move_head: sql.Composed
    page: sql.Composed
    every: sql.Composed
    size: sql.Composed


def _queries(table: str) -> _Queries:
    names = {"t": sql.Identifier(table), "h": sql.Identifier(f"{table}_head"), "cols": sql.SQL(_COLUMNS)}

    def q(text: str) -> sql.Composed:
        return sql.SQL(text).format(**names)

    return _Queries(
        create=q(
            "CREATE TABLE {t} (seq BIGINT PRIMARY KEY, ts_ns BIGINT NOT NULL, kind TEXT NOT NULL,"
            " payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
        ),
        create_head=q(
            "CREATE TABLE {h} (id SMALLINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)"
        ),
        seed_head=q("INSERT INTO {h} (id, seq, hash) VALUES (1, %s, %s)"),
        last=q("SELECT seq, hash FROM {t} ORDER BY seq DESC LIMIT 1"),
        head=q("SELECT seq, hash FROM {h} WHERE id = 1"),
        lock_head=q("SELECT seq, hash FROM {h} WHERE id = 1 FOR UPDATE"),
        insert=q("INSERT INTO {t} ({cols}) VALUES (%s, %s, %s, %s, %s, %s)"),
        move_head=q("UPDATE {h} SET seq = %s, hash = %s WHERE id = 1"),
        page=q("SELECT {cols} FROM {t} WHERE seq > %s AND (%s::text IS NULL OR kind = %s) ORDER BY seq LIMIT %s"),
        every=q("SELECT {cols} FROM {t} ORDER BY seq"),
        size=q("SELECT count(*) FROM {t}"),
    )


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, for messages (never its password)."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise ValueError(f"audit DSN: not a PostgreSQL connection string ({error})") from None
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


class PostgresAuditLog:
    """One chain in one PostgreSQL table; any number of writers, in any number of processes."""

    def __init__(self, dsn: str, table: str = "audit", *, create: bool = True) -> None:
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"audit table {table!r}: expected lower-case letters, digits and _ (at most 54)")
        self.table, self.name = table, f"{describe_dsn(dsn)}.{table}"
        self._dsn, self._sql, self._lock = dsn, _queries(table), threading.Lock()
        try:
            self._conn = self._connect()
        except psycopg.Error as error:
            raise AuditUnavailableError(f"audit {self.name}: cannot connect ({error})") from error
        try:
            self._prepare(create)
            self._seen = self._read_head() or EMPTY
        except (psycopg.Error, AuditUnavailableError) as error:
            self._conn.close()
            raise AuditUnavailableError(f"audit {self.name}: cannot open ({error})") from error

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        options: dict[str, Any] = {"autocommit": True, "application_name": f"rtopt-audit:{self.table}"}
        if "connect_timeout" not in conninfo_to_dict(self._dsn):
            options["connect_timeout"] = 10
        conn = psycopg.connect(self._dsn, **options)
        conn.execute(_LOCK_TIMEOUT)
        return conn

    def _prepare(self, create: bool) -> None:
        """Create the tables once, under an advisory lock: concurrent CREATE TABLEs of one name collide."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rtopt-audit:{self.table}",))
            exists = self._conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (self.table, f"{self.table}_head"))
            table, head = exists.fetchone() or (None, None)
            if table is None and not create:
                raise AuditUnavailableError("no such table")
            if table is None:
                self._conn.execute(self._sql.create)
            if head is None:
                last = self._conn.execute(self._sql.last).fetchone()
                self._conn.execute(self._sql.create_head)
                self._conn.execute(self._sql.seed_head, tuple(last) if last else EMPTY)

    def _read_head(self) -> Head | None:
        row = self._conn.execute(self._sql.head).fetchone()
        return None if row is None else Head(int(row[0]), str(row[1]))

    def append(self, kind: str, payload: Payload) -> str:
        """Write one record in one transaction; returns its hash. Raises ``AuditWriteError`` when it could not."""
        text = encode_payload(payload)
        with self._lock:
            try:
                record = self._write(kind, text)
            except (psycopg.Error, AuditWriteError) as error:
                # A failed COMMIT may still have committed: an extra record is harmless, a missing one is not.
                raise AuditWriteError(f"audit {self.name}: write failed ({error})") from error
            self._seen = Head(record.seq, record.hash)
        return record.hash

    def _write(self, kind: str, text: str) -> AuditRecord:
        if self._conn.broken:  # the server went away after the last append: try once on a fresh connection
            self._conn = self._connect()
        with self._conn.transaction():
            row = self._conn.execute(self._sql.lock_head).fetchone()
            record = next_record(None if row is None else Head(int(row[0]), str(row[1])), self._seen, kind, text)
            self._conn.execute(self._sql.insert, record)
            self._conn.execute(self._sql.move_head, (record.seq, record.hash))
        return record

    def records(self, kind: str | None = None) -> Iterator[AuditRecord]:
        """Every record (of ``kind``) in seq order, a page at a time: no transaction is held between pages."""
        after = -(2**63)
        while True:
            with self._lock:
                rows = self._conn.execute(self._sql.page, (after, kind, kind, _PAGE)).fetchall()
            yield from (AuditRecord(*row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def count(self) -> int:
        with self._lock:
            row = self._conn.execute(self._sql.size).fetchone()
        return 0 if row is None else int(row[0])

    def verify(self) -> ChainBreak | None:
        """The first record that breaks the chain (edited, deleted or reordered), or None when intact."""
        return self.inspect().broken

    def inspect(self) -> Verdict:
        """The chain checked in one REPEATABLE READ snapshot, streamed through a server-side cursor."""
        with self._lock:
            seen = self._seen
            with self._conn.transaction():
                self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                stored = self._read_head()
                with self._conn.cursor(name=f"verify_{self.table}") as cursor:
                    cursor.itersize = _PAGE
                    cursor.execute(self._sql.every)
                    return check_chain((AuditRecord(*row) for row in cursor), stored, seen)

    def close(self) -> None:
        self._conn.close()
