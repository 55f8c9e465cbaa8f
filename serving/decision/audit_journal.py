"""A journal in front of the SQLite audit log: one ``write`` per decision, the chain built off the decision path.

An ``AuditLog.append`` is one SQLite commit: ~36 us alone, ~55 us between decisions (a commit makes several
write calls), and the decision path around it runs ~20 us slower for it (measured with the benchmark's
engine on this project's 2-core machine). ``JournaledAudit.append`` writes the record as one line to an
append-only journal file of this writer's own, with a single ``os.write``, and returns. The lines are taken
into the ``AuditLog`` in batches (``AuditLog.ingest``: one transaction per batch, the hash chain built there
against the stored head, so writers in several processes still keep one chain).

What a caller can rely on, per kind:

- ``decision``, ``reject`` and ``exploration_budget`` (the per-event kinds) are written when ``append``
  returns: the line is in the file, which survives a crash of this process as a WAL commit with
  ``synchronous=NORMAL`` does (neither is flushed to the disk per record; ``JournalConfig.fsync`` does
  that). They reach the store in batches of ``batch`` taken in by the writer itself while it is busy, and
  by a background thread once it has been quiet for ``ingest_every_s``. (A thread taking them in beside a
  busy decision loop fights it for the GIL: measured, every decision got slower.) ``records``, ``count``,
  ``verify`` and ``inspect`` on this object take in everything journaled first. ``append`` returns the
  record's place, ``journal:<file>:<offset>``: its hash exists once it is in the store.
- Every other kind (a person's kill, limits, vetoes, model changes) is taken into the store, with everything
  journaled before it, before ``append`` returns its hash, as the log's ``append`` does.
- A failure raises ``AuditWriteError``, as the log's ``append`` does, so the engine halts trading. A write to
  the journal that fails raises at once, and so does every later one of this writer (a part of the line
  may be in the file). A store that refuses a batch leaves its lines in the journal to be
  tried again, and every ``append`` after it raises until a batch goes in. More than ``max_pending`` records
  waiting for the store raise too: the backlog is bounded.
- After a crash, the next ``JournaledAudit`` on the same store takes in what each dead writer's journal holds
  past the offset the store recorded for it (in the batch's own transaction, so exactly once), then deletes
  the journal. A writer holds an exclusive ``flock`` on its journal for its life, so a live writer's journal
  is never taken. A last line without its newline is a write that never returned: its decision never went out.

Readers in other processes (``rtopt audit verify``, a dashboard) see the store: everything up to the last
batch taken in. A line is chained once it is taken in: until then (one batch, or ``ingest_every_s`` of quiet)
an edit of the journal file by someone with write access to it would be taken in as written.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.decision.audit import AuditLog, AuditRecord, AuditWriteError, ChainBreak, Payload, Verdict, encode_payload

__all__ = ["JOURNALED_KINDS", "JournalConfig", "JournaledAudit", "recover_journals"]

LOG = logging.getLogger(__name__)
JOURNALED_KINDS = frozenset({"decision", "reject", "exploration_budget"})
"""The per-event kinds: journaled, taken into the store in batches. Every other kind is taken in at once."""
_SUFFIX = ".journal-"


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalConfig:
    ingest_every_s: float = 0.1
    """The background thread takes in what waits once the writer has been quiet this long (checked this often)."""
    batch: int = 512
    """Records per ingest transaction at most; the writer takes a full batch in itself (``append``)."""
    max_pending: int = 100_000
    """Records journaled but not yet in the store beyond which ``append`` refuses (a store that fell behind)."""
    fsync: bool = False
    """``os.fsync`` the journal after every record: durable against a power loss, at the cost of a disk flush each."""

    def __post_init__(self) -> None:
        if not 0.0 < self.ingest_every_s <= 60.0:
            raise ValueError(f"ingest_every_s: must lie in (0, 60], got {self.ingest_every_s}")
        if self.batch < 1:
            raise ValueError(f"batch: must be >= 1, got {self.batch}")
        if self.max_pending < 1:
            raise ValueError(f"max_pending: must be >= 1, got {self.max_pending}")


class JournaledAudit:
    """An ``AuditTrail``: ``store`` (an ``AuditLog``) behind a journal file of this writer's own (module docstring)."""

    def __init__(self, store: AuditLog, config: JournalConfig | None = None) -> None:
        self.config = config or JournalConfig()
        self.store = store
        recover_journals(store)
        self.path = store.path.with_name(f"{store.path.name}{_SUFFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._offset = 0
        self._pending: deque[tuple[int, str, str, int]] = deque()
        """(ts_ns, kind, text, end offset) journaled and not yet in the store, in journal order."""
        self._lock = threading.Lock()
        """Orders journal writes (and the pending queue)."""
        self._ingesting = threading.Lock()
        """One ingest at a time (the thread's and a caller's flush)."""
        self._failure: AuditWriteError | None = None
        """The store's last refusal, until a batch goes in."""
        self._broken: str | None = None
        """Why a journal write failed: this writer writes no more."""
        self._last_write = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"audit-journal:{self.path.name}", daemon=True)
        self._thread.start()

    # -- writing --------------------------------------------------------------------------------------

    def append(self, kind: str, payload: Payload) -> str:
        """Journal one record; see the module docstring for when it is in the store and what comes back."""
        text = encode_payload(payload)
        if "\t" in kind or "\n" in kind:
            raise AuditWriteError(f"kind: {kind!r} must not hold a tab or a newline")
        if kind in JOURNALED_KINDS:
            start, _ = self._journal(kind, text)
            # A full batch is taken in by the writer itself (one decision in ``batch`` pays ~8 us a record): a
            # thread doing it beside a busy decision loop fights it for the GIL and slows every decision.
            if len(self._pending) >= self.config.batch and self._ingesting.acquire(blocking=False):
                try:
                    self._flush_locked()
                except AuditWriteError:
                    pass  # kept in the journal and retried; ``_failure`` makes the next append raise
                finally:
                    self._ingesting.release()
            return f"journal:{self.path.name}:{start}"
        with self._ingesting:  # taken in at once: no ingest may run between the write and this flush
            _, end = self._journal(kind, text)
            return self._flush_locked()[end]

    def _journal(self, kind: str, text: str) -> tuple[int, int]:
        """One line written; its (start, end) offsets in the journal."""
        with self._lock:  # the stamp under the lock too: timestamps rise in journal (chain) order
            ts_ns = time.time_ns()
            line = f"{ts_ns}\t{kind}\t{text}\n".encode()
            if self._broken is not None:
                raise AuditWriteError(f"audit journal {self.path}: a write failed before ({self._broken})")
            if self._failure is not None:
                raise AuditWriteError(f"audit {self.store.path}: the store refuses records ({self._failure})")
            if len(self._pending) >= self.config.max_pending:
                raise AuditWriteError(f"audit {self.store.path}: {len(self._pending)} records wait for the store")
            try:
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(f"short write: {written} of {len(line)} bytes")
                if self.config.fsync:
                    os.fsync(self._fd)
            except OSError as error:
                # a part of the line may be in the file: nothing more goes after it from this writer
                self._broken = str(error)
                raise AuditWriteError(f"audit journal {self.path}: write failed ({error})") from error
            start = self._offset
            end = self._offset = start + written
            self._last_write = time.monotonic()
            self._pending.append((ts_ns, kind, text, end))
        return start, end

    def flush(self) -> None:
        """Take everything journaled so far into the store, in the calling thread."""
        with self._ingesting:
            self._flush_locked()

    def _flush_locked(self, batches: int | None = None) -> dict[int, str]:
        """Ingest batches until nothing is pending (or ``batches`` of them); each taken record's hash by its end."""
        hashes: dict[int, str] = {}
        while batches is None or batches > 0:
            batches = None if batches is None else batches - 1
            with self._lock:
                batch = [self._pending[i] for i in range(min(len(self._pending), self.config.batch))]
            if not batch:
                return hashes
            try:
                records = self.store.ingest(
                    [(ts, kind, text) for ts, kind, text, _ in batch], self.path.name, batch[-1][3]
                )
            except AuditWriteError as error:
                with self._lock:
                    self._failure = error
                raise
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
                self._failure = None
            hashes.update((entry[3], record.hash) for entry, record in zip(batch, records, strict=True))
        return hashes

    def _run(self) -> None:
        """Take in what waits once the writer has been quiet for ``ingest_every_s`` (never beside a busy loop)."""
        every = self.config.ingest_every_s
        while not self._done.wait(every):
            if not self._pending or time.monotonic() - self._last_write < every:
                continue
            # one batch per wake: a writer that starts again meanwhile is not held up by a long catch-up
            if not self._ingesting.acquire(blocking=False):
                continue
            try:
                self._flush_locked(batches=1)
            except AuditWriteError as error:
                LOG.error("audit journal %s: %s (the lines stay in the journal and are retried)", self.path, error)
            finally:
                self._ingesting.release()

    # -- reading (everything journaled is taken in first) ---------------------------------------------

    def records(self, kind: str | None = None) -> Iterator[AuditRecord]:
        self.flush()
        return self.store.records(kind)

    def count(self) -> int:
        self.flush()
        return self.store.count()

    def verify(self) -> ChainBreak | None:
        self.flush()
        return self.store.verify()

    def inspect(self) -> Verdict:
        self.flush()
        return self.store.inspect()

    @property
    def pending(self) -> int:
        """Records journaled and not yet in the store."""
        return len(self._pending)

    def close(self) -> None:
        """Stop the thread, take the rest in, delete the journal (kept when the store refused it)."""
        if self._done.is_set():
            return
        self._done.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            os.close(self._fd)
            if not self._pending:
                self.path.unlink()
                self.store.forget_journal(self.path.name)
            self.store.close()


