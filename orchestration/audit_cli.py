"""`rtopt audit verify` and `rtopt audit tail`: check the hash-chained audit log, or read its last records.

``verify`` walks the chain from genesis in a freshly opened log, so it finds what the writer's own
process could not have noticed: the first edited, deleted or reordered record, and a cut tail (against
the stored head). It exits 0 and prints the head hash when the chain is intact: record that hash
outside the store, since a chain rewritten end to end (head included) only shows against such an anchor.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from datetime import UTC, datetime

from orchestration.settings import Settings
from serving.decision.audit import AuditRecord, AuditTrail, AuditUnavailableError, open_audit, sqlite_path


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="check the hash-chained audit log, or print its last records")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="exit 1 at the first edited, deleted or reordered record")
    tail = actions.add_parser("tail", help="the last records as JSON lines")
    for parser in (verify, tail):
        parser.add_argument(
            "--dsn", default=None, help="sqlite:///PATH or postgresql://... (default: the settings' audit_dsn)"
        )
        parser.add_argument("--table", default="audit", help="the PostgreSQL table (SQLite files always use audit)")
    tail.add_argument("-n", type=int, default=10, help="how many records (default 10)")
    tail.add_argument("--kind", default=None, help="only records of this kind (decision, reject, ...)")


def run_audit_command(args: argparse.Namespace, settings: Settings) -> int:
    dsn = args.dsn or settings.audit_dsn
    if args.audit_command == "tail" and args.n < 1:
        raise ValueError(f"-n {args.n}: must be at least 1")
    try:
        log = open_audit(dsn, table=args.table, create=False)
    except AuditUnavailableError as error:
        print(f"rtopt audit: error: {error}{_siblings_hint(dsn)}", file=sys.stderr)
        return 2
    try:
        return verify(log) if args.audit_command == "verify" else tail(log, args.n, args.kind)
    finally:
        log.close()


def verify(log: AuditTrail) -> int:
    """0 and the head when the chain is intact; 1, the first bad seq and the last intact record when not."""
    verdict = log.inspect()
    if verdict.broken is None:
        print(f"audit OK: {verdict.head.seq} records, head {verdict.head.hash}")
        return 0
    print(f"audit BROKEN at seq {verdict.broken.seq}: {verdict.broken.problem}")
    print(f"last intact record: seq {verdict.head.seq}, hash {verdict.head.hash}")
    return 1


def tail(log: AuditTrail, n: int, kind: str | None) -> int:
    for record in deque(log.records(kind), maxlen=n):
        print(json.dumps(_readable(record)))
    return 0


def _readable(record: AuditRecord) -> dict[str, object]:
    stamped = datetime.fromtimestamp(record.ts_ns / 1e9, UTC).isoformat()
    return {**record._asdict(), "time": stamped, "payload": json.loads(record.payload)}


def _siblings_hint(dsn: str) -> str:
    """Other SQLite audit files beside a missing one (Serve shards and the Python API keep their own)."""
    if not dsn.startswith("sqlite:"):
        return ""
    folder = sqlite_path(dsn).parent
    found = sorted(p.name for p in folder.glob("*.db")) if folder.is_dir() else []
    return f"; audit files in {folder}: {', '.join(found)} (pass one with --dsn sqlite:///PATH)" if found else ""
