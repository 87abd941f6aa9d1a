"""A time-axis figure in another zone: evkit figures draw UTC wall time; people read their own.

Plotly.js date axes have no zone, so the figure's UTC times (traces, bands, axis range) are moved to
wall time in the zone, and the axis title and hovers say which zone it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from evkit.figures.style import TIME_AXIS_TITLE


def _moved(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(tz).replace(tzinfo=None)
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            return _moved(datetime.fromisoformat(value), tz)
        except ValueError:
            return value
    return value


def in_zone(fig: go.Figure, zone: str) -> go.Figure:
    """``fig`` (x = UTC times) with its times in ``zone``; UTC figures come back unchanged."""
    if zone == "UTC":
        return fig
    tz = ZoneInfo(zone)
    sample = datetime.now(UTC).astimezone(tz)
    label = sample.tzname() or zone
    for trace in fig.data:
        # x of lines and markers; base of horizontal bars (a timeline: start + duration)
        for name in ("x", "base"):
            values = getattr(trace, name, None) if name in trace else None
            if (
                values is not None
                and not isinstance(values, str | int | float)
                and any(isinstance(v, datetime | str) for v in values if v is not None)
            ):
                setattr(trace, name, [_moved(v, tz) for v in values])
        template = getattr(trace, "hovertemplate", None)
        if isinstance(template, str):
            trace.hovertemplate = template.replace("}Z", "}")
    for shape in fig.layout.shapes or ():
        shape.x0, shape.x1 = _moved(shape.x0, tz), _moved(shape.x1, tz)

    def move_axis(axis: Any) -> None:  # every x axis of a figure with subplots too
        if axis.range is not None:
            axis.range = [_moved(v, tz) for v in axis.range]
        if axis.title.text == TIME_AXIS_TITLE:
            axis.title.text = f"time ({zone}, {label})"

    fig.for_each_xaxis(move_axis)
    return fig


__all__ = ["in_zone"]
