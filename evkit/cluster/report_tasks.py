"""``evkit report --dask``: the report's analyses in the cluster's tasks, one per charger group.

Each task reads its group's rows once (``evkit.analysis._prep.held_rows``) and runs every analysis
of the report on them; it returns small results (per-charger tables, latency histograms). The
client combines them (``evkit.report.partial.combine``) and, when some latency percentile falls in a
bin of differing values, asks the groups again for just those values. Nothing per message
reaches the client.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.cluster.plan import ChargerGroup
from evkit.cluster.tasks import Parts
from evkit.errors import first_line

if TYPE_CHECKING:
    from distributed import Client

    from evkit.analysis.tariff import Tariff
    from evkit.report import latency_data, partial

log = logging.getLogger(__name__)


def _rows(
    parts: Parts, group: ChargerGroup | None, start: datetime | None, end: datetime | None
) -> pl.LazyFrame:
    """The rows of ``group`` (None: every row) in [``start``, ``end``) as a local report reads them
    (``evkit.report.data.windowed``): home chargers' readings without a device time by when they were
    received (a window by device time alone left out every evcc session of ``report --dask``)."""
    from evkit.cluster.tasks import _scan
    from evkit.report.data import windowed

    rows = _scan(parts)
    return windowed(rows if group is None else rows.filter(group.predicate()), None, start, end)


def recorded_tariff_task(parts: Parts, start: datetime | None, end: datetime | None) -> Tariff | None:
    """evcc's tariff in the recording (reads only evcc's site rows)."""
    from evkit.analysis.evcc_tariff import recorded_tariff

    return recorded_tariff(_rows(parts, None, start, end))


#: The runs whose kept values this worker process removed (``_forget_kept``): a run that failed ends
#: while some of its group tasks still run, and those then keep nothing, or remove what they kept.
_FORGOTTEN: set[str] = set()


def _kept_dir(run: str, make: bool = True) -> Path:
    """This worker's folder of the latency values run ``run`` keeps between its passes (made unless
    ``make`` is False)."""
    from evkit.store.scratch import process_dir

    return process_dir(f"report-{run}", make=make)


def _kept_folder(run: str) -> Path | None:
    """This worker's folder for run ``run``'s kept values, or None: the run has ended here, or the
    temporary folder cannot hold a folder (a full or read-only disk; pass 2 reads the group again)."""
    if run in _FORGOTTEN:
        return None
    try:
        return _kept_dir(run)
    except OSError as exc:
        log.warning(
            "cannot keep a group's latencies in the temporary folder (%s): pass 2 reads the group "
            "again, which is slower; set TMPDIR to a folder with more room",
            first_line(exc),
        )
        return None


def report_group_task(
    parts: Parts,
    group: ChargerGroup,
    index: int = 0,
    *,
    zone: str,
    tariff: Tariff | None,
    start: datetime | None,
    end: datetime | None,
    run: str | None = None,
) -> partial.Partial:
    """Every analysis of the report on one group's rows (read once). With ``run``, the group's latency
    values are kept in a file on this worker for pass 2 (``partial.KeptLatencies``: when a bin of its
    histograms is crowded and the worker's temporary folder has room), named in ``kept_at``."""
    from evkit.analysis._prep import held_rows
    from evkit.report import partial

    rows = held_rows(_rows(parts, group, start, end))
    folder = None if run is None else _kept_folder(run)
    part = partial.analyse(rows, zone=zone, tariff=tariff, keep_latency=folder is not None)
    if run is None or folder is None:
        return part
    from distributed import get_worker

    kept = partial.KeptLatencies(folder)
    part = kept.keep(index, part)
    if run in _FORGOTTEN:  # the run ended (failed) while this task ran: its file goes too
        _forget_kept(run)
    elif index in kept.files:
        part.kept_at = (get_worker().address, str(kept.files[index]))
    return part


def latency_pass2_task(
    parts: Parts,
    group: ChargerGroup,
    *,
    plan: latency_data.Plan,
    start: datetime | None,
    end: datetime | None,
    kept: str | None = None,
) -> list[pl.DataFrame]:
    """The group's latencies in the bins the exact percentiles need (few): from the file pass 1 kept
    (``kept``, when this worker sees it; removed once read), else from the group's rows again."""
    from evkit.report import partial

    if kept is not None:
        try:
            values = pl.read_parquet(kept)
        except (OSError, pl.exceptions.PolarsError):
            pass  # on another machine, or gone with its worker: computed again
        else:
            Path(kept).unlink(missing_ok=True)
            return partial.latency_pass2(values.lazy(), plan)
    return partial.latency_pass2(_rows(parts, group, start, end), plan)


def _forget_kept(run: str) -> None:
    """Remove this worker's kept values of run ``run`` (run on every worker at the end, failed or not:
    a group task of the run still running keeps nothing after, ``_FORGOTTEN``), and the scratch
    folders of this host's evkit processes that are gone (a worker that died: its nanny started
    another, whose runs never name its folders)."""
    import shutil

    from evkit.store.scratch import sweep

    _FORGOTTEN.add(run)
    shutil.rmtree(_kept_dir(run, make=False), ignore_errors=True)
    sweep()


def power_rows_task(parts: Parts, charger: str, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """The rows the power curve of one charger draws."""
    from evkit.report import partial

    group = ChargerGroup((charger,))
    return partial.power_rows(_rows(parts, group, start, end), charger)


def report_on_cluster(
    client: Client,
    source: Path | str,
    *,
    zone: str,
    tariff: Tariff | None,
    chargers: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    skip_damaged: bool | None = None,
    rows_per_group: int | None = None,
) -> tuple[partial.Combined, latency_data.LatencyResult, Callable[[str], pl.DataFrame], Tariff | None]:
    """(combined results, latency numbers, the power-curve rows of a charger, the tariff used).

    Groups hold about ``rows_per_group`` rows (default: a local report's bucket,
    ``evkit.report.data.ROWS_PER_BUCKET``; ``evkit.cluster._groups``): a worker's memory is bounded."""
    from evkit.cluster import _groups
    from evkit.errors import DatasetError
    from evkit.report import latency_data, partial
    from evkit.report.data import ROWS_PER_BUCKET

    rows = ROWS_PER_BUCKET if rows_per_group is None else rows_per_group
    parts, groups = _groups(client, source, skip_damaged, chargers, rows)
    if not groups:
        raise DatasetError(f"{source} has no rows: nothing to report")
    if tariff is None:
        tariff = client.submit(recorded_tariff_task, parts, start, end, pure=False).result()
    run = uuid.uuid4().hex[:12]  # names the files the groups keep on their workers
    try:
        futures = client.map(
            report_group_task,
            [parts] * len(groups),
            groups,
            range(len(groups)),
            zone=zone,
            tariff=tariff,
            start=start,
            end=end,
            run=run,
            pure=False,
        )
        results, histograms = _folded(futures)
        plan = latency_data.plan([histograms] if histograms is not None else [])
        found: list[list[pl.DataFrame]] = []
        if plan.needs_pass2:
            found = _pass2(client, parts, groups, results, plan, start=start, end=end)
    finally:
        # a cluster gone meanwhile keeps the files: the next run on each host sweeps a dead worker's
        with contextlib.suppress(Exception):
            client.run(_forget_kept, run)

    def power_rows(charger: str) -> pl.DataFrame:
        future = client.submit(power_rows_task, parts, charger, start, end, pure=False)
        rows: pl.DataFrame = future.result()
        return rows

    return partial.combine(results), latency_data.finish(plan, found), power_rows, tariff


def _pass2(
    client: Client,
    parts: Any,
    groups: list[ChargerGroup],
    results: list[partial.Partial],
    plan: latency_data.Plan,
    *,
    start: datetime | None,
    end: datetime | None,
) -> list[list[pl.DataFrame]]:
    """Pass 2 of every group, each on the worker that kept its latency values when it did (another
    worker reads the group's rows again): pass 1's values are not computed twice (3 s of a 9 s report
    of 6M rows on two local workers)."""
    from evkit.cluster import _gather

    plan_future = client.scatter(plan, broadcast=True)  # type: ignore[no-untyped-call]
    futures = [
        client.submit(
            latency_pass2_task,
            parts,
            group,
            plan=plan_future,
            start=start,
            end=end,
            kept=part.kept_at[1] if part.kept_at else None,
            pure=False,
            **({"workers": [part.kept_at[0]], "allow_other_workers": True} if part.kept_at else {}),
        )
        for group, part in zip(groups, results, strict=True)
    ]
    return _gather(client, futures)


def _folded(futures: list[Any]) -> tuple[list[partial.Partial], list[pl.DataFrame] | None]:
    """The groups' results in the groups' order, their pass-1 latency histograms folded into one set as
    each arrives (``latency_data.fold``): the client holds one set, not one a group (a month's heatmap
    histogram is ~18 MB a group with realistic latencies)."""
    from distributed import as_completed

    from evkit.report import latency_data

    place = {future.key: index for index, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    histograms = None
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        part = future.result()
        histograms = latency_data.fold(histograms, part.latency)
        part.latency = []
        results[place[future.key]] = part
    return results, histograms


__all__ = ["latency_pass2_task", "report_group_task", "report_on_cluster"]
