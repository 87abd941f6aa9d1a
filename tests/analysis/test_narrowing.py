"""``--charger ID... --from T --to T`` read only those rows and give what filtering afterwards gives."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evkit.cli import main
from evkit.store.compact import compact
from evkit.store.writer import PartWriter
from tests.analysis.conftest import B, C, Fleet


@pytest.fixture(scope="module", params=["parts", "compacted"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    """The fleet as a capture leaves it (500-row parts), and compacted (sorted, 256-row groups: the
    narrow read then skips most of them)."""
    root = tmp_path_factory.mktemp("narrow") / "data"
    writer = PartWriter(root)
    frame = fleet.frame()
    for start in range(0, frame.height, 500):
        writer.write(frame.slice(start, 500))
    writer.close()
    if request.param == "compacted":
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("evkit.store.compact.ROW_GROUP_ROWS", 256)
            assert compact(root, include_today=True).days
        assert all(p.name.startswith("part-compacted-") for p in root.rglob("*.parquet"))
    return root


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_sessions_of_some_chargers_in_a_window_are_those_of_all_filtered_afterwards(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = _json(capsys, "sessions", str(dataset), "--format", "json")
    window = ("--from", "2026-03-02T07:00Z", "--to", "2026-03-02T12:00Z")
    narrow = _json(
        capsys, "sessions", str(dataset), "--format", "json", "--charger", B, "--charger", C, *window
    )
    assert isinstance(every, list) and isinstance(narrow, list)
    expected = [
        s
        for s in every
        if s["charger_id"] in {B, C} and "2026-03-02T07:00:00Z" <= s["started_at"] < "2026-03-02T12:00:00Z"
    ]
    assert narrow == expected and len(expected) >= 2


def test_latency_of_one_charger_is_its_row_of_the_breakdown(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by = _json(capsys, "latency", str(dataset), "--format", "json", "--by", "charger")
    one = _json(capsys, "latency", str(dataset), "--format", "json", "--charger", B)
    assert isinstance(by, dict) and isinstance(one, dict)
    for hop in ("device_to_cloud", "cloud_to_capture", "end_to_end"):
        (row,) = [r for r in by[hop] if r["charger_id"] == B]
        assert {k: v for k, v in row.items() if k != "charger_id"} == one[hop]


def test_latency_in_a_window_is_the_latency_of_the_rows_taken_in_it(
    dataset: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    got = _json(
        capsys,
        "latency",
        str(dataset),
        "--format",
        "json",
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
    )
    assert isinstance(got, dict)
    identity = ["charger_id", "observation_id", "observed_at", "value", "value_text"]
    clean = fleet.frame(fleet.clean).unique(subset=identity)
    inside = clean.filter(
        (pl.col("observed_at") >= start)
        & (pl.col("observed_at") < end)
        & ~pl.col("observation_id").is_in([122, 124])
    )
    values = (inside["arrival_time"] - inside["observed_at"]).dt.total_microseconds().to_numpy() / 1e6
    assert got["device_to_cloud"]["n"] == len(values) > 0
    assert got["device_to_cloud"]["p95_s"] == pytest.approx(np.percentile(values, 95), abs=1e-4)


def test_report_of_one_charger_names_only_it(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(dataset), "--out", str(out), "--no-progress", "--charger", B]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    assert B in text and C not in text


@pytest.mark.parametrize("command", ["sessions", "latency", "statement", "report"])
def test_a_reversed_window_is_refused(
    dataset: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "r.html"), "--no-progress"] if command == "report" else []
    window = ["--from", "2026-03-02T10:00Z", "--to", "2026-03-02T09:00Z"]
    assert main([command, str(dataset), *window, *out]) == 2
    captured = capsys.readouterr()
    assert "--to '2026-03-02T09:00Z' must be after --from '2026-03-02T10:00Z'" in captured.err
    assert captured.out == "" and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("command", ["sessions", "latency", "statement", "report"])
@pytest.mark.parametrize(
    ("window", "said"),
    [
        (
            ["--to", "9999-12-31T23:00-05:00"],
            "--to '9999-12-31T23:00-05:00' falls outside the years 1 to 9999",
        ),
        (["--from", "0001-01-01T00:00+01:00"], "--from '0001-01-01T00:00+01:00' falls outside the years 1"),
        (["--from", ""], "--from '' is not a date or time"),  # a script's empty variable: not "no bound"
        (["--to", " "], "--to ' ' is not a date or time"),
    ],
)
def test_a_time_beyond_the_calendar_or_empty_is_refused(
    *,
    dataset: Path,
    tmp_path: Path,
    command: str,
    window: list[str],
    said: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = ["--out", str(tmp_path / "r.html"), "--no-progress"] if command == "report" else []
    assert main([command, str(dataset), *window, *out]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (tmp_path / "r.html").exists()


#: B's id mistyped: lower case, and one digit dropped.
TYPOS = [B.lower(), B[:-2] + B[-1]]


@pytest.mark.parametrize("command", ["sessions", "latency", "statement"])
@pytest.mark.parametrize("typo", TYPOS)
def test_a_charger_without_rows_is_named_with_the_id_meant(
    dataset: Path, command: str, typo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --charger gives the same output as leaving it out, and a sentence on stderr naming
    it and the id the data holds that is most like it; a charger with rows is not named."""
    fmt = ["--format", "json"]
    assert main([command, str(dataset), *fmt, "--charger", B]) == 0
    alone = capsys.readouterr()
    assert "no rows" not in alone.err
    assert main([command, str(dataset), *fmt, "--charger", B, "--charger", typo]) == 0
    both = capsys.readouterr()
    assert both.out == alone.out
    assert f"evkit: charger {typo!r} has no rows in {dataset}: did you mean {B!r}" in both.err
    assert f"{B!r} has no rows" not in both.err


