"""The explorer's logic, without widgets: which chargers and days are selected, and what to show.

Every view reads only the selected chargers and days: the selection becomes one predicate that
:func:`evkit.store.reader.scan` hands to the Parquet scan (Polars pushes it down and skips row groups
whose statistics cannot match), so a click on a 5M-row fleet reads a few chargers' days, not the fleet.
Results are cached per selection; :meth:`ExploreController.refresh` re-lists the store (new parts of a
running recording) and drops the caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import plotly.graph_objects as go
import polars as pl

from evkit.errors import ValidationError
from evkit.explore.tables import quality_table, session_table, system_zone
from evkit.figures.style import charger_colours, no_data
from evkit.store.manifest import latency_caveat, read_manifest
from evkit.store.reader import scan

#: Selections whose rows stay in memory, and cached views in all (the most recently used are kept).
KEEP_ROWS = 3
KEEP_VIEWS = 24


@dataclass(frozen=True)
class Selection:
    """What the explorer shows: chargers (empty = all), the days ``start``..``end`` (inclusive, in
    ``zone``) and the zone times are shown in."""

    chargers: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    zone: str = "UTC"

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The selected days as a UTC interval [from, to) (``None``: open)."""
        tz = ZoneInfo(self.zone)
        lo = datetime.combine(self.start, time(), tz).astimezone(UTC) if self.start else None
        hi = datetime.combine(self.end + timedelta(days=1), time(), tz).astimezone(UTC) if self.end else None
        return lo, hi

    def predicate(self) -> pl.Expr | None:
        """The row filter for this selection (charger and device time), or ``None`` for everything."""
        parts: list[pl.Expr] = []
        if self.chargers:
            parts.append(pl.col("charger_id").is_in(list(self.chargers)))
        lo, hi = self.window()
        if lo is not None:
            parts.append(pl.col("observed_at") >= lo)
        if hi is not None:
            parts.append(pl.col("observed_at") < hi)
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined


