"""``evkit.explore(store)``: the explorer as one widget app (thin: the logic is :mod:`.controller`).

Top: charger search and picker ("All chargers" or several), the days, the time zone, Refresh. Below,
linked views of the selection: the sessions table (sortable, searchable; ``itables``) whose selected
row draws that session's power curve with phases and op-mode bands; energy per day per charger; the
latency ECDF per hop; the data-quality summary (``great_tables``). Mistakes, and a damaged part of the
store a click reads, are answered in words in the message line, never with a traceback. Stable CSS
classes for tests: ``evkit-explorer``, ``evkit-explore-chargers``, ``evkit-explore-sessions``,
``evkit-explore-curve``, ``evkit-explore-message``.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import ipywidgets as widgets
import plotly.graph_objects as go

from evkit.errors import EvkitError
from evkit.explore.controller import ExploreController, Selection
from evkit.explore.tables import (
    cut_for_display,
    figure_output,
    great_table_html,
    system_zone,
    text_output,
    zone_label,
)

#: Up to this many chargers the explorer opens on all of them; a larger fleet opens on its first one.
ALL_AT_START = 20
#: The explorer opens on the last this many days of the data (the pickers widen it).
DAYS_AT_START = 7

#: The sessions table lists at most this many sessions, the latest (the table is sent to the browser
#: whole, so a fleet's month of sessions would take seconds per click).
TABLE_ROWS = 2000

#: The quality tab lists at most this many chargers, those with most issues first (a static table of a
#: whole fleet takes seconds to draw).
QUALITY_ROWS = 40

#: Zones offered first in the picker; every IANA zone follows.
COMMON_ZONES = ("UTC", "Europe/Oslo", "Europe/Stockholm", "Europe/Berlin", "Europe/London")


def _zones(current: str) -> list[str]:
    first = [current, *[z for z in COMMON_ZONES if z != current]]
    return first + sorted(z for z in available_timezones() if z not in first and "/" in z)


class ExploreApp(widgets.VBox):  # type: ignore[misc]
    """The widget app around an :class:`ExploreController` (see the module docs)."""

    def __init__(self, controller: ExploreController) -> None:
        self.controller = controller
        self.selection: Selection = controller.select()
        self._quiet = 0  # > 0 while the app sets its own pickers: their events redraw nothing
        self.session_ids: list[str] = []
        self.shown_session: str | None = None
        #: The figures last drawn, by view ("curve", "energy", "latency"): what the user sees.
        self.figures: dict[str, go.Figure] = {}
        c = controller
        self.search = widgets.Text(
            placeholder="search chargers", description="Find", layout={"width": "220px"}
        )
        self.search.style.description_width = "40px"
        self.all_chargers = widgets.Checkbox(value=True, description="All chargers", indent=False)
        self.picker = widgets.SelectMultiple(
            options=c.chargers,
            rows=min(6, max(2, len(c.chargers))),
            description="Chargers",
            layout={"width": "300px"},
        )
        self.picker.add_class("evkit-explore-chargers")
        first = c.first_day
        if first is not None and c.last_day is not None:
            first = max(first, c.last_day - timedelta(days=DAYS_AT_START - 1))
        self.start = widgets.DatePicker(value=first, description="From", layout={"width": "230px"})
        self.end = widgets.DatePicker(value=c.last_day, description="To", layout={"width": "230px"})
        self.zone = widgets.Dropdown(
            options=_zones(c.zone), value=c.zone, description="Time zone", layout={"width": "300px"}
        )
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", tooltip="re-read the store (a recording adds data)"
        )
        self.message = widgets.HTML()
        self.message.add_class("evkit-explore-message")
        self.table = self._make_table()
        self.curve = widgets.Output(layout={"min_height": "120px"})
        self.curve.add_class("evkit-explore-curve")
        self.energy = widgets.Output()
        self.latency = widgets.Output()
        self.quality = widgets.HTML()
        self.quality.add_class("evkit-explore-quality")
        sessions_view = widgets.VBox(
            [widgets.HTML("<b>Sessions</b> — select a row to draw its power curve"), self.table, self.curve]
        )
        self.tabs = widgets.Tab(children=[sessions_view, self.energy, self.latency, self.quality])
        for index, name in enumerate(("Sessions", "Energy per day", "Latency", "Data quality")):
            self.tabs.set_title(index, name)
        controls = widgets.HBox(
            [
                widgets.VBox([self.search, self.all_chargers]),
                self.picker,
                widgets.VBox([self.start, self.end]),
                widgets.VBox([self.zone, self.refresh_button]),
            ],
            layout={"flex_flow": "row wrap", "grid_gap": "8px"},
        )
        title = widgets.HTML(f"<h3 style='margin:0'>evkit explorer — {html.escape(str(c.store))}</h3>")
        super().__init__([title, controls, self.message, self.tabs])
        self.add_class("evkit-explorer")
        self.search.observe(self._on_search, names="value")
        self.picker.observe(self._on_picker, names="value")
        for control in (self.all_chargers, self.start, self.end, self.zone):
            control.observe(self._on_change, names="value")
        self.refresh_button.on_click(self._on_refresh)
        self._drawn: set[int] = set()
        self._status = ""  # what the message line says of the selection (update)
        self._read_failed = False  # it says instead that a click's read failed (_tried)
        self.tabs.observe(self._on_tab, names="selected_index")
        if len(c.chargers) > ALL_AT_START:  # a fleet: start on one charger
            with self._setting():
                self.picker.value = (c.chargers[0],)
                self.all_chargers.value = False
        import great_tables  # noqa: F401  (loaded now: the first Data-quality click would wait ~1 s for it)

        self.update()

    # ------------------------------------------------------------------ pieces

    def _make_table(self) -> widgets.Widget:
        from itables.widget import ITable

        table = ITable(
            select={"style": "single"},
            maxBytes=0,  # never drop rows to save bytes: a session not shown cannot be picked
            pageLength=10,
            show_dtypes=False,
            classes="display compact",  # cells wrap: every column stays on screen
            style="width:100%;margin:0",
        )
        table.add_class("evkit-explore-sessions")
        table.observe(self._on_row, names="selected_rows")
        return table

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#52606D"
        self.message.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"
        self._read_failed = False

    def _tried(self, draw: Callable[[], None]) -> bool:
        """``draw()``; an error evkit raises on purpose (a damaged part it read) goes to the message
        line instead of a traceback nobody sees (False). Once a later click reads what it needs, the
        line says the selection's status again, not the error of a read that now works."""
        try:
            draw()
        except EvkitError as exc:
            self._say(str(exc), error=True)
            self._read_failed = True
            return False
        if self._read_failed:
            self._say(self._status)
        return True

    def _draw(self, name: str, output: widgets.Output, fig: go.Figure) -> None:
        self.figures[name] = fig
        output.outputs = (figure_output(fig),)  # not `with output:`, which fails from other threads

    # ------------------------------------------------------------------ events

    @contextmanager
    def _setting(self) -> Iterator[None]:
        """Set several pickers as one change: their events wait and redraw nothing (the caller
        redraws once), so a click costs one redraw, not one per widget it touches."""
        self._quiet += 1
        try:
            with self.hold_trait_notifications():
                yield
        finally:
            self._quiet -= 1

    def _on_search(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        text = str(change["new"]).strip().lower()
        chosen = tuple(self.picker.value)
        options = [c for c in self.controller.chargers if text in c.lower() or c in chosen]
        with self._setting():
            self.picker.options = options
            self.picker.value = tuple(c for c in options if c in chosen)
        if tuple(self.picker.value) != chosen:
            self.update()

    def _on_picker(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if change["new"]:
            with self._setting():
                self.all_chargers.value = False
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        del change
        if not self._quiet:
            self.update()

    def _on_refresh(self, button: widgets.Button | None = None) -> None:
        del button
        try:
            changed = self.refresh()
        except EvkitError as exc:  # a damaged part the new listing brings: in words
            self._say(str(exc), error=True)
            return
        if not changed:
            self._say(f"nothing new in {self.controller.store}: its parts are as they were")

    def _on_row(self, change: dict[str, Any]) -> None:
        rows = change["new"]
        if self._quiet:
            return
        if rows and rows[0] < len(self.session_ids):
            self.show_session(self.session_ids[rows[0]])

    # ------------------------------------------------------------------ public

    def choose(
        self,
        chargers: str | list[str] | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
        zone: str | None = None,
    ) -> None:
        """Set the pickers as a user would (``None`` leaves one as it is; ``chargers="all"``: every one)."""
        with self._setting():
            if chargers is not None:
                wanted = self.controller.select(chargers).chargers
                self.search.value = ""
                self.picker.value = wanted
                self.all_chargers.value = not wanted
            if start is not None:
                self.start.value = self.controller.select(start=start).start
            if end is not None:
                self.end.value = self.controller.select(end=end).end
            if zone is not None:
                self.zone.value = zone
        self.update()

    def refresh(self) -> bool:
        """Re-read the store (new parts of a recording) and redraw; keeps the pickers' choices. False
        when its parts are as they were (nothing redrawn)."""
        c = self.controller
        if not c.refresh():
            return False
        chosen = [x for x in self.picker.value if x in c.chargers]
        with self._setting():
            self.picker.options = c.chargers
            self.picker.value = tuple(chosen)
            if c.last_day is not None and (self.end.value is None or self.end.value < c.last_day):
                self.end.value = c.last_day
            if self.start.value is None:
                self.start.value = c.first_day
        self.update()
        return True

    def update(self) -> None:
        """Redraw every view for the pickers' current values."""
        began = time.monotonic()
        chargers = None if self.all_chargers.value else list(self.picker.value)
        try:
            selection = self.controller.select(chargers, self.start.value, self.end.value, self.zone.value)
        except EvkitError as exc:
            self._say(str(exc), error=True)
            return
        self.selection = selection
        c = self.controller
        total = c.sessions(selection).height
        table = c.session_table(selection, limit=TABLE_ROWS)
        self.session_ids = table["session_id"].to_list()
        # update() re-derives the options from its own arguments: repeat the ones that matter.
        kept = [self.session_ids.index(self.shown_session)] if self.shown_session in self.session_ids else []
        self.table.update(
            cut_for_display(table.drop("session_id")), selected_rows=kept, show_dtypes=False, maxBytes=0
        )
        if not kept:
            self.shown_session = None
            self.figures.pop("curve", None)
            self.curve.outputs = (text_output("Select a session in the table to draw its power curve."),)
        # The other tabs are drawn when shown: a click computes only what is on screen.
        self._drawn = {0}
        drawn = self._tried(lambda: self._draw_tab(self.tabs.selected_index or 0))
        who = ", ".join(selection.chargers) if selection.chargers else f"all {len(c.chargers)} chargers"
        days = f"{selection.start or 'first day'} to {selection.end or 'last day'}"
        shown = (
            f" (the table lists the latest {table.height:,}; pick chargers or days)"
            if total > table.height
            else ""
        )
        skipped = c.skipped_note()
        self._status = (
            f"{who}; {days} ({selection.zone}, {zone_label(selection.zone)}): {total:,} "
            f"sessions{shown} · {time.monotonic() - began:.2f} s" + (f" · {skipped}" if skipped else "")
        )
        if drawn:  # else the line keeps the error until a click reads again
            self._say(self._status)

    def _draw_tab(self, index: int) -> None:
        if index in self._drawn:
            return
        c, selection = self.controller, self.selection
        if index == 1:
            self._draw("energy", self.energy, c.energy_figure(selection))
        elif index == 2:
            self._draw("latency", self.latency, c.latency_figure(selection))
        elif index == 3:
            table, chargers = c.quality_worst(selection, QUALITY_ROWS)
            title = "Data quality per charger"
            if chargers > table.height:
                title += f": the {table.height} of {chargers} with most issues (pick chargers to see others)"
            self.quality.value = great_table_html(table, title)
        self._drawn.add(index)  # drawn: not before, so a read that failed is tried again on a click

    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self._tried(lambda: self._draw_tab(int(change["new"])))

    def follow(self, every_s: float = 10.0) -> None:
        """Re-read the store every ``every_s`` seconds (a recording into it is running) until
        :meth:`stop_following`; the pickers keep their choices."""
        self.stop_following()
        stop = threading.Event()
        self._following = stop

        def loop() -> None:
            while not stop.wait(every_s):
                try:
                    self.refresh()
                except EvkitError as exc:
                    self._say(str(exc), error=True)

        threading.Thread(target=loop, name="evkit-explore-follow", daemon=True).start()

    def stop_following(self) -> None:
        """Stop :meth:`follow`."""
        following = getattr(self, "_following", None)
        if following is not None:
            following.set()

    def show_session(self, session_id: str) -> None:
        """Draw ``session_id``'s power curve (as selecting its row does)."""
        self.shown_session = session_id
        if session_id in self.session_ids:
            index = self.session_ids.index(session_id)
            if list(self.table.selected_rows) != [index]:
                with self._setting():  # the row follows; its event must not draw the curve twice
                    self.table.selected_rows = [index]
        self._tried(
            lambda: self._draw("curve", self.curve, self.controller.session_curve(self.selection, session_id))
        )


def explore(store: Path | str = "data", *, zone: str | None = None, skip_damaged: bool = False) -> ExploreApp:
    """The explorer on the dataset at ``store`` (see :mod:`evkit.explore`). The first look at a store
    reads it once (a fleet's month: about five seconds on two cores; a line under the cell says so
    meanwhile). A damaged part (a bad footer, a data page that cannot be read) is a ``DatasetError``
    naming it; ``skip_damaged=True`` opens the store without it, and the message line names it."""
    progress, done = _progress_line()
    try:
        controller = ExploreController(
            Path(store), zone=zone or system_zone(), progress=progress, skip_damaged=skip_damaged
        )
    finally:
        done()
    return ExploreApp(controller)


def _progress_line() -> tuple[Any, Any]:
    """(say, done): a line under the running cell that ``say(text)`` rewrites and ``done()`` clears;
    outside a notebook, ``say`` prints to stderr."""
    import sys

    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        return (lambda text: print(text, file=sys.stderr)), (lambda: None)
    line = widgets.HTML()
    line.add_class("evkit-explore-progress")
    display(line)  # type: ignore[no-untyped-call]

    def say(text: str) -> None:
        line.value = f"<i>{html.escape(text)}</i>"

    def done() -> None:
        line.value = ""
        line.layout.display = "none"

    return say, done


__all__ = ["ExploreApp", "explore"]
