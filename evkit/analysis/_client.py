"""The public analyses with ``client=``: given a ``distributed.Client`` and a dataset's location, the
same analysis runs on the Dask cluster (``evkit.cluster``) and the finished table comes back.

Without a client each function is exactly its pure counterpart (a ``pl.LazyFrame`` in, a lazy plan
out). With one, the source must be what every worker can read itself -- a path all of them see or
``s3://bucket/prefix`` -- and the result is an eager ``pl.DataFrame`` equal to
``<function>(evkit.scan(source, dedupe=False)).collect()``. A frame held in this process cannot be
split across workers: that is a ConfigError, never a silent local run.

Nothing here imports ``distributed``: ``evkit.cluster`` is imported only when a client is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import polars as pl

from evkit.analysis._timeline import DEFAULT_GAP
from evkit.analysis.connectivity import connectivity as _connectivity
from evkit.analysis.connectivity import connectivity_summary as _connectivity_summary
from evkit.analysis.energy import energy_per_day as _energy_per_day
from evkit.analysis.energy import energy_per_hour as _energy_per_hour
from evkit.analysis.latency import latency_stats as _latency_stats
from evkit.analysis.quality import DEFAULT_STALE
from evkit.analysis.quality import quality_summary as _quality_summary
from evkit.analysis.sessions import sessions as _sessions
from evkit.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

_NOTE = """
    With ``client`` (a ``distributed.Client``), ``lf`` is the dataset's path or ``s3://`` URL (every
    worker reads it itself); the analysis runs on the cluster, split by charger, and returns the
    finished ``pl.DataFrame`` (equal to the local run on ``evkit.scan(path, dedupe=False)``).
