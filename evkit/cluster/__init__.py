"""evkit on a Dask cluster: the same analyses, split by charger, run where the data is read.

``client`` is a ``distributed.Client`` (a ``LocalCluster`` on a laptop, or a scheduler address such
as ``tcp://10.0.0.5:8786`` on Kubernetes, an HPC batch system or a hosted cluster). The source is a
dataset every worker can read: a path all of them see, or ``s3://bucket/prefix`` (each worker then
needs the ``AWS_*`` environment itself; credentials never travel with the tasks).

How a run goes: one task lists and checks the parts (footers only); tasks over chunks of parts read
only the ``charger_id`` column to count each charger's rows; the chargers are split into contiguous
groups of about ``ROWS_PER_GROUP`` rows (``evkit.cluster.plan``: a few per worker thread, or one per
thread when each group would read every row group, as in a store in arrival order) and each group is
one task that reads only its chargers' rows and runs the same Polars function as a local run.
Finished tables come back (sessions are small); latency percentiles come back as each group's
histograms and then just the values of the bins a percentile falls in (exact,
``evkit.analysis.latency_buckets``): no per-message latency leaves its task. A worker that dies
mid-run has its tasks rerun by Dask; the result is the same.

Results equal a local run: the same functions on the same rows, combined in the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.cluster import tasks
from evkit.cluster.plan import ChargerGroup, charger_ranges, chunks, plan_by_rows
from evkit.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    from distributed import Client

    from evkit.analysis.tariff import Tariff
    from evkit.store.parts import Damaged

#: The store's logger: a skipped part is named where a local read names it.
_log = logging.getLogger("evkit.store")

#: Tasks per worker thread: a few, so a slow or lost worker's share is small.
TASKS_PER_THREAD = 4
#: Parts per charger-listing task.
PARTS_PER_LISTING = 64
#: Rows a task reads at most (about: a charger is never split), as a local run's buckets: a worker's
#: memory follows it, not the fleet's size.
ROWS_PER_GROUP = 4_000_000
#: How many times the rows one group a worker thread reads the groups may read before a run takes
#: one group a thread (``_groups``).
REREADS = 2


def connect(address: str) -> Client:
    """A client of the scheduler at ``address`` (``tcp://HOST:PORT``), or ``local`` / ``local:N``
    for a ``LocalCluster`` of N single-thread worker processes (default 2). ConfigError if unreachable."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the cluster extra is part of dev
        raise ConfigError("--dask needs dask.distributed: pip install 'evkit[cluster]'") from exc
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or "2"
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise ConfigError(f"--dask {address!r}: local:N needs N workers between 1 and 256")
        workers = int(count)
        # The scheduler and nannies of a LocalCluster live in this process: keep their INFO lines
        # (start, stop, each worker) off the command's output; a task's error reaches the caller as
        # its exception (a DatasetError stays one), so workers need not log it too.
        logging.getLogger("distributed").setLevel(logging.WARNING)
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
        return Client(cluster)  # type: ignore[no-untyped-call]
    if not address.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")):
        raise ConfigError(f"--dask {address!r} is no scheduler address (use tcp://HOST:PORT or local[:N])")
    try:
        return Client(address, timeout="15s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"no Dask scheduler answers at {address}: {exc}") from exc


def _source(source: Path | str) -> str:
    from evkit.store.objstore import is_s3

    return str(source) if is_s3(source) else str(Path(source).resolve())


def _threads(client: Client) -> int:
    info = client.scheduler_info()
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def _parts(client: Client, source: Path | str, skip_damaged: bool | None, listed: Any = None) -> Any:
    """``listed`` (:func:`listing`'s future, when the caller listed the parts already), or else the
    future of the checked part list of ``source`` (footers only; the dataset's error, or a
    missing ``charger_id``, is raised here). ``skip_damaged`` None: the policy of
    :func:`evkit.store.damaged_parts_policy` (``--skip-damaged``). Parts marked damaged here
    (``evkit.store.parts.marked_damaged``: their data pages were found unreadable) are damaged for the
    worker too; the skipped ones are named here, where the user reads, as a local read names them."""
    from evkit.store.objstore import is_s3
    from evkit.store.parts import marked_now
    from evkit.store.reader import skips_damaged

    if listed is not None:
        return listed
    if skip_damaged is None:
        skip_damaged = skips_damaged()
    marked = {(k if is_s3(k) else str(Path(k).resolve())): why for k, why in marked_now().items()}
    parts = client.submit(tasks.list_parts, _source(source), skip_damaged, marked, pure=False)
    listed = parts.result()
    if "charger_id" not in listed[1]:
        raise DatasetError(f"{source} lacks required column(s): charger_id")
    if listed[3]:
        _log.warning("skipped %d damaged Parquet part(s): %s", len(listed[3]), "; ".join(listed[3]))
    return parts


def listing(client: Client, source: Path | str, *, skip_damaged: bool | None = None) -> Any:
    """The future of the checked part list of ``source``, for several analyses of one run to share
    (``listed=`` of :func:`sessions`, :func:`recorded_tariff`, :func:`chargers`): the parts are
    listed, and a skipped damaged part named, once."""
    return _parts(client, source, skip_damaged)


def unreadable(client: Client, source: Path | str) -> list[Damaged]:
    """The parts of ``source`` whose data pages cannot be read, found by the workers (they see the
    data; the client may not), chunk by chunk of parts: as ``evkit.store.pages.unreadable_parts``
    finds them locally (pyarrow first; Polars when pyarrow reads every part)."""
    from evkit.store.parts import Damaged

    files = chunks(_parts(client, source, None).result()[0], PARTS_PER_LISTING)
    for by_polars in (False, True):
        futures = client.map(tasks.unreadable_task, files, by_polars=by_polars, pure=False)
        found = [hit for chunk in _gather(client, futures) for hit in chunk]
        if found:
            return sorted((Damaged(path, why) for path, why in found), key=lambda d: str(d.path))
    return []


def _per_chunk(client: Client, parts: Any, task: Callable[..., Any], **options: Any) -> list[Any]:
    """``task(parts, files, **options)`` for each chunk of ``PARTS_PER_LISTING`` part files, on the
    cluster, gathered in order (``parts.result()`` raises the dataset's error here)."""
    files = chunks(parts.result()[0], PARTS_PER_LISTING)
    return _gather(client, client.map(task, [parts] * len(files), files, **options))


def _listed(
    client: Client, parts: Any, start: datetime | None = None, end: datetime | None = None
) -> tuple[set[str], bool]:
    """(the charger ids, whether rows without one exist) of the parts, with a row observed in
    [``start``, ``end``) when given: tasks each reading the ``charger_id`` column of a chunk of parts."""
    found: set[str] = set()
    with_null = False
    for ids, nulls in _per_chunk(client, parts, tasks.chargers_in, start=start, end=end):
        found.update(ids)
        with_null = with_null or nulls
    return found, with_null


def _groups(
    client: Client,
    source: Path | str,
    skip_damaged: bool | None,
    chargers: Sequence[str] | None,
    rows_per_group: int = ROWS_PER_GROUP,
    *,
    listed: Any = None,
) -> tuple[Any, list[ChargerGroup]]:
    """(future of the checked part list, groups of about ``rows_per_group`` rows of ``chargers``, or of
    every charger and the rows without one): a few per worker thread (a slow or lost worker's share
    is small), or one per thread when the few would read more than ``REREADS`` times the rows the
    one would (``tasks.rows_read_task``, from the footers: a store in arrival order holds every
    charger in every row group, so each group reads all of it; 6M rows on two local workers, the
    report's groups 6.8 -> 5.0 s, the sessions' 1.85 -> 0.95 s). ``listed``: :func:`listing`'s
    future, when the caller listed the parts already."""
    parts = _parts(client, source, skip_damaged, listed)
    counts = (
        pl.concat(_per_chunk(client, parts, tasks.charger_rows_task))
        .group_by("charger_id")
        .agg(pl.col("n").sum())
    )
    if chargers:  # as a local run: none given (None or empty) is every charger
        counts = counts.filter(pl.col("charger_id").is_in(list(chargers)))
    threads = _threads(client)
    groups = plan_by_rows(counts, rows_per_group, threads * TASKS_PER_THREAD)
    fewer = plan_by_rows(counts, rows_per_group, threads)
    if len(fewer) < len(groups):
        many, few = (_rows_read(client, parts, plan) for plan in (groups, fewer))
        if many > REREADS * few:
            return parts, fewer
    return parts, groups


def _rows_read(client: Client, parts: Any, groups: list[ChargerGroup]) -> int:
    """The rows the ``groups`` of charger ranges read in all, filtering the parts (footers only)."""
    read = _per_chunk(client, parts, tasks.rows_read_task, ranges=charger_ranges(groups))
    return sum(sum(per) for _, per in read)


def chargers(
    client: Client,
    source: Path | str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    skip_damaged: bool | None = None,
    listed: Any = None,
) -> list[str]:
    """Every charger id of ``source`` with a row observed in [``start``, ``end``) (each optional),
    sorted, listed on the cluster (``listed``: :func:`listing`'s future, when the caller has it)."""
    parts = _parts(client, source, skip_damaged, listed)
    return sorted(_listed(client, parts, start, end)[0])


def _gather(client: Client, futures: Any) -> list[Any]:
    gathered: list[Any] = client.gather(futures)  # type: ignore[no-untyped-call]
    return gathered


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def sessions(
    client: Client,
    source: Path | str,
    gap: timedelta = timedelta(minutes=20),
    *,
    chargers: Sequence[str] | None = None,
    skip_damaged: bool | None = None,
    tariff: Tariff | None = None,
    evcc_figures: bool = False,
    listed: Any = None,
) -> pl.DataFrame:
    """:func:`evkit.analysis.sessions` of the dataset at ``source``, computed on the cluster; with
    ``tariff``, priced as :func:`evkit.analysis.cost.session_costs` prices them (each charger group
    prices its own sessions); with ``evcc_figures``, evcc's own figures for its sessions beside them
    (:func:`evkit.analysis.evcc_tariff.with_session_figures`, as ``evkit sessions`` shows them).
    ``listed``: :func:`listing`'s future, when the caller listed the parts already."""
    from evkit.analysis.cost import COST_SCHEMA
    from evkit.analysis.evcc_tariff import with_session_figures
    from evkit.analysis.schema import SESSION_SCHEMA

    parts, groups = _groups(client, source, skip_damaged, chargers, listed=listed)
    if not groups:
        empty = pl.DataFrame(schema={**SESSION_SCHEMA, **(COST_SCHEMA if tariff is not None else {})})
        shaped = with_session_figures(empty.lazy(), pl.LazyFrame(schema=parts.result()[1]))
        return shaped.collect() if evcc_figures else empty
    futures = client.map(
        tasks.sessions_task,
        [parts] * len(groups),
        groups,
        gap_s=gap.total_seconds(),
        tariff=tariff,
        evcc_figures=evcc_figures,
    )
    return _concat(_gather(client, futures)).sort("charger_id", "started_at")


def recorded_tariff(
    client: Client, source: Path | str, *, skip_damaged: bool | None = None, listed: Any = None
) -> Tariff | None:
    """The tariff evcc published in the recording at ``source``
    (:func:`evkit.analysis.evcc_tariff.recorded_tariff`), read on a worker; None without one.
    ``listed``: :func:`listing`'s future, when the caller listed the parts already."""
    from evkit.cluster.report_tasks import recorded_tariff_task

    parts = _parts(client, source, skip_damaged, listed)
    tariff: Tariff | None = client.submit(recorded_tariff_task, parts, None, None, pure=False).result()
    return tariff


#: evkit.analysis functions whose result rows each belong to one charger (and how they are sorted):
#: what they compute for a charger depends on that charger's rows only, so a group's result is final.
PER_CHARGER = {
    "energy_per_day": ["charger_id", "day"],
    "energy_per_hour": ["charger_id", "hour"],
    "connectivity_summary": ["charger_id"],
    "connectivity": ["charger_id", "observed_at"],
}


def per_charger(
    client: Client,
    source: Path | str,
    function: str,
    *,
    chargers: Sequence[str] | None = None,
    skip_damaged: bool | None = None,
) -> pl.DataFrame:
    """``evkit.analysis.<function>`` of ``source`` on the cluster, for a function of ``PER_CHARGER``."""
    if function not in PER_CHARGER:
        raise ConfigError(f"{function!r} is not split by charger; one of: {', '.join(PER_CHARGER)}")
    parts, groups = _groups(client, source, skip_damaged, chargers)
    if not groups:
        raise DatasetError(f"{source} holds no charger")
    futures = client.map(tasks.per_charger_task, [parts] * len(groups), groups, function=function)
    return _concat(_gather(client, futures)).sort(PER_CHARGER[function], maintain_order=True)


def energy_per_day(
    client: Client,
    source: Path | str,
    *,
    chargers: Sequence[str] | None = None,
    skip_damaged: bool | None = None,
) -> pl.DataFrame:
    """:func:`evkit.analysis.energy_per_day` of ``source``, computed on the cluster."""
    return per_charger(client, source, "energy_per_day", chargers=chargers, skip_damaged=skip_damaged)


def latency_stats(
    client: Client,
    source: Path | str,
    by: str | None = None,
    *,
    chargers: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    skip_damaged: bool | None = None,
    listed: Any = None,
) -> pl.DataFrame:
    """:func:`evkit.analysis.latency_stats` of ``source``, computed on the cluster; of the rows of
    ``chargers`` observed in [``start``, ``end``) when given (each optional), as
    ``evkit latency --charger --from --to`` reads locally (``evkit.analysis._prep.narrowed``).
    ``listed``: :func:`listing`'s future, when the caller listed the parts already.

    By charger, each group's statistics are final. Otherwise the percentiles are exact in two passes
    (``evkit.analysis.latency_buckets``, as ``evkit latency`` runs locally): each group's task returns
    its latency histograms, the client merges them (a few thousand bins per hop and group) and, when
    a percentile falls in a bin of differing values, asks the groups again for just those values.
    No latency per message leaves its task: memory follows a group, whatever the data.
    """
    from evkit.analysis.buckets import reads_of
    from evkit.analysis.latency import latency
    from evkit.analysis.latency import latency_stats as latency_stats_of
    from evkit.analysis.latency_buckets import Plan, latency_keys
    from evkit.analysis.schema import ALL_HOPS

    parts, groups = _groups(client, source, skip_damaged, chargers, listed=listed)
    if not groups:
        if chargers is None:
            raise DatasetError(f"{source} holds no rows")
        # none of the chargers has a row: what a local run prints for no rows
        return latency_stats_of(pl.LazyFrame(schema=parts.result()[1]), by=by).collect()
    window = (start, end)
    keys = latency_keys(by)
    if keys == ["hop", "charger_id"]:
        frames = _gather(
            client,
            client.map(tasks.latency_group_stats_task, [parts] * len(groups), groups, by=by, window=window),
        )
        order = pl.col("hop").replace_strict({h: i for i, h in enumerate(ALL_HOPS)}, default=len(ALL_HOPS))
        return _concat(frames).sort([order, "charger_id"], nulls_last=True)
    n = len(groups)
    # what latency reads, found once from the schema (each task reads only those columns)
    columns = reads_of(latency, pl.LazyFrame(schema=parts.result()[1])).columns
    hists = client.map(
        tasks.latency_hist_task, [parts] * n, groups, keys=keys, columns=columns, window=window
    )
    plan = Plan.of(_gather(client, hists), keys)
    found = []
    if plan.needs_pass2:
        values = client.map(
            tasks.latency_values_task, [parts] * n, groups, plan=plan, columns=columns, window=window
        )
        found = _gather(client, values)
    return plan.stats(found)


def per_charger_with(
    client: Client,
    source: Path | str,
    function: str,
    options: Mapping[str, Any],
    *,
    chargers: Sequence[str] | None = None,
    skip_damaged: bool | None = None,
) -> pl.DataFrame:
    """:func:`per_charger` with keyword ``options`` for the function (``energy_per_day``'s ``zone``):
    a charger's rows give the same result in any group, whatever the options."""
    if function not in PER_CHARGER:
        raise ConfigError(f"{function!r} is not split by charger; one of: {', '.join(PER_CHARGER)}")
    parts, groups = _groups(client, source, skip_damaged, chargers)
    if not groups:
        raise DatasetError(f"{source} holds no charger")
    futures = client.map(
        tasks.per_charger_options_task,
        [parts] * len(groups),
        groups,
        function=function,
        options=dict(options),
    )
    return _concat(_gather(client, futures)).sort(PER_CHARGER[function], maintain_order=True)


def quality_summary(
    client: Client,
    source: Path | str,
    expected: timedelta | None = None,
    stale: timedelta | None = None,
    *,
    data_end: datetime | None = None,
    skip_damaged: bool | None = None,
) -> pl.DataFrame:
    """:func:`evkit.analysis.quality_summary` of ``source``, computed on the cluster.

    Every figure is a charger's own except a charger's ongoing silence, which runs up to the newest
    observation of the whole dataset (or ``data_end`` when given): tasks over chunks of parts find
    that end first (one column), then each group's summary is measured up to it.
    """
    from evkit.analysis.quality import DEFAULT_GAP, DEFAULT_STALE

    expected = DEFAULT_GAP if expected is None else expected
    stale = DEFAULT_STALE if stale is None else stale
    parts, groups = _groups(client, source, skip_damaged, None)
    if not groups:
        raise DatasetError(f"{source} holds no rows")
    if data_end is None:
        ends = [e for e in _per_chunk(client, parts, tasks.data_end_task) if e]
        data_end = max(ends) if ends else None
    futures = client.map(
        tasks.quality_task,
        [parts] * len(groups),
        groups,
        expected_s=expected.total_seconds(),
        stale_s=stale.total_seconds(),
        data_end=data_end,
    )
    return _concat(_gather(client, futures)).sort("charger_id", maintain_order=True)


__all__ = [
    "PER_CHARGER",
    "chargers",
    "connect",
    "energy_per_day",
    "latency_stats",
    "listing",
    "per_charger",
    "per_charger_with",
    "quality_summary",
    "recorded_tariff",
    "sessions",
]
