"""The report of a hostile dataset in headless Chromium: device strings are shown, never obeyed.

Charger ids that are a link (``<a href=…>verify your account</a>``), bold and styled markup, a hover
template, and a 100 kB id: the page must hold no link to the outside site and no styled element from
the data; axis labels, hovers and table cells must read the literal text. A screenshot of the page goes
to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from evkit.display import LABEL_LIMIT
from evkit.report import build_report
from evkit.store.writer import PartWriter
from tests.browser.lab import chromium, screenshot
from tests.figures.hostile import BOLD, EVIL_HREF, LINK, LONG, SPAN, TEMPLATE, TOKENS, hostile

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Every element (HTML or SVG) that links somewhere or carries a style from the data.
_LINKS = """() => [...document.querySelectorAll('a')].map(a =>
    a.getAttribute('href') || a.getAttribute('xlink:href') || '')"""
_STYLED = """() => [...document.querySelectorAll('[style]')].filter(e =>
    (e.getAttribute('style') || '').includes('99px')).length"""
#: How the numbers of the sessions table wrap (a number is never broken across lines).
_NUMBER_WRAPPING = """() => [...document.querySelectorAll('#sessions td.num')].map(td =>
    getComputedStyle(td).whiteSpace)"""
#: (curve, point) of the timeline bar whose category reads ``label`` once entities are decoded.
_BAR = """([id, label]) => {
    const gd = document.getElementById(id);
    const decode = (s) => { const t = document.createElement('textarea'); t.innerHTML = s; return t.value; };
    for (const [curve, trace] of gd._fullData.entries()) {
        const point = Array.from(trace.y).findIndex((y) => decode(y) === label);
        if (point >= 0) return [curve, point];
    }
    return null;
}"""


def _hover_text(page: Page, figure: str, label: str) -> str:
    """Move the mouse onto the bar of ``label`` and return the hover box's text as the user reads it."""
    found = page.evaluate(_BAR, [figure, label])
    assert found is not None, label
    curve, point = found
    bar = page.locator(f"#{figure} .barlayer .trace").nth(curve).locator(".point").nth(point)
    page.mouse.move(0, 0)
    bar.hover(force=True)
    hover = page.locator(f"#{figure} .hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    return hover.text_content() or ""


def test_hostile_report_shows_device_strings_as_text(tmp_path: Path) -> None:
    PartWriter(tmp_path / "ds").write(hostile())
    out = build_report(tmp_path / "ds", tmp_path / "report.html", progress=False)
    outside: list[str] = []

    def block(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    with chromium(tmp_path) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("http*://**", block)
        page.goto(out.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 7")

        links = page.evaluate(_LINKS)
        assert [href for href in links if "evil" in href] == []  # no live link to the outside site
        assert all(href.startswith("#") for href in links)  # only the page's own navigation
        assert page.evaluate(_STYLED) == 0  # no style from the data
        ticks = page.locator("#fig-session-timeline .yaxislayer-above .ytick text").all_text_contents()
        legend = page.locator("#fig-energy-per-day .legendtext").all_text_contents()
        cells = page.locator("#sessions table td").all_text_contents()
        number_wrapping = page.evaluate(_NUMBER_WRAPPING)
        link_hover = _hover_text(page, "fig-session-timeline", LINK[: LABEL_LIMIT - 1] + "…")
        template_hover = _hover_text(page, "fig-session-timeline", TEMPLATE)
        page.mouse.move(0, 0)
        shot = screenshot(page, "hostile-report.png")
        page.locator("#sessions").screenshot(path=str(shot.with_name("hostile-report-sessions.png")))

    # axis labels and legends read the literal text, cut to LABEL_LIMIT
    assert {LINK[: LABEL_LIMIT - 1] + "…", BOLD, SPAN[: LABEL_LIMIT - 1] + "…", TEMPLATE} <= set(ticks)
    assert max(len(t) for t in ticks) <= LABEL_LIMIT
    assert sum(t.startswith(LONG[:20]) for t in ticks) == 2  # the two long ids: two rows, both cut
    assert LINK[: LABEL_LIMIT - 1] + "…" in legend
    assert LINK in cells and BOLD in cells and TOKENS[0] in cells  # table cells: up to DISPLAY_LIMIT
    assert LINK in link_hover and TOKENS[0] in link_hover
    assert TEMPLATE in template_hover and "@SUM(A1)" in template_hover
    assert number_wrapping and set(number_wrapping) == {"nowrap"}
    assert errors == []
    assert outside == [] and EVIL_HREF not in outside
