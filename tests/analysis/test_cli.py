"""``evkit sessions`` and ``evkit latency`` on a dataset written the way a capture writes it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evkit.cli import main
from evkit.commands._session_text import EVCC_COLUMNS, go_duration
from evkit.store.writer import PartWriter
from tests.analysis.conftest import A, B, C, D, Fleet


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    root = tmp_path_factory.mktemp("cli") / "data"
    writer = PartWriter(root)
    frame = fleet.frame()
    for start in range(0, frame.height, 500):  # several parts, as a capture flushes them
        writer.write(frame.slice(start, 500))
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sessions_json(dataset: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "sessions", str(dataset), "--format", "json")
    assert code == 0
    sessions = json.loads(out)
    assert len(sessions) == len(fleet.truths)
    first = sessions[0]
    for key in ("charger_id", "started_at", "ended_at", "energy_kwh", "charge_duration_s", "peak_power_kw"):
        assert key in first
    assert first["charger_id"] == A
    assert first["started_at"] == "2026-03-02T06:30:00Z"
    assert first["ended_at"] == "2026-03-02T11:00:00Z"
    assert first["energy_kwh"] == pytest.approx(29.0, rel=0.01)
    assert first["charge_duration_s"] == pytest.approx(3 * 3600, abs=60)
    assert first["peak_power_kw"] == 11.0
    open_session = sessions[1]
    assert open_session["ended_at"] is None


def test_sessions_filters(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(
        capsys,
        "sessions",
        str(dataset),
        "--format",
        "json",
        "--charger",
        B,
        "--charger",
        C,
        "--from",
        "2026-03-02T07:00Z",
        "--to",
        "2026-03-02 10:00",
    )
    found = [(s["charger_id"], s["started_at"]) for s in json.loads(out)]
    assert found == [(B, "2026-03-02T09:20:00Z"), (C, "2026-03-02T07:00:00Z")]


def test_sessions_csv_with_evcc_columns(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sessions.csv"
    code, _, err = _run(
        capsys,
        "sessions",
        str(dataset),
        "--format",
        "csv",
        "--columns",
        "evcc",
        "--out",
        str(target),
        "--charger",
        D,
    )
    assert code == 0
    assert "1 session(s) written" in err
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == EVCC_COLUMNS
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["Created"] == "2026-03-02 09:20:00"
    assert record["Finished"] == "2026-03-02 11:30:00"
    assert record["Loadpoint"] == D
    assert float(record["Charged Energy (kWh)"]) == pytest.approx(22.0, rel=0.01)
    assert record["Charge Duration"] == "2h0m0s"


def test_sessions_csv_default_columns_and_parquet(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(capsys, "sessions", str(dataset), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["started_at"] == "2026-03-02T06:30:00Z"
    assert rows[0]["complete"] == "true"
    target = tmp_path / "s.parquet"
    assert _run(capsys, "sessions", str(dataset), "--format", "parquet", "--out", str(target))[0] == 0
    frame = pl.read_parquet(target)
    assert frame.height == len(rows)
    assert frame.schema["started_at"] == pl.Datetime("us", "UTC")


def test_sessions_table_is_readable(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "sessions", str(dataset))
    assert code == 0
    assert "(connected)" in out
    assert "6 session(s)" in out
    assert "mid-start" in out and "gap" in out


def test_latency_json_matches_numpy(dataset: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "latency", str(dataset), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"device_to_cloud", "cloud_to_capture", "end_to_end", "scheduled"}
    # one message per identity (the simulator repeats some readings word for word: those are one)
    identity = ["charger_id", "observation_id", "observed_at", "value", "value_text"]
    clean = fleet.frame(fleet.clean).unique(subset=identity)
    scheduled = pl.col("observation_id").is_in([122, 124])
    for part, stats in (
        (clean.filter(~scheduled), result["device_to_cloud"]),
        (clean.filter(scheduled), result["scheduled"]["device_to_cloud"]),
    ):
        values = (part["arrival_time"] - part["observed_at"]).dt.total_microseconds().to_numpy() / 1e6
        assert stats["n"] == len(values) > 0
        assert stats["p50_s"] == pytest.approx(np.percentile(values, 50), abs=1e-4)
        assert stats["p99_s"] == pytest.approx(np.percentile(values, 99), abs=1e-4)
    assert result["device_to_cloud"]["negative_n"] > 0
    assert result["scheduled"]["observation_ids"] == [122, 124]
    hops = [result[h] for h in ("device_to_cloud", "cloud_to_capture", "end_to_end")]
    hops += [result["scheduled"]["device_to_cloud"], result["scheduled"]["end_to_end"]]
    for hop in hops:
        assert {"n", "p50_s", "p95_s", "p99_s", "max_s", "negative_n"} <= set(hop)


def test_latency_by_charger(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "latency", str(dataset), "--format", "json", "--by", "charger")
    result = json.loads(out)
    assert {row["charger_id"] for row in result["end_to_end"]} >= {A, B, C, D}
    _, table, _ = _run(capsys, "latency", str(dataset), "--by", "hour")
    assert "clock skew" in table


def test_no_parquet_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "sessions", str(tmp_path))
    assert code == 2
    assert "no Parquet files" in err
    assert out == ""


def test_missing_columns_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pl.DataFrame({"charger_id": ["x"], "value": [1.0]}).write_parquet(tmp_path / "odd.parquet")
    code, _, err = _run(capsys, "latency", str(tmp_path))
    assert code == 2
    assert "lacks required column(s)" in err and "observed_at" in err


def test_empty_dataset_is_a_clear_error(
    tmp_path: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.frame().head(0).write_parquet(tmp_path / "empty.parquet")
    code, _, err = _run(capsys, "sessions", str(tmp_path))
    assert code == 2
    assert "empty" in err


def test_empty_parts_before_a_full_one_are_not_an_empty_dataset(
    tmp_path: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    from evkit.store.frame_facts import has_rows, row_count
    from evkit.store.reader import scan

    fleet.frame().head(0).write_parquet(tmp_path / "a-empty.parquet")
    fleet.frame().head(0).write_parquet(tmp_path / "b-empty.parquet")
    fleet.frame().write_parquet(tmp_path / "c-rows.parquet")
    lf = scan(tmp_path, dedupe=False)
    assert has_rows(lf) and row_count(lf) == fleet.frame().height
    assert has_rows(lf.filter(pl.col("charger_id") == "nobody")) is False
    code, out, _ = _run(capsys, "sessions", str(tmp_path), "--format", "json")
    assert code == 0 and json.loads(out)


def test_bad_options_are_refused(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "sessions", str(dataset), "--format", "parquet")[0] == 2
    assert _run(capsys, "sessions", str(dataset), "--columns", "evcc")[0] == 2
    code, _, err = _run(capsys, "sessions", str(dataset), "--from", "last tuesday")
    assert code == 2
    assert "--from" in err


def test_no_traceback_from_the_real_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evkit", "sessions", str(tmp_path / "missing")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "does not exist" in done.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.6, "1m0s"), (61, "1m1s"), (3600, "1h0m0s"), (7322, "2h2m2s"), (None, "")],
)
def test_go_duration(seconds: float | None, text: str) -> None:
    assert go_duration(seconds) == text


def test_wrong_column_types_are_a_clear_error(
    tmp_path: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.frame().head(20).with_columns(pl.col("observed_at").dt.to_string()).write_parquet(
        tmp_path / "x.parquet"
    )
    code, _, err = _run(capsys, "sessions", str(tmp_path))
    assert code == 2
    assert "observed_at is String" in err


def test_damage_behind_a_sound_footer_is_a_sentence_not_a_traceback(
    tmp_path: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes overwritten inside a data page: the footer reads fine, the page does not. Every command
    says so in a sentence naming the part (the report let Polars' error through as a traceback)."""
    root = tmp_path / "data" / "date=2026-03-02"
    root.mkdir(parents=True)
    part = root / "part-x-000001.parquet"
    fleet.frame().write_parquet(part, compression="uncompressed", row_group_size=2_000)
    import pyarrow.parquet as pq

    group = pq.ParquetFile(part).metadata.row_group(0)
    chunk = next(
        group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == "charger_id"
    )
    begin = chunk.dictionary_page_offset or chunk.data_page_offset
    raw = bytearray(part.read_bytes())
    raw[begin + 32 : begin + chunk.total_compressed_size - 8] = b"\xff" * (chunk.total_compressed_size - 40)
    part.write_bytes(bytes(raw))
    for argv in (["sessions"], ["latency"], ["report", "--out", str(tmp_path / "r.html"), "--no-progress"]):
        code, _, err = _run(capsys, argv[0], str(tmp_path / "data"), *argv[1:])
        assert code == 2, (argv, err)
        assert err.startswith("evkit: 1 damaged Parquet part(s) ") and err.count("\n") == 1, err
        assert "date=2026-03-02/part-x-000001.parquet" in err and "--skip-damaged" in err
    assert not (tmp_path / "r.html").exists()


