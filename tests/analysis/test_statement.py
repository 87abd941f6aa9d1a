"""``evkit statement``: per card and charger, local month boundaries, DST days, every format; by hand.

Every session below charges at a constant power for a whole number of minutes (scenario.py), so its
energy is power x time; the tariff is flat 0.50 per kWh unless said otherwise.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis.statement import parse_by, statement
from evkit.cli import main
from evkit.errors import ConfigError
from evkit.store.writer import PartWriter
from tests.analysis import scenario as sc

CARD, FORMULA = "04AABBCC", "=1+2"


def _charger(
    cid: str, start: datetime, plan: list[tuple[int, int, float]], token: str | None
) -> list[sc.Row]:
    return sc.Charger(cid, plan, 200, start=start, token=token).run().rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        # X: plugged in 22:30 UTC on 31 Oct = 23:30 in Oslo (October), 11 kW for 60 min -> 11 kWh;
        # again at 23:40 UTC = 00:40 on 1 Nov in Oslo (November, but October in UTC), 7.4 kW for 60 min
        *_charger(
            "EHX",
            datetime(2026, 10, 31, 22, 0, tzinfo=UTC),
            [
                (0, 1, 0.0),
                (30, 2, 0.0),
                (31, 3, 11.0),
                (91, 1, 0.0),
                (100, 2, 0.0),
                (101, 3, 7.4),
                (161, 1, 0.0),
            ],
            CARD,
        ),
        # Y: no card, 15 Nov, 22 kW for 30 min -> 11 kWh
        *_charger(
            "EHY",
            datetime(2026, 11, 15, 10, tzinfo=UTC),
            [(0, 1, 0.0), (10, 2, 0.0), (11, 3, 22.0), (41, 1, 0.0)],
            None,
        ),
        # Z: a card whose token reads like a spreadsheet formula, 20 Nov, 11 kW for 60 min
        *_charger(
            "EHZ",
            datetime(2026, 11, 20, 10, tzinfo=UTC),
            [(0, 1, 0.0), (10, 2, 0.0), (11, 3, 11.0), (71, 1, 0.0)],
            FORMULA,
        ),
    ]
    root = tmp_path_factory.mktemp("statement") / "data"
    PartWriter(root).write(sc.frame(rows))
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> dict[str, object]:
    code, out, err = _run(capsys, "statement", str(store), "--tariff", "0.50", "--format", "json", *argv)
    assert code == 0, err
    payload: dict[str, object] = json.loads(out)
    return payload


NOVEMBER = ("--from", "2026-11-01", "--to", "2026-12-01")


def test_november_in_oslo_per_card(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _json(capsys, store, *NOVEMBER, "--tz", "Europe/Oslo", "--currency", "EUR")
    assert payload["from"] == "2026-11-01T00:00:00+01:00"
    assert payload["currency"] == "EUR"
    rows = payload["rows"]
    assert isinstance(rows, list)
    by_token = {r["token"]: r for r in rows}
    assert set(by_token) == {CARD, FORMULA, None}  # None: the sessions without a card
    assert by_token[CARD]["sessions"] == 1
    assert by_token[CARD]["energy_kwh"] == pytest.approx(7.4, abs=1e-3)
    assert by_token[CARD]["cost"] == pytest.approx(3.7, abs=1e-3)
    assert by_token[CARD]["first_session"] == "2026-11-01T00:40:00+01:00"
    assert by_token[None]["sessions"] == 1
    assert by_token[None]["energy_kwh"] == pytest.approx(11.0, abs=1e-3)
    assert by_token[FORMULA]["cost"] == pytest.approx(5.5, abs=1e-3)
    total = payload["total"]
    assert isinstance(total, dict)
    assert total["sessions"] == 3
    assert total["energy_kwh"] == pytest.approx(29.4, abs=1e-3)
    assert total["cost"] == pytest.approx(14.7, abs=1e-3)
    for row in rows:
        assert {"token", "sessions", "energy_kwh", "cost"} <= set(row)


def test_a_session_belongs_to_the_month_it_starts_in_local_time(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    october = _json(capsys, store, "--from", "2026-10-01", "--to", "2026-11-01", "--tz", "Europe/Oslo")
    total = october["total"]
    assert isinstance(total, dict)
    assert total["sessions"] == 1  # plugged in 23:30 on 31 Oct, still charging after midnight: October's
    assert total["energy_kwh"] == pytest.approx(11.0, abs=1e-3)
    utc = _json(capsys, store, *NOVEMBER, "--tz", "UTC")
    total = utc["total"]
    assert isinstance(total, dict)
    assert total["sessions"] == 2  # in UTC, the 23:40 plug-in of 31 Oct is October's


def test_by_charger_and_both(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _json(capsys, store, *NOVEMBER, "--tz", "Europe/Oslo", "--by", "charger")["rows"]
    assert isinstance(rows, list)
    assert [(r["charger_id"], r["sessions"]) for r in rows] == [("EHX", 1), ("EHY", 1), ("EHZ", 1)]
    assert "token" not in rows[0]
    rows = _json(capsys, store, *NOVEMBER, "--by", "token,charger")["rows"]
    assert isinstance(rows, list)
    assert {(r["token"], r["charger_id"]) for r in rows} == {(FORMULA, "EHZ"), (None, "EHY")}


def test_csv_names_no_card_adds_a_total_and_neutralises_formulas(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "statement",
        str(store),
        "--tariff",
        "0.5",
        *NOVEMBER,
        "--tz",
        "Europe/Oslo",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["token"] for r in rows] == [CARD, "'" + FORMULA, "(no card)", "total"]
    assert float(rows[-1]["cost"]) == pytest.approx(14.7, abs=1e-3)
    assert rows[0]["first_session"] == "2026-11-01T00:40:00+01:00"


def test_xlsx_holds_the_rows_local_times_and_no_formula(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "november.xlsx"
    code, _, _ = _run(
        capsys,
        "statement",
        str(store),
        "--tariff",
        "0.5",
        "--currency",
        "EUR",
        *NOVEMBER,
        "--tz",
        "Europe/Oslo",
        "--format",
        "xlsx",
        "--out",
        str(out),
    )
    assert code == 0
    sheet = openpyxl.load_workbook(out)["statement"]
    cells = [row for row in sheet.iter_rows(values_only=True) if any(v is not None for v in row)]
    header_at = next(i for i, row in enumerate(cells) if row[0] == "token")
    header, body = cells[header_at], cells[header_at + 1 :]
    assert "cost (EUR)" in header
    assert "first session (Europe/Oslo)" in header
    assert [r[0] for r in body] == [CARD, "'" + FORMULA, "(no card)", "total"]
    first = body[0][header.index("first session (Europe/Oslo)")]
    assert first == datetime(2026, 11, 1, 0, 40)
    assert body[-1][header.index("cost (EUR)")] == pytest.approx(14.7, abs=1e-3)


def test_table_and_parquet(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "statement", str(store), "--tariff", "0.5", *NOVEMBER, "--tz", "Europe/Oslo")
    assert code == 0
    assert "times in Europe/Oslo" in out
    assert "(no card)" in out
    assert "total" in out
    target = tmp_path / "s.parquet"
    assert (
        _run(capsys, "statement", str(store), "--tariff", "0.5", "--format", "parquet", "--out", str(target))[
            0
        ]
        == 0
    )
    assert pl.read_parquet(target)["sessions"].sum() == 4


def test_local_day_of_the_dst_change_has_25_hours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Oslo leaves summer time on 25 Oct 2026 at 03:00 CEST: that local day is 22:00 UTC on the 24th to
    # 23:00 UTC on the 25th. Plug-ins at 22:30 UTC on the 24th (00:30 local, the 25th), 00:30 UTC (02:30
    # CEST), 22:30 UTC on the 25th (23:30 CET, the 25th) and 23:30 UTC (00:30 on the 26th).
    plan = [(0, 1, 0.0), (30, 2, 0.0), (31, 3, 6.0), (41, 1, 0.0)]  # 1 kWh each
    starts = [
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    ]
    rows = [r for i, t in enumerate(starts) for r in _charger(f"EHW{i}", t, plan, None)]
    root = tmp_path / "dst"
    PartWriter(root).write(sc.frame(rows))
    day = ("--from", "2026-10-25", "--to", "2026-10-26")
    oslo = _json(capsys, root, *day, "--tz", "Europe/Oslo", "--by", "charger")
    assert [r["charger_id"] for r in oslo["rows"]] == ["EHW0", "EHW1", "EHW2"]  # type: ignore[index]
    utc = _json(capsys, root, *day, "--tz", "UTC", "--by", "charger")
    assert [r["charger_id"] for r in utc["rows"]] == ["EHW1", "EHW2", "EHW3"]  # type: ignore[index]


def test_sessions_without_a_price_are_counted_not_priced(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tariff = tmp_path / "t.csv"
    tariff.write_text("from,price\n2026-11-18T00:00Z,0.30\n", encoding="utf-8")  # prices from 18 Nov only
    code, out, err = _run(
        capsys,
        "statement",
        str(store),
        "--tariff",
        str(tariff),
        *NOVEMBER,
        "--format",
        "json",
        "--tz",
        "Europe/Oslo",
    )
    assert code == 0
    total = json.loads(out)["total"]
    assert total["sessions_without_cost"] == 2
    assert total["cost"] == pytest.approx(11 * 0.30, abs=1e-3)  # only Z's session has a price
    assert "2 session(s) have no cost" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--by", "card"], "use token, charger or token,charger"),
        (
            ["--from", "2026-12-01", "--to", "2026-11-01"],
            "--to '2026-11-01' must be after --from '2026-12-01'",
        ),
        (["--from", "1 Nov"], "is not a date or time"),
        (["--tariff", "0,5"], "dot decimal"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "x.csv"
    code, _, err = _run(capsys, "statement", str(store), "--out", str(out), *argv)
    assert code == 2
    assert message in err
    assert not out.exists()


def test_binary_formats_need_out(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "statement", str(store), "--format", "xlsx")
    assert code == 2
    assert "needs --out FILE" in err
    assert out == ""


def test_statement_function_assigns_by_start_and_groups_nulls_last() -> None:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "charger_id": ["a", "a", "b"],
            "rfid_token": [None, "K", "K"],
            "started_at": [t, t.replace(day=2), t.replace(month=10, day=31)],
            "energy_kwh": [1.0, 2.0, 4.0],
        }
    )
    rows, total = statement(frame, ["token"], start=t)
    assert rows["token"].to_list() == ["K", None]
    assert rows["energy_kwh"].to_list() == [2.0, 1.0]
    assert total["sessions"].to_list() == [2]
    assert parse_by("charger,token") == ["charger", "token"]
    with pytest.raises(ConfigError):
        parse_by("token,token")


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=365 * 24 * 60), min_size=1, max_size=40),
    zone=st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]),
    tokens=st.lists(st.sampled_from(["A", "B", None]), min_size=40, max_size=40),
)
def test_consecutive_local_months_count_every_session_once(
    offsets: list[int], zone: str, tokens: list[str | None]
) -> None:
    from evkit.timeutil import parse_local

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "charger_id": ["c"] * len(offsets),
            "rfid_token": tokens[: len(offsets)],
            "started_at": [t0 + timedelta(minutes=m) for m in offsets],
            "energy_kwh": [1.0] * len(offsets),
        },
        schema_overrides={"started_at": pl.Datetime("us", "UTC")},
    )
    bounds = [
        parse_local(f"{y}-{m:02d}-01", zone)
        for y, m in [(2025, 12), *[(2026, i) for i in range(1, 13)], (2027, 1), (2027, 2)]
    ]
    counted = 0
    for start, end in itertools.pairwise(bounds):
        rows, total = statement(frame, ["token"], start, end)
        assert rows["sessions"].sum() == total["sessions"][0]
        counted += total["sessions"][0]
    assert counted == len(offsets)


@settings(max_examples=60, deadline=None)
@given(
    energies=st.lists(st.floats(min_value=0, max_value=80, allow_nan=False), min_size=1, max_size=60),
    prices=st.lists(st.sampled_from([0.1, 0.2345, 0.31415, 1 / 3]), min_size=60, max_size=60),
    seed=st.integers(0, 2**16),
)
def test_a_statement_adds_to_the_same_bits_in_any_order(
    energies: list[float], prices: list[float], seed: int
) -> None:
    """Totals of costs and energy do not depend on the order the sessions come in (float addition is
    not associative: a total such as 8.46995 could print 8.4699 in one run and 8.47 in the next)."""
    t = datetime(2026, 11, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "charger_id": [f"EH{i % 3}" for i in range(len(energies))],
            "rfid_token": [("A", "B", None)[i % 3] for i in range(len(energies))],
            "started_at": [t + timedelta(hours=i) for i in range(len(energies))],
            "energy_kwh": energies,
            "cost": [e * p for e, p in zip(energies, prices, strict=False)],
            "cost_error_bound": [e * p / 7 for e, p in zip(energies, prices, strict=False)],
            "co2_g": [e * 123.4 for e in energies],
        }
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    for by in (["token"], ["charger"], ["token", "charger"]):
        want, want_total = statement(frame, by)
        got, got_total = statement(shuffled, by)
        assert got.equals(want) and got_total.equals(want_total)
