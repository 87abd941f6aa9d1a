"""evkit.figures: Plotly figures of sessions, energy, latency, data quality and connectivity.

Every function takes frames (``pl.DataFrame`` or ``pl.LazyFrame``, usually from ``evkit.analysis``)
and returns a ``plotly.graph_objects.Figure``; empty input gives a figure saying "no data", never an
exception. Times are UTC. Strings from the data (charger ids, tokens, sources) are shown as literal
text, cut to 64 characters (``evkit.display``); a ``title`` you pass is Plotly text, so put data into
it through ``evkit.display.plotly_text``.
"""

from __future__ import annotations

from evkit.figures.connectivity import connectivity_timeline
from evkit.figures.energy import energy_per_day
from evkit.figures.latency import latency_ecdf, latency_heatmap
from evkit.figures.quality import data_quality_overview
from evkit.figures.sessions import session_power_curve, session_timeline
from evkit.figures.style import TEMPLATE

__all__ = [
    "TEMPLATE",
    "connectivity_timeline",
    "data_quality_overview",
    "energy_per_day",
    "latency_ecdf",
    "latency_heatmap",
    "session_power_curve",
    "session_timeline",
]