"""


def _location(source: object, function: str) -> Path | str:
    """The dataset location a cluster can read, or ConfigError for anything held in this process."""
    from evkit.store.objstore import is_s3

    if is_s3(source):
        return str(source)
    if isinstance(source, (str, Path)):
        return Path(source)
    raise ConfigError(
        f"evkit.analysis.{function}(..., client=...) needs the dataset's path or s3:// URL, not a "
        f"{type(source).__name__}: the workers read the store themselves, a frame in this process cannot "
        "be split among them (give the path, or leave out client= to run here)"
    )


def _frame(source: Any, function: str) -> Any:
    """``source`` for the local function: a path is a ConfigError with the way to read it."""
    if isinstance(source, (str, Path)):
        raise ConfigError(
            f"evkit.analysis.{function}({str(source)!r}) takes a frame: evkit.analysis.{function}("
            f"evkit.scan({str(source)!r})) runs here; a path is for client= (a Dask cluster)"
        )
    return source


def _cluster() -> Any:
    from evkit import cluster

    return cluster


@overload
def sessions(lf: pl.LazyFrame, gap: timedelta = ..., *, client: None = None) -> pl.LazyFrame: ...
@overload
def sessions(lf: Path | str, gap: timedelta = ..., *, client: Client) -> pl.DataFrame: ...
def sessions(
    lf: pl.LazyFrame | Path | str, gap: timedelta = DEFAULT_GAP, *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _sessions(_frame(lf, "sessions"), gap)
    result: pl.DataFrame = _cluster().sessions(client, _location(lf, "sessions"), gap)
    return result


@overload
def energy_per_day(lf: pl.LazyFrame, zone: str = ..., *, client: None = None) -> pl.LazyFrame: ...
@overload
def energy_per_day(lf: Path | str, zone: str = ..., *, client: Client) -> pl.DataFrame: ...
def energy_per_day(
    lf: pl.LazyFrame | Path | str, zone: str = "UTC", *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _energy_per_day(_frame(lf, "energy_per_day"), zone)
    where = _location(lf, "energy_per_day")
    result: pl.DataFrame = _cluster().per_charger_with(client, where, "energy_per_day", {"zone": zone})
    return result


@overload
def energy_per_hour(lf: pl.LazyFrame, *, client: None = None) -> pl.LazyFrame: ...
@overload
def energy_per_hour(lf: Path | str, *, client: Client) -> pl.DataFrame: ...
def energy_per_hour(
    lf: pl.LazyFrame | Path | str, *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _energy_per_hour(_frame(lf, "energy_per_hour"))
    result: pl.DataFrame = _cluster().per_charger(client, _location(lf, "energy_per_hour"), "energy_per_hour")
    return result


@overload
def latency_stats(
    lf: pl.LazyFrame, by: str | Sequence[str] | None = None, *, client: None = None
) -> pl.LazyFrame: ...
@overload
def latency_stats(
    lf: Path | str, by: str | Sequence[str] | None = None, *, client: Client
) -> pl.DataFrame: ...
def latency_stats(
    lf: pl.LazyFrame | Path | str, by: str | Sequence[str] | None = None, *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _latency_stats(_frame(lf, "latency_stats"), by)
    result: pl.DataFrame = _cluster().latency_stats(client, _location(lf, "latency_stats"), by)
    return result


@overload
def connectivity(lf: pl.LazyFrame, *, client: None = None) -> pl.LazyFrame: ...
@overload
def connectivity(lf: Path | str, *, client: Client) -> pl.DataFrame: ...
def connectivity(
    lf: pl.LazyFrame | Path | str, *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _connectivity(_frame(lf, "connectivity"))
    result: pl.DataFrame = _cluster().per_charger(client, _location(lf, "connectivity"), "connectivity")
    return result


@overload
def connectivity_summary(lf: pl.LazyFrame, *, client: None = None) -> pl.LazyFrame: ...
@overload
def connectivity_summary(lf: Path | str, *, client: Client) -> pl.DataFrame: ...
def connectivity_summary(
    lf: pl.LazyFrame | Path | str, *, client: Client | None = None
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        return _connectivity_summary(_frame(lf, "connectivity_summary"))
    where = _location(lf, "connectivity_summary")
    result: pl.DataFrame = _cluster().per_charger(client, where, "connectivity_summary")
    return result


@overload
def quality_summary(
    lf: pl.LazyFrame,
    expected: timedelta = ...,
    stale: timedelta = ...,
    *,
    data_end: datetime | None = ...,
    first: pl.LazyFrame | pl.DataFrame | None = ...,
    client: None = None,
) -> pl.LazyFrame: ...
@overload
def quality_summary(
    lf: Path | str,
    expected: timedelta = ...,
    stale: timedelta = ...,
    *,
    data_end: datetime | None = ...,
    client: Client,
) -> pl.DataFrame: ...
def quality_summary(
    lf: pl.LazyFrame | Path | str,
    expected: timedelta = DEFAULT_GAP,
    stale: timedelta = DEFAULT_STALE,
    *,
    data_end: datetime | None = None,
    first: pl.LazyFrame | pl.DataFrame | None = None,
    client: Client | None = None,
) -> pl.LazyFrame | pl.DataFrame:
    if client is None:
        frame = _frame(lf, "quality_summary")
        return _quality_summary(frame, expected, stale, data_end=data_end, first=first)
    if first is not None:
        raise ConfigError(
            "evkit.analysis.quality_summary(..., client=...) cannot take first=: it is a frame in this "
            "process, and each worker finds the first deliveries of its own chargers"
        )
    where = _location(lf, "quality_summary")
    result: pl.DataFrame = _cluster().quality_summary(client, where, expected, stale, data_end=data_end)
    return result


for _wrapper, _pure in (
    (sessions, _sessions),
    (energy_per_day, _energy_per_day),
    (energy_per_hour, _energy_per_hour),
    (latency_stats, _latency_stats),
    (connectivity, _connectivity),
    (connectivity_summary, _connectivity_summary),
    (quality_summary, _quality_summary),
):
    _wrapper.__doc__ = (_pure.__doc__ or "").rstrip() + "\n" + _NOTE

__all__ = [
    "connectivity",
    "connectivity_summary",
    "energy_per_day",
    "energy_per_hour",
    "latency_stats",
    "quality_summary",
    "sessions",
]
