"""The report renders in a real browser with the network cut off (Debian's Chromium via Playwright)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Route, sync_playwright

from evkit.report import build_report
from evkit.store.writer import PartWriter
from tests.figures.frames import scenario

CHROMIUM = (
    "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").exists() else "/usr/bin/chromium"
)


def test_report_renders_every_figure_offline(tmp_path: Path) -> None:
    PartWriter(tmp_path / "ds").write(scenario())
    out = build_report(tmp_path / "ds", tmp_path / "report.html", progress=False)
    outside: list[str] = []

    def block(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            env={"HOME": str(tmp_path)},
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("http*://**", block)
            page.goto(out.resolve().as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 7")
            plots = page.locator(".js-plotly-plot").count()
            bars = page.locator("#fig-session-timeline .barlayer .point").count()
        finally:
            browser.close()
    assert plots == 7
    assert bars == 2  # one bar per session
    assert errors == []
    assert outside == []  # nothing was fetched from the network
