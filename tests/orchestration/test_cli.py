"""``rtopt`` in-process through ``main(argv)``: info, ingest, and how bad input is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from orchestration.cli import main

BARS_HEADER = "timestamp,open,high,low,close,volume"
GOOD_BARS = [
    "2024-01-02 09:00:00,100.0,101.0,99.5,100.5,10",
    "2024-01-02 09:01:00,100.5,101.5,100.0,101.0,12",
    "2024-01-02 09:02:00,101.0,101.2,100.4,100.8,7",
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest_output(out: str) -> tuple[str, dict[str, object]]:
    """The summary line and the manifest JSON that a successful ingest prints."""
    summary, _, manifest = out.partition("\n")
    return summary, json.loads(manifest)


def _assert_one_line_error(err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rtopt ingest: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_info_given_json_flag_returns_every_state_location_under_rtopt_home(
    rtopt_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["info", "--json"])

    info = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"environment", "dagster", "mlflow", "feast", "online_store", "market_data"} <= set(info)
    assert info["environment"] == "local"
    home = rtopt_home.resolve()
    assert info["dagster"]["home"] == str(home / "dagster")
    assert info["market_data"]["root"] == str(home / "market_data")
    assert info["online_store"]["backend"] in ("redis", "sqlite")
    assert Path(info["feast"]["feature_store_yaml"]).is_file()


def test_info_given_no_flag_returns_indented_text_report(rtopt_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["info"])

    out = capsys.readouterr().out
    assert code == 0
    assert "environment: local" in out.splitlines()
    assert f"  root: {rtopt_home.resolve() / 'market_data'}" in out.splitlines()


def test_ingest_given_good_csv_returns_zero_counts_and_registers_partition(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "bars.csv", [BARS_HEADER, *GOOD_BARS])

    code = main(["ingest", str(source), "--symbol", "TEST-1"])

    summary, manifest = _ingest_output(capsys.readouterr().out)
    assert code == 0
    assert summary == "accepted 3 rows, rejected 0"
    assert (manifest["accepted"], manifest["rejected"], manifest["kind"]) == (3, 0, "bars")
    assert (manifest["first"], manifest["last"]) == ("2024-01-02T09:00:00+00:00", "2024-01-02T09:02:00+00:00")
    assert Path(str(manifest["data_path"])).is_relative_to(rtopt_home.resolve() / "market_data" / "landing")
    assert Path(os.environ["DAGSTER_HOME"]) == rtopt_home.resolve() / "dagster"
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("symbols") == ["TEST-1"]


def test_ingest_given_same_file_twice_returns_same_batch_and_one_partition(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "bars.csv", [BARS_HEADER, *GOOD_BARS])

    codes = [main(["ingest", str(source), "--symbol", "TEST"]) for _ in range(2)]

    out = capsys.readouterr().out
    manifests = [json.loads("{" + part.split("{", 1)[1]) for part in out.split("accepted 3 rows")[1:]]
    assert codes == [0, 0]
    assert manifests[0]["batch_id"] == manifests[1]["batch_id"]
    assert len(list(Path(str(manifests[0]["data_path"])).parent.glob("*.json"))) == 1
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("symbols") == ["TEST"]


def test_ingest_given_csv_with_bad_rows_returns_zero_and_rejects_csv_with_line_and_reason(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path / "mixed.csv",
        [
            BARS_HEADER,
            GOOD_BARS[0],
            "2024-01-02 09:01:00,100.0,99.0,101.0,100.0,1",
            "2024-01-02 09:02:00,100.0,101.0,99.0,abc,1",
            "2024-01-02 09:03:00,100.0,101.0",
            "yesterday at nine,100.0,101.0,99.0,100.0,1",
            "2024-01-02 09:04:00,100.0,101.0,99.0,100.0,-5",
            GOOD_BARS[2],
            "2024-01-02 09:02:00,100.0,101.0,99.0,100.0,1",
            "2024-01-02 08:00:00,100.0,101.0,99.0,100.0,1",
        ],
    )

    code = main(["ingest", str(source), "--symbol", "MIXED"])

    summary, manifest = _ingest_output(capsys.readouterr().out)
    assert code == 0
    assert summary == "accepted 2 rows, rejected 7"
    rejects = pd.read_csv(str(manifest["rejects_path"]))
    assert list(rejects.columns) == ["source", "line", "reason", "detail", "raw"]
    assert list(zip(rejects["line"], rejects["reason"], strict=True)) == [
        (3, "high_below_low"),
        (4, "unparseable_number"),
        (5, "unparseable_line"),
        (6, "unparseable_timestamp"),
        (7, "negative_size"),
        (9, "duplicate"),
        (10, "out_of_order"),
    ]
    assert rejects.loc[1, "detail"] == "close: not a number: abc"
    assert rejects.loc[2, "detail"] == "expected 6 fields, got 3"
    assert set(rejects["source"]) == {str(source)}


def test_ingest_given_only_bad_rows_returns_two_naming_the_rejects_file(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "bad.csv", [BARS_HEADER, "2024-01-02 09:01:00,100.0,99.0,101.0,100.0,1"])

    code = main(["ingest", str(source), "--symbol", "BAD"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    _assert_one_line_error(captured.err, "no valid rows (1 rejected")
    assert "rejects" in captured.err


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "does-not-exist.csv"


def _empty(tmp_path: Path) -> Path:
    return _write(tmp_path / "empty.csv", [""])


def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "image.csv"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _headerless_seven_fields(tmp_path: Path) -> Path:
    return _write(tmp_path / "wide.csv", ["2024-01-02 09:00:00,1,2,3,4,5,6", "2024-01-02 09:01:00,1,2,3,4,5,6"])


@pytest.mark.parametrize(
    ("make_file", "fragment"),
    [
        (_missing, "no such file"),
        (_empty, "file is empty"),
        (_binary, "looks binary"),
        (_headerless_seven_fields, "no header row and 7 fields"),
    ],
)
def test_ingest_given_unusable_file_returns_two_and_one_line_error(
    rtopt_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_file: Callable[[Path], Path],
    fragment: str,
) -> None:
    source = make_file(tmp_path)

    code = main(["ingest", str(source), "--symbol", "X"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    _assert_one_line_error(captured.err, fragment)
    assert not (rtopt_home / "market_data" / "landing").exists()


@pytest.mark.parametrize("symbol", ["../escape", "x" * 33])
def test_ingest_given_bad_symbol_returns_two_naming_the_symbol_field(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], symbol: str
) -> None:
    source = _write(tmp_path / "bars.csv", [BARS_HEADER, *GOOD_BARS])

    code = main(["ingest", str(source), "--symbol", symbol])

    assert code == 2
    _assert_one_line_error(capsys.readouterr().err, "symbol: ")


def test_ingest_given_dayfirst_format_returns_day_first_timestamps(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path / "eu.csv", [BARS_HEADER, "31/01/2024 10:00,1.0,1.2,0.9,1.1,5", "01/02/2024 10:00,1,2,1,1,5"]
    )

    code = main(["ingest", str(source), "--symbol", "EU", "--time-format", "dayfirst"])

    _, manifest = _ingest_output(capsys.readouterr().out)
    assert code == 0
    assert (manifest["first"], manifest["last"]) == ("2024-01-31T10:00:00+00:00", "2024-02-01T10:00:00+00:00")
    assert manifest["time_format"] == "dayfirst"


def test_ingest_given_ambiguous_dates_in_auto_mode_returns_two_asking_for_dayfirst(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "amb.csv", [BARS_HEADER, "03/04/2024 10:00,1,2,1,1,5", "04/04/2024 10:00,1,2,1,1,5"])

    code = main(["ingest", str(source), "--symbol", "AMB"])

    assert code == 2
    _assert_one_line_error(capsys.readouterr().err, "dayfirst")
    assert main(["ingest", str(source), "--symbol", "AMB", "--time-format", "dayfirst"]) == 0
    _, manifest = _ingest_output(capsys.readouterr().out)
    assert manifest["first"] == "2024-04-03T10:00:00+00:00"


def test_ingest_given_bid_and_ask_files_returns_mid_bars_with_spread(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = "timestamp,open,high,low,close"
    bid = _write(
        tmp_path / "bid.csv",
        [
            header,
            "2024-01-02 09:00:00,1.0,1.2,0.9,1.1",
            "2024-01-02 09:01:00,1.1,1.3,1.0,1.2",
            "2024-01-02 09:02:00,1,1,1,1",
        ],
    )
    ask = _write(
        tmp_path / "ask.csv", [header, "2024-01-02 09:00:00,1.2,1.4,1.1,1.3", "2024-01-02 09:01:00,1.3,1.5,1.2,1.4"]
    )

    code = main(["ingest", str(bid), "--ask", str(ask), "--symbol", "FX"])

    summary, manifest = _ingest_output(capsys.readouterr().out)
    assert code == 0
    assert summary == "accepted 2 rows, rejected 1"
    bars = pd.read_parquet(str(manifest["data_path"]))
    assert bars["bid"].tolist() == [1.1, 1.2]
    assert bars["ask"].tolist() == [1.3, 1.4]
    assert bars["spread"].tolist() == pytest.approx([0.2, 0.2])
    assert bars["close"].tolist() == pytest.approx([1.2, 1.3])
    rejects = pd.read_csv(str(manifest["rejects_path"]))
    assert list(zip(rejects["line"], rejects["reason"], strict=True)) == [(4, "missing_other_side")]


def test_ingest_given_ask_file_for_quotes_returns_two_naming_ask(
    rtopt_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "q.csv", ["timestamp,bid,ask", "2024-01-02 09:00:00,1.0,1.1"])

    code = main(["ingest", str(source), "--ask", str(source), "--kind", "quotes", "--symbol", "Q"])

    assert code == 2
    _assert_one_line_error(capsys.readouterr().err, "ask: ")


def test_rtopt_script_given_missing_file_returns_exit_two_without_traceback(rtopt_home: Path) -> None:
    script = Path(sys.executable).parent / "rtopt"

    done = subprocess.run(
        [str(script), "ingest", "/nonexistent", "--symbol", "X"],
        env={**os.environ, "RTOPT_HOME": str(rtopt_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "rtopt ingest: error: /nonexistent: no such file" in done.stderr
