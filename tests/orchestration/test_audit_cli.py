"""``rtopt audit verify`` and ``rtopt audit tail`` through ``main(argv)``, on logs tampered each way."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestration.cli import main
from orchestration.settings import load_settings
from serving.decision.audit import AuditLog, open_audit

POSTGRES_DSN = os.environ.get("RTOPT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TAMPERING = {
    "edited": ("""UPDATE audit SET payload = '{"n":30}' WHERE seq = 3""", "audit BROKEN at seq 3: content does not"),
    "middle_deleted": ("DELETE FROM audit WHERE seq = 2", "audit BROKEN at seq 2: record 2 is missing (next is 3)"),
    "last_deleted": (
        "DELETE FROM audit WHERE seq = 5",
        "audit BROKEN at seq 5: record 5 is missing (the log ends at 4)",
    ),
    "reordered": (
        "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4;"
        " UPDATE audit SET seq = 4 WHERE seq = -1",
        "audit BROKEN at seq 2: prev_hash does not match the previous record",
    ),
}


def write_log(path: Path) -> list[str]:
    """Five decisions; their hashes in order."""
    log = AuditLog(path)
    hashes = [log.append("decision", {"n": i}) for i in range(1, 6)]
    log.close()
    return hashes


def tamper(path: Path, script: str) -> None:
    db = sqlite3.connect(str(path), isolation_level=None)
    db.executescript(script)
    db.close()


def test_verify_given_intact_log_returns_zero_and_prints_the_head(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = write_log(tmp_path / "audit.db")

    code = main(["audit", "verify", "--dsn", f"sqlite:///{tmp_path / 'audit.db'}"])

    assert code == 0
    assert capsys.readouterr().out == f"audit OK: 5 records, head {hashes[-1]}\n"


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_given_tampered_log_returns_one_and_names_the_first_bad_seq(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    hashes = write_log(tmp_path / "audit.db")
    script, expected = TAMPERING[how]
    tamper(tmp_path / "audit.db", script)

    code = main(["audit", "verify", "--dsn", f"sqlite:///{tmp_path / 'audit.db'}"])

    first, last_intact = capsys.readouterr().out.splitlines()
    assert code == 1
    assert first.startswith(expected)
    assert last_intact.startswith("last intact record: seq ") and hashes[-1] not in last_intact


def test_verify_given_no_dsn_returns_the_settings_audit_log(
    rtopt_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = write_log(Path(load_settings(probe_redis=False).audit_dsn.removeprefix("sqlite:///")))

    code = main(["audit", "verify"])

    assert code == 0 and capsys.readouterr().out == f"audit OK: 5 records, head {hashes[-1]}\n"


def test_verify_given_missing_file_returns_two_and_names_the_files_beside_it(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(tmp_path / "decisions-shard0.db")

    code = main(["audit", "verify", "--dsn", f"sqlite:///{tmp_path / 'audit.db'}"])

    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "audit.db").exists()
    assert "no such file" in err and "decisions-shard0.db" in err


def test_tail_given_n_and_kind_returns_the_last_records_of_that_kind_as_json_lines(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = AuditLog(tmp_path / "audit.db")
    for i in range(1, 5):
        log.append("decision", {"n": i})
        log.append("reject", {"reason": f"r{i}"})
    log.close()

    code = main(["audit", "tail", "-n", "2", "--kind", "decision", "--dsn", f"sqlite:///{tmp_path / 'audit.db'}"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [(r["seq"], r["kind"], r["payload"]) for r in lines] == [
        (5, "decision", {"n": 3}),
        (7, "decision", {"n": 4}),
    ]
    assert lines[0]["time"].endswith("+00:00") and len(lines[1]["prev_hash"]) == 64


def test_rtopt_script_given_last_record_deleted_returns_one_in_a_fresh_process(
    rtopt_home: Path, tmp_path: Path
) -> None:
    # Regression: a fresh process has no memory of the head; the head table stored beside the chain is it.
    write_log(tmp_path / "audit.db")
    tamper(tmp_path / "audit.db", "DELETE FROM audit WHERE seq = 5")

    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "audit", "verify", "--dsn", f"sqlite:///{tmp_path / 'audit.db'}"],
        env={**os.environ, "RTOPT_HOME": str(rtopt_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("audit BROKEN at seq 5: record 5 is missing (the log ends at 4)")


@pytest.fixture
def pg_table() -> Iterator[str]:
    try:
        conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} does not answer ({error})")
    table = f"audit_cli_{uuid.uuid4().hex[:12]}"
    yield table
    conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_head".encode())
    conn.close()


@pytest.mark.postgres
def test_verify_given_postgres_table_returns_zero_then_one_after_a_delete(
    rtopt_home: Path, pg_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log = open_audit(POSTGRES_DSN, table=pg_table)
    hashes = [log.append("decision", {"n": i}) for i in range(1, 6)]
    log.close()
    argv = ["audit", "verify", "--dsn", POSTGRES_DSN, "--table", pg_table]

    intact = main(argv), capsys.readouterr().out
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {pg_table} WHERE seq = 3".encode())
    broken = main(argv), capsys.readouterr().out

    assert intact == (0, f"audit OK: 5 records, head {hashes[-1]}\n")
    assert broken[0] == 1 and broken[1].startswith("audit BROKEN at seq 3: record 3 is missing (next is 4)")
