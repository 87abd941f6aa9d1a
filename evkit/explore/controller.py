"""The explorer's logic, without widgets: which chargers and days are selected, and what to show.

Opening a store reads it once into small frames (:mod:`evkit.explore.summary`: the sessions, energy
per hour, quality counts per hour and the fleet's latency histogram of every charger; cached per store
and listing of its parts). A click then filters those frames: sessions, energy and quality of any
selection, and the latency of "all chargers", never re-read the rows. The latency of some chargers and a
session's power curve read only those chargers' rows (and the curve only its window): the selection
becomes a predicate :func:`evkit.store.reader.scan` hands to the Parquet scan (pushed down, row groups
whose statistics cannot match are skipped). :meth:`ExploreController.refresh` re-lists the store; new
parts of a running recording make it summarise again and drop the cached views.

A damaged part (a bad footer, or a data page that cannot be decoded, found only when a read fails on
it) is a :class:`~evkit.errors.DatasetError` naming it below the store; with ``skip_damaged`` every read
leaves it out, and :attr:`ExploreController.skipped` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import plotly.graph_objects as go
import polars as pl

from evkit.analysis.caveats import replayed_caveat
from evkit.analysis.quality import SUMMARY_COLUMNS
from evkit.errors import ValidationError
from evkit.explore.summary import LATENCY_DIGITS, Progress, StoreSummary, store_summary
from evkit.explore.tables import quality_table, session_table, system_zone
from evkit.figures.style import charger_colours, no_data, note
from evkit.store.manifest import latency_caveat, read_manifest
from evkit.store.pages import relative_name
from evkit.store.parts import Damaged, marked_damaged
from evkit.store.reader import damaged_parts_policy, inspected, scan
from evkit.store.whole import read_whole

T = TypeVar("T")

#: Selections whose rows stay in memory, and cached views in all (the most recently used are kept).
KEEP_ROWS = 3
KEEP_VIEWS = 24
#: A session's power curve reads its charger's rows from this long before the session (the op mode in
#: force at the start).
CURVE_LOOKBACK = timedelta(days=1)
#: The quality counts that are issues (the fleet's quality table lists the chargers with most first).
ISSUE_COUNTS = tuple(column for column in SUMMARY_COLUMNS if column.endswith("_n"))
#: How the explorer reads a store without its damaged parts (the end of the sentence naming them).
SKIP_HINT = "open it with evkit.explore(..., skip_damaged=True) to read the rest"


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
    """The explorer's state and views for the dataset at ``store`` (see the module docs).
    ``skip_damaged``: read the store without its damaged parts (:attr:`skipped` names them) instead of
    refusing it."""

    store: Path
    zone: str = field(default_factory=system_zone)
    chargers: list[str] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None
    colours: dict[str, str] = field(default_factory=dict)
    progress: Progress | None = field(default=None, repr=False)
    summary: StoreSummary | None = field(default=None, repr=False)
    skip_damaged: bool = False
    #: The damaged parts every read leaves out (``skip_damaged``): those the last :meth:`refresh`
    #: found, and any data page found unreadable since.
    skipped: list[Damaged] = field(default_factory=list)
    _unreadable: list[Damaged] = field(default_factory=list, repr=False)
    #: (size, modification time in ns) of each part of ``_unreadable`` when it was found so
    _found_as: dict[str, tuple[int, int] | None] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[str, Selection], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.store = Path(self.store)
        _known_zone(self.zone)
        self.refresh()

    # ------------------------------------------------------------------ the store

    def refresh(self) -> bool:
        """Re-list the store (a recording adds parts); when its parts changed, summarise it again and
        forget cached views. True when something changed. A part found with an unreadable data page is
        read again once it changed (mended, or replaced) and no longer named once moved out."""
        self._unreadable[:] = [
            d for d in self._unreadable if _stat(d.path) == self._found_as.get(str(d.path))
        ]
        summary = self._read(lambda: store_summary(self.store, self.progress))
        skipped = self.skipped
        if self.skip_damaged:
            with marked_damaged(self._unreadable):
                skipped = inspected(self.store).damaged
        if summary is self.summary and skipped == self.skipped:
            return False
        self.summary, self.skipped = summary, skipped
        self.chargers = list(summary.chargers)
        self.colours = charger_colours(self.chargers)
        tz = ZoneInfo(self.zone)
        first, last = summary.first_seen, summary.last_seen
        self.first_day = first.astimezone(tz).date() if first is not None else None
        self.last_day = last.astimezone(tz).date() if last is not None else None
        self._cache.clear()
        return True

    def _read(self, work: Callable[[], T]) -> T:
        """``work()``, a read of the store, under the explorer's policy (``skip_damaged``). A data page
        that cannot be decoded fails only while the rows are read, with an error naming no file: then
        each part is read on its own to find the damaged ones (``evkit.store.whole.read_whole``), and a
        ``DatasetError`` names them below the store; with ``skip_damaged``, ``work`` runs again without
        them, and every later read of this explorer leaves them out."""
        known = len(self._unreadable)
        with damaged_parts_policy(self.skip_damaged, hint=SKIP_HINT):
            done = read_whole(
                self.store, work, skip=self.skip_damaged, marked=self._unreadable, hint=SKIP_HINT
            )
        if found := self._unreadable[known:]:
            self.skipped = sorted([*self.skipped, *found], key=lambda d: str(d.path))
            self._found_as.update({str(d.path): _stat(d.path) for d in found})
        return done

    def skipped_note(self) -> str | None:
        """The parts every read leaves out (:attr:`skipped`), named below the store; None when none."""
        if not self.skipped:
            return None
        names = "; ".join(f"{relative_name(self.store, d.path)} ({d.reason})" for d in self.skipped)
        return f"skipped {len(self.skipped)} damaged Parquet part(s): {names}"

    def _summary(self) -> StoreSummary:
        assert self.summary is not None  # set by __post_init__
        return self.summary

    def latency_caveat(self) -> str | None:
        """Why latency here cannot be trusted, if it cannot: the manifest's reason
        (:func:`latency_caveat`), or rows a replay marked (column ``replayed``)."""
        manifest = latency_caveat(read_manifest(self.store)) if self.store.is_dir() else None
        replayed = self._summary().replayed
        return manifest or replayed_caveat(replayed, self._summary().rows)

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
        return self._read(lambda: scan(self.store, where=selection.predicate()))

    def rows(self, selection: Selection) -> pl.LazyFrame:
        """The selected rows. Some chargers: read once (the filter runs in the Parquet scan) and kept in
        memory, since each view reads them several times. Every charger: lazily, read per view."""
        if not selection.chargers:
            return self.query(selection)
        where = selection.predicate()
        frame: pl.DataFrame = self._cached(
            "rows", selection, lambda: self._read(lambda: scan(self.store, where=where).collect())
        )
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
        """``evkit.sessions`` of the selected chargers, the sessions overlapping the selected days (one
        row per session, UTC; from the summary)."""
        return self._summary().sessions_in(selection.chargers, *selection.window())

    def session_table(self, selection: Selection, limit: int | None = None) -> pl.DataFrame:
        """The sessions as people read them (``evkit.explore.tables.session_table``); with ``limit``,
        only the latest ``limit`` sessions (by start), still by charger and start."""
        found = self.sessions(selection)
        if limit is not None and found.height > limit:
            found = found.sort("started_at").tail(limit).sort("charger_id", "started_at")
        return session_table(found, selection.zone)

    def session_curve(self, selection: Selection, session_id: str) -> go.Figure:
        """The power curve of one session, with phase currents and op-mode bands."""
        from evkit.figures import session_power_curve
        from evkit.figures.localtime import in_zone

        found = self.sessions(selection).filter(pl.col("session_id") == session_id)
        if found.height == 0:
            return no_data("Power curve", f"no session {session_id} in the selection")
        row = found.row(0, named=True)
        charger = row["charger_id"]
        # This charger's rows around the session only (the op mode in force at its start may have been
        # reported up to a day before it), read with the filter pushed into the Parquet scan.
        started, ended = row["started_at"], row["ended_at"]
        where = (pl.col("charger_id") == charger) & (pl.col("observed_at") >= started - CURVE_LOOKBACK)
        if ended is not None:  # an open session runs to the charger's last reading
            where = where & (pl.col("observed_at") <= ended + timedelta(seconds=1))
        rows = self._read(lambda: scan(self.store, where=where).collect()).lazy()
        fig = session_power_curve(
            rows,
            charger,
            row["started_at"],
            row["ended_at"],
        )
        return in_zone(fig, selection.zone)

    def energy_per_day(self, selection: Selection) -> pl.DataFrame:
        """Energy per charger and day, the days being the selection's zone's (hours summed)."""
        return self._summary().energy_days(selection.chargers, *selection.window(), selection.zone)

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

        if selection.chargers:
            frame = self._cached("latency", selection, lambda: latency(self.rows(selection)).collect())
            stats = latency_stats(frame.lazy()).collect()
        else:  # every charger: the fleet's histogram
            frame = self._summary().latency_counts(*selection.window())
            stats = _counted_medians(frame)
        fig = latency_ecdf(frame)
        if not selection.chargers and frame.height:
            digits = LATENCY_DIGITS
            note(fig, f"all chargers: latencies counted to {digits} significant digits (±5 %)")
        caveat = self.latency_caveat() or latency_caveat_from_stats(stats)
        if caveat is not None:
            note(fig, f"<b>{caveat}</b>")
        return fig

    def quality(self, selection: Selection) -> pl.DataFrame:
        """The data-quality summary per charger as a readable table."""
        return quality_table(self._summary().quality(selection.chargers, *selection.window()), selection.zone)

    def quality_worst(self, selection: Selection, limit: int) -> tuple[pl.DataFrame, int]:
        """The quality table of the ``limit`` chargers with most issues (worst first), and how many
        chargers the selection has in all (a static table of a whole fleet takes seconds to draw)."""
        frame = self._summary().quality(selection.chargers, *selection.window())
        issues = pl.sum_horizontal(*[pl.col(c) for c in ISSUE_COUNTS if c in frame.columns])
        worst = frame.sort([issues, pl.col("charger_id")], descending=[True, False]).head(limit)
        return quality_table(worst, selection.zone), frame.height


def _counted_medians(counts: pl.DataFrame) -> pl.DataFrame:
    """``hop`` and ``p50_s`` of a latency histogram (``hop``, ``latency_s``, ``n``)."""
    share = pl.col("n").cum_sum().over("hop") / pl.col("n").sum().over("hop")
    return (
        counts.sort("hop", "latency_s")
        .filter(share >= 0.5)
        .group_by("hop")
        .agg(pl.col("latency_s").first().alias("p50_s"))
    )


def _stat(part: Path | str) -> tuple[int, int] | None:
    """(size, modification time in ns) of ``part``; None when it is gone."""
    try:
        stat = Path(part).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _day(value: date | str | None, what: str) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"the {what} day {value!r} is not a date; write it as YYYY-MM-DD") from None


__all__ = ["ExploreController", "Selection", "latency_caveat", "replayed_caveat"]