def test_a_part_vanishing_while_it_is_read_is_named(
    tmp_path: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction replacing parts while a command reads them: the command ends with a sentence
    naming the file and what likely happened (exit 1), not a FileNotFoundError traceback."""
    from evkit.store import reader

    root = tmp_path / "data"
    writer = PartWriter(root)
    frame = fleet.frame()
    for start in range(0, frame.height, 2_000):
        writer.write(frame.slice(start, 2_000))
    scan = reader.scan

    def scan_then_compact(*args: object, **kwargs: object) -> pl.LazyFrame:
        found = scan(*args, **kwargs)  # type: ignore[arg-type]
        sorted(root.rglob("*.parquet"))[-1].unlink()  # replaced by the compaction, say
        return found

    monkeypatch.setattr(reader, "scan", scan_then_compact)
    code, out, err = _run(capsys, "sessions", str(root))
    assert code == 1 and out == ""
    assert "a part of the data vanished while it was read" in err and ".parquet" in err
    assert "evkit compact" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "times",
    [pl.Datetime("ns", "UTC"), pl.Datetime("ms", "UTC"), pl.Datetime("us")],
    ids=["nanoseconds", "milliseconds", "no zone"],
)
def test_a_hand_made_store_with_other_time_types_gives_the_same_answers(
    tmp_path: Path, fleet: Fleet, times: pl.Datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """pandas writes nanoseconds, some tools drop the zone: the contract's microseconds in UTC are
    read from them (no zone: UTC). Narrowed reads failed on such stores (comparing times of another
    unit or zone with UTC bounds), latency and the report crashed."""
    columns = ("received_at", "arrival_time", "observed_at")
    # the same instants in both stores (milliseconds cannot hold the fleet's microseconds)
    frame = fleet.frame().with_columns(pl.col(c).dt.truncate("1ms") for c in columns)
    hand = frame.with_columns(
        pl.col(c).dt.replace_time_zone(None).cast(times) if times.time_zone is None else pl.col(c).cast(times)
        for c in columns
    )
    contract, root = tmp_path / "contract", tmp_path / "hand"
    for where, rows in ((contract, frame), (root, hand)):
        where.mkdir()
        rows.write_parquet(where / "part-hand-000001.parquet")
    window = ["--from", "2026-03-02T07:00Z", "--to", "2026-03-02T12:00Z", "--charger", B]
    for argv in (
        ["sessions", "--format", "json"],
        ["sessions", "--format", "json", *window],
        ["latency", "--format", "json", "--charger", B],
    ):
        code, want, err = _run(capsys, argv[0], str(contract), *argv[1:])
        assert code == 0, err
        code, got, err = _run(capsys, argv[0], str(root), *argv[1:])
        assert code == 0, err
        assert json.loads(got) == json.loads(want), argv
    out = tmp_path / "r.html"
    code, _, err = _run(capsys, "report", str(root), "--out", str(out), "--no-progress", *window)
    assert code == 0, err
    assert B in out.read_text(encoding="utf-8")