def test_a_charger_with_rows_only_outside_the_window_is_said_so(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["latency", str(dataset), "--charger", B, "--from", "2026-03-03"]) == 0
    err = capsys.readouterr().err
    assert f"charger {B!r} has no rows in {dataset} observed from 2026-03-03T00:00:00Z on" in err
    assert "only outside that window" in err


def test_a_report_of_chargers_without_rows_is_refused_naming_them(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(dataset), "--out", str(out), "--no-progress", "--charger", TYPOS[1]]) == 2
    err = capsys.readouterr().err
    assert f"charger {TYPOS[1]!r} has no rows in {dataset}: did you mean {B!r}" in err
    assert err.rstrip().endswith("nothing to report") and not out.exists()
    # with a charger that has rows, the page is written and the missing one named
    caplog.set_level(logging.WARNING, logger="evkit")
    argv = ["report", str(dataset), "--out", str(out), "--no-progress", "--charger", B, "--charger", TYPOS[1]]
    assert main(argv) == 0
    warned = [r.getMessage() for r in caplog.records if "no rows" in r.getMessage()]
    meant = f"did you mean {B!r}? (the report covers the other chargers)"
    assert warned == [f"charger {TYPOS[1]!r} has no rows in {dataset}: {meant}"]
    assert B in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["sessions", "latency", "statement"])
def test_ids_listed_after_charger_are_the_ids_of_a_repeated_charger(
    dataset: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``DIR --charger A B`` (the issue's ``--charger ID...``) is ``--charger A --charger B``, also
    before another option and written ``--charger=A B``."""
    fmt = ["--format", "json"]
    repeated = _json(capsys, command, str(dataset), *fmt, "--charger", B, "--charger", C)
    assert _json(capsys, command, str(dataset), *fmt, "--charger", B, C) == repeated
    assert _json(capsys, command, str(dataset), "--charger", B, C, *fmt) == repeated
    assert _json(capsys, command, str(dataset), f"--charger={B}", C, *fmt) == repeated
    assert repeated != _json(capsys, command, str(dataset), *fmt, "--charger", B)


def test_a_report_of_ids_listed_after_charger_shows_them_all(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(dataset), "--out", str(out), "--no-progress", "--charger", B, C]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    assert B in text and C in text


@pytest.mark.parametrize("command", ["sessions", "report"])
def test_ids_listed_before_dir_are_refused_saying_which_was_taken_for_dir(
    dataset: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--charger A B DIR``: argparse took B for DIR. Not guessed at: exit 2, saying so and how to
    write it; nothing is read."""
    with pytest.raises(SystemExit) as exited:
        main([command, "--charger", B, C, str(dataset)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {dataset} ({C} was taken for DIR: --charger takes one id" in err
    assert "DIR --charger A B" in err


def test_a_stray_word_is_refused_as_before(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sessions", str(dataset), "stray", "--charger", B])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("evkit: error: unrecognized arguments: stray")