def _known_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {zone!r}; use an IANA name such as 'UTC' or 'Europe/Oslo'"
        ) from None
    return zone


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class ExploreController:
    """The explorer's state and views for the dataset at ``store`` (see the module docs)."""

    store: Path
    zone: str = field(default_factory=system_zone)
    chargers: list[str] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None
    colours: dict[str, str] = field(default_factory=dict)
    _cache: dict[tuple[str, Selection], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.store = Path(self.store)
        _known_zone(self.zone)
        self.refresh()

    # ------------------------------------------------------------------ the store

    def refresh(self) -> None:
        """Re-list the store's chargers and days (a recording adds parts) and forget cached views."""
        # Redelivered copies do not change which chargers and days there are: no dedupe (a window over
        # every row, seconds on a fleet), only the two columns read.
        frame = scan(self.store, dedupe=False).select(
            pl.col("charger_id").drop_nulls().unique().sort().implode().alias("chargers"),
            pl.col("observed_at").min().alias("first"),
            pl.col("observed_at").max().alias("last"),
        )
        row = frame.collect().row(0, named=True)
        self.chargers = list(row["chargers"] or [])
        self.colours = charger_colours(self.chargers)
        tz = ZoneInfo(self.zone)
        self.first_day = row["first"].astimezone(tz).date() if row["first"] is not None else None
        self.last_day = row["last"].astimezone(tz).date() if row["last"] is not None else None
        self._cache.clear()

    def latency_caveat(self) -> str | None:
        """The manifest's reason not to trust latency, if any (:func:`latency_caveat`)."""
        return latency_caveat(read_manifest(self.store)) if self.store.is_dir() else None

    # ------------------------------------------------------------------ selection

    def select(
        self,
        chargers: str | list[str] | tuple[str, ...] | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
        zone: str | None = None,
    ) -> Selection:
        """A checked selection; mistakes raise ``ValidationError`` with a sentence saying what exists.

        ``chargers``: one id, several, or ``None``/``"all"``/empty for every charger. ``start``/``end``:
        days (``date`` or ``"YYYY-MM-DD"``) in ``zone``, inclusive; ``None`` = the data's first/last day.
        """
        zone = _known_zone(zone or self.zone)
        if chargers is None or chargers == "all":
            wanted: tuple[str, ...] = ()
        elif isinstance(chargers, str):
            wanted = (chargers,)
        else:
            wanted = tuple(dict.fromkeys(chargers))
        unknown = [c for c in wanted if c not in self.chargers]
        if unknown:
            raise ValidationError(
                f"no charger {', '.join(unknown)} in {self.store}; chargers are: {_listing(self.chargers)}"
            )
        first, last = _day(start, "start"), _day(end, "end")
        if first is not None and last is not None and last < first:
            raise ValidationError(f"the end day {last} is before the start day {first}; swap them")
        return Selection(tuple(sorted(wanted)), first, last, zone)

    def query(self, selection: Selection) -> pl.LazyFrame:
        """The selection as a lazy scan whose filter Polars runs inside the Parquet reader."""
        return scan(self.store, where=selection.predicate())

    def rows(self, selection: Selection) -> pl.LazyFrame:
        """The selected rows. Some chargers: read once (the filter runs in the Parquet scan) and kept in
        memory, since each view reads them several times. Every charger: lazily, read per view."""
        lazy = self.query(selection)
        if not selection.chargers:
            return lazy
        frame: pl.DataFrame = self._cached("rows", selection, lazy.collect)
        return frame.lazy()

    # ------------------------------------------------------------------ views

    def _cached(self, name: str, selection: Selection, compute: Any) -> Any:
        key = (name, selection)
        if key in self._cache:
            self._cache[key] = self._cache.pop(key)  # most recently used last
            return self._cache[key]
        value = compute()
        self._cache[key] = value
        # Bounded: the last few selections stay quick to return to; memory does not grow with clicks.
        for kind, limit in (("rows", KEEP_ROWS), (None, KEEP_VIEWS)):
            keys = [k for k in self._cache if kind is None or k[0] == kind]
            for old in keys[: max(len(keys) - limit, 0)]:
                del self._cache[old]
        return value

    def sessions(self, selection: Selection) -> pl.DataFrame:
        """``evkit.sessions`` of the selection (one row per session, UTC)."""
        from evkit.analysis import sessions

        return self._cached("sessions", selection, lambda: sessions(self.rows(selection)).collect())  # type: ignore[no-any-return]

    def session_table(self, selection: Selection) -> pl.DataFrame:
        """The sessions as people read them (``evkit.explore.tables.session_table``)."""
        return session_table(self.sessions(selection), selection.zone)

    def session_curve(self, selection: Selection, session_id: str) -> go.Figure:
        """The power curve of one session, with phase currents and op-mode bands."""
        from evkit.figures import session_power_curve
        from evkit.figures.localtime import in_zone

        found = self.sessions(selection).filter(pl.col("session_id") == session_id)
        if found.height == 0:
            return no_data("Power curve", f"no session {session_id} in the selection")
        row = found.row(0, named=True)
        charger = row["charger_id"]
        # The selection's rows when they are in memory; for "every charger", this charger's only.
        rows = (
            self.rows(selection)
            if selection.chargers
            else scan(self.store, where=pl.col("charger_id") == charger)
        )
        fig = session_power_curve(
            rows,
            charger,
            row["started_at"],
            row["ended_at"],
        )
        return in_zone(fig, selection.zone)

    def energy_per_day(self, selection: Selection) -> pl.DataFrame:
        """Energy per charger and day, the days being the selection's zone's (hours summed)."""
        from evkit.analysis import energy_per_day

        def compute() -> pl.DataFrame:
            days = energy_per_day(self.rows(selection), zone=selection.zone)
            return days.select("charger_id", "day", "energy_kwh", "source").collect()

        frame: pl.DataFrame = self._cached("energy", selection, compute)
        return frame

    def energy_figure(self, selection: Selection) -> go.Figure:
        """Energy per day (in the selection's zone) per charger, each charger in its colour."""
        from evkit.figures import energy_per_day as energy_figure

        title = f"Energy per day ({selection.zone} days)"
        fig = energy_figure(self.energy_per_day(selection), colours=self.colours, title=title)
        fig.update_xaxes(title_text=f"day ({selection.zone})")
        return fig

    def latency_figure(self, selection: Selection) -> go.Figure:
        """Latency ECDF per hop of the selection (with the manifest's caveat when there is one)."""
        from evkit.analysis.caveats import latency_caveat_from_stats
        from evkit.analysis.latency import latency, latency_stats
        from evkit.figures import latency_ecdf
        from evkit.figures.style import note

        frame = self._cached("latency", selection, lambda: latency(self.rows(selection)).collect())
        fig = latency_ecdf(frame)
        caveat = self.latency_caveat() or latency_caveat_from_stats(latency_stats(frame.lazy()).collect())
        if caveat is not None:
            note(fig, f"<b>{caveat}</b>")
        return fig

    def quality(self, selection: Selection) -> pl.DataFrame:
        """The data-quality summary per charger as a readable table."""
        from evkit.analysis import quality_summary

        frame = self._cached("quality", selection, lambda: quality_summary(self.rows(selection)).collect())
        return quality_table(frame, selection.zone)


def _day(value: date | str | None, what: str) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"the {what} day {value!r} is not a date; write it as YYYY-MM-DD") from None


__all__ = ["ExploreController", "Selection", "latency_caveat"]
