"""The report of a hostile dataset: device strings are text in tables and figures, long ids are cut."""

from __future__ import annotations

import html

import pytest
from plotly.offline import get_plotlyjs

from evkit.report import build_report
from evkit.store.writer import PartWriter
from tests.figures.hostile import BOLD, LINK, LONG_PIECE, SPAN, TOKENS, hostile


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("hostile")
    PartWriter(root / "dataset").write(hostile())
    out = build_report(root / "dataset", root / "report.html", progress=False)
    return out.read_text(encoding="utf-8").replace(get_plotlyjs(), "")


def test_no_markup_from_the_data_is_in_the_page(page: str) -> None:
    for raw in (LINK, BOLD, SPAN):
        assert raw not in page  # not as HTML
        # nor inside the figures' JSON, where plotly writes "<" as \u003c and "/" as \u002f
        assert raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f") not in page
    assert "\\u003ca href" not in page and "\\u003cspan" not in page


def test_tables_show_the_strings_as_text(page: str) -> None:
    assert html.escape(LINK) in page  # charger cells and the last disconnect reason
    assert html.escape(BOLD) in page
    for token in TOKENS[:4]:
        assert f">{html.escape(token)}</td>" in page  # a whole cell of text


def test_long_ids_are_cut_and_stay_distinct(page: str) -> None:
    assert LONG_PIECE not in page
    assert "… #1</td>" in page and "… #2</td>" in page