def recover_journals(store: AuditLog) -> int:
    """Take in what every dead writer's journal beside ``store`` holds past its recorded offset; delete those.

    A journal whose ``flock`` is held belongs to a live writer and is left alone. Returns the records taken in.
    """
    taken = 0
    for path in sorted(store.path.parent.glob(f"{store.path.name}{_SUFFIX}*")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its writer closed it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            offset = store.journal_offset(path.name)
            with os.fdopen(os.dup(fd), "rb") as journal:
                journal.seek(offset)
                tail = journal.read()
            entries, end = _complete_lines(tail, path)
            if entries:
                store.ingest(entries, path.name, offset + end)
                taken += len(entries)
            if end != len(tail):
                LOG.warning("audit journal %s: a last line without its newline (a write that never returned)", path)
            path.unlink()
            store.forget_journal(path.name)
        finally:
            os.close(fd)
    return taken


def _complete_lines(data: bytes, path: Path) -> tuple[list[tuple[int, str, str]], int]:
    """The records of every complete line of ``data``, and the byte length those lines cover."""
    entries: list[tuple[int, str, str]] = []
    end = data.rfind(b"\n") + 1
    for number, raw in enumerate(data[:end].splitlines(), 1):
        try:
            ts, kind, text = raw.decode().split("\t", 2)
            entries.append((int(ts), kind, text))
        except ValueError as error:
            raise AuditWriteError(
                f"audit journal {path}: line {number} past the recorded offset is not a record"
            ) from error
    return entries, end
