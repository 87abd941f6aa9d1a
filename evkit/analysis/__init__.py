"""evkit.analysis: pure functions on ``pl.LazyFrame`` (sessions, energy, latency, data quality).

Every function takes a dataset as returned by ``evkit.scan`` (deduplicated or not: duplicates are
handled here) and returns a ``pl.LazyFrame``; nothing is read until you ``collect()``.

``sessions``, ``energy_per_day``, ``energy_per_hour``, ``latency_stats``, ``connectivity``,
``connectivity_summary`` and ``quality_summary`` also take ``client=`` (a ``distributed.Client``)
and the dataset's path or ``s3://`` URL: they then run on the Dask cluster and return the finished
``pl.DataFrame``.
"""

from __future__ import annotations

# These take ``client=`` (a ``distributed.Client``) and then run on a Dask cluster; without one they
# are the pure functions of their modules (see ``evkit.analysis._client``).
from evkit.analysis._client import (
    connectivity,
    connectivity_summary,
    energy_per_day,
    energy_per_hour,
    latency_stats,
    quality_summary,
    sessions,
)
from evkit.analysis.energy import lifetime_meter_check
from evkit.analysis.latency import latency
from evkit.analysis.quality import (
    decode_errors,
    duplicates,
    out_of_order,
    stale_values,
    telemetry_gaps,
    unknown_ids,
)
from evkit.analysis.schema import (
    ALL_HOPS,
    COMMAND_HOP,
    ENERGY_SCHEMA,
    HOPS,
    SCHEDULED_HOPS,
    SESSION_SCHEMA,
)
from evkit.analysis.sessions import easee_sessions
from evkit.analysis.timeseries import op_mode_periods, readings

__all__ = [
    "ALL_HOPS",
    "COMMAND_HOP",
    "ENERGY_SCHEMA",
    "HOPS",
    "SCHEDULED_HOPS",
    "SESSION_SCHEMA",
    "connectivity",
    "connectivity_summary",
    "decode_errors",
    "duplicates",
    "easee_sessions",
    "energy_per_day",
    "energy_per_hour",
    "latency",
    "latency_stats",
    "lifetime_meter_check",
    "op_mode_periods",
    "out_of_order",
    "quality_summary",
    "readings",
    "sessions",
    "stale_values",
    "telemetry_gaps",
    "unknown_ids",
]
