"""A time-axis figure in another zone: evkit figures draw UTC wall time; people read their own.

Plotly.js date axes have no zone, so the figure's UTC times (traces, bands, their labels, axis range)
are moved to wall time in the zone, and the axis title and hovers say which zone it is: with the
abbreviation of the data's times (CEST for July), or the zone name alone when they have two (CET/CEST).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeGuard
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from evkit.figures.style import TIME_AXIS_TITLE

if TYPE_CHECKING:
    import numpy as np


def _moved(value: Any, tz: ZoneInfo, names: set[str] | None = None) -> Any:
    """``value`` (a UTC time) as wall time in ``tz``; ``names`` collects the zone abbreviations met."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        local = aware.astimezone(tz)
        if names is not None:
            names.add(local.tzname() or "")
        return local.replace(tzinfo=None)
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            return _moved(datetime.fromisoformat(value), tz, names)
        except ValueError:
            return value
    return value


#: ``datetime64`` units of times of day; an array of days (``D``, or coarser) holds dates, which are
#: the zone's already and stay as they are (as ``date`` values in a list do).
_TIME_UNITS = frozenset({"h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"})


def _times_array(values: Any) -> TypeGuard[np.ndarray]:
    """Whether ``values`` is an array of times (``datetime64`` of a time unit: a frame's column handed
    over as ``to_numpy()``), told without importing NumPy for a figure of lists."""
    if type(values).__name__ != "ndarray" or getattr(values.dtype, "kind", None) != "M":
        return False
    import numpy as np

    return np.datetime_data(values.dtype)[0] in _TIME_UNITS


def _moved_times(values: np.ndarray, tz: ZoneInfo, names: set[str]) -> np.ndarray:
    """:func:`_moved` of each time of an array, in microseconds: the zone rules of every other part of
    the figure (Python's; Polars carries its own copy of the zone database, which can differ), a
    missing time kept missing. Figures draw a bounded number of points: a few milliseconds."""
    import numpy as np

    moved = [_moved(t, tz, names) for t in values.astype("datetime64[us]").tolist()]
    return np.array(moved, dtype="datetime64[us]")


def _in_data(xref: Any) -> bool:
    """Whether an annotation's x is a time on an x axis (not a fraction of the paper or axis domain)."""
    return xref is None or (str(xref).startswith("x") and not str(xref).endswith("domain"))


def in_zone(fig: go.Figure, zone: str) -> go.Figure:
    """``fig`` (x = UTC times) with its times in ``zone``; UTC figures come back unchanged."""
    if zone == "UTC":
        return fig
    tz = ZoneInfo(zone)
    names: set[str] = set()  # the abbreviations of the data's times, for the axis title
    for trace in fig.data:
        # x of lines and markers; base of horizontal bars (a timeline: start + duration)
        for name in ("x", "base"):
            values = getattr(trace, name, None) if name in trace else None
            if _times_array(values):
                setattr(trace, name, _moved_times(values, tz, names))
            elif (
                values is not None
                and not isinstance(values, str | int | float)
                and any(isinstance(v, datetime | str) for v in values if v is not None)
            ):
                setattr(trace, name, [_moved(v, tz, names) for v in values])
        template = getattr(trace, "hovertemplate", None)
        if isinstance(template, str):
            trace.hovertemplate = template.replace("}Z", "}")
    for shape in fig.layout.shapes or ():
        shape.x0, shape.x1 = _moved(shape.x0, tz, names), _moved(shape.x1, tz, names)
    # Labels of bands (add_vrect's annotation_text) sit at the band's time: they move with it.
    for annotation in fig.layout.annotations or ():
        if _in_data(annotation.xref):
            annotation.x = _moved(annotation.x, tz)

    axes: list[Any] = []

    def move_axis(axis: Any) -> None:  # every x axis of a figure with subplots too
        if axis.range is not None:
            axis.range = [_moved(v, tz, names) for v in axis.range]
        axes.append(axis)

    fig.for_each_xaxis(move_axis)
    names.discard("")
    title = f"time ({zone}, {names.pop()})" if len(names) == 1 else f"time ({zone})"
    for axis in axes:
        if axis.title.text == TIME_AXIS_TITLE:
            axis.title.text = title
    return fig


__all__ = ["in_zone"]
