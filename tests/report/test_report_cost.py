"""The report's cost section: present with a tariff, its figures in the zone asked for and labelled."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from evkit.analysis.cost import session_costs
from evkit.analysis.sessions import sessions
from evkit.analysis.tariff import flat_tariff, tariff_from_text
from evkit.cli import main
from evkit.figures.cost import cost_per_day, price_and_energy
from evkit.report import build_report
from evkit.store.writer import PartWriter
from tests.analysis import scenario as sc

# 11 kW from 22:31 to 23:31 UTC on 31 Oct: plugged in at 23:30 in Oslo (CET), the evening of the 31st
START = datetime(2026, 10, 31, 22, tzinfo=UTC)
PLAN = [(0, 1, 0.0), (30, 2, 0.0), (31, 3, 11.0), (91, 1, 0.0)]
TARIFF = "from,price\n2026-10-31T00:00Z,0.20\n2026-10-31T23:00Z,0.40\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reportcost")
    rows = sc.Charger("EHREP01", PLAN, 150, start=START, token="04AABBCC").run().rows
    PartWriter(root / "data").write(sc.frame(rows))
    (root / "tariff.csv").write_text(TARIFF, encoding="utf-8")
    return root


def _text(html_page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_page))


def test_the_cost_section_prices_the_sessions(store: Path, tmp_path: Path) -> None:
    tariff = tariff_from_text(TARIFF, currency="EUR")
    out = build_report(store / "data", tmp_path / "r.html", progress=False, tariff=tariff, tz="Europe/Oslo")
    page = out.read_text(encoding="utf-8")
    assert 'id="cost"' in page
    assert "fig-cost-per-day" in page
    assert "fig-price-energy" in page
    text = _text(page)
    cost = 29 * 11 / 60 * 0.20 + 31 * 11 / 60 * 0.40  # 22:31-23:00 at 0.20, 23:00-23:31 at 0.40
    assert f"{cost:,.2f} EUR cost" in text
    assert "plugged in (Europe/Oslo)" in text
    assert "2026-10-31 23:30:00" in text  # the session table in local time
    assert "04AABBCC" in text  # top cards


def test_no_cost_section_without_a_tariff(store: Path, tmp_path: Path) -> None:
    page = build_report(store / "data", tmp_path / "r.html", progress=False, tz="UTC").read_text(
        encoding="utf-8"
    )
    assert 'id="cost"' not in page
    assert "plugged in (UTC)" in _text(page)


def test_a_bad_tariff_exits_2_and_writes_no_report(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("from,price\n2026-10-31T00:00Z,0,20\n", encoding="utf-8")
    out = tmp_path / "r.html"
    code = main(["report", str(store / "data"), "--out", str(out), "--tariff", str(bad), "--no-progress"])
    assert code == 2
    assert "comma decimal" in capsys.readouterr().err
    assert not out.exists()


def test_cost_per_day_uses_local_days_and_says_so(store: Path) -> None:
    lf = pl.scan_parquet(str(store / "data" / "**" / "*.parquet"))
    priced = session_costs(sessions(lf).collect(), flat_tariff(0.5), lf).collect()
    oslo = cost_per_day(priced, zone="Europe/Oslo", currency="EUR")
    assert [str(x) for x in oslo.data[0].x] == ["2026-10-31"]
    assert oslo.layout.xaxis.title.text == "day (Europe/Oslo)"
    assert oslo.layout.yaxis.title.text == "cost (EUR)"
    tokyo = cost_per_day(priced, zone="Asia/Tokyo")  # 07:30 on 1 Nov in Tokyo
    assert [str(x) for x in tokyo.data[0].x] == ["2026-11-01"]


def test_price_curve_is_drawn_in_the_zone(store: Path) -> None:
    from evkit.analysis.energy import energy_per_hour

    lf = pl.scan_parquet(str(store / "data" / "**" / "*.parquet"))
    fig = price_and_energy(energy_per_hour(lf).collect(), tariff_from_text(TARIFF).frame, zone="Europe/Oslo")
    price = fig.data[0]
    # the price steps up at 23:00 UTC = 00:00 on 1 Nov in Oslo
    steps = [(str(x), y) for x, y in zip(price.x, price.y, strict=True) if x is not None]
    assert ("2026-11-01 00:00:00", 0.4) in steps
    assert fig.layout.xaxis2.title.text == "time (Europe/Oslo)"


def test_hostile_ids_and_tokens_are_inert_in_the_cost_figures_and_section(tmp_path: Path) -> None:
    from tests.figures.hostile import LONG_PIECE, MARKUP, hostile, strings

    lf = hostile().lazy()
    priced = session_costs(sessions(lf).collect(), flat_tariff(0.3, "EUR"), lf).collect()
    assert priced["cost"].drop_nulls().len() > 0
    fig = cost_per_day(priced, zone="Europe/Oslo", currency="EUR")
    found = strings(fig.to_plotly_json())
    assert [(path, text[:80]) for path, text in found for bad in MARKUP if bad in text] == []
    assert [path for path, text in found if "EH%{" in text] == []
    assert [path for path, text in found if LONG_PIECE in text] == []
    page = build_report(lf, tmp_path / "h.html", progress=False, tariff=flat_tariff(0.3, "EUR")).read_text(
        encoding="utf-8"
    )
    section = page[page.index('id="cost"') :]
    assert '<a href="https://evil.example' not in section
    assert LONG_PIECE not in section
