"""``evkit report --dask``: the report's analyses in the cluster's tasks, one per charger group.

Each task reads its group's rows once (``evkit.analysis._prep.held_rows``) and runs every analysis
of the report on them; it returns small results (per-charger tables, latency histograms). The
client combines them (``evkit.report.partial.combine``) and, when some latency percentile falls in a
bin of differing values, asks the groups again for just those values. Nothing per message
reaches the client.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.cluster.plan import ChargerGroup
from evkit.cluster.tasks import Parts, group_rows

if TYPE_CHECKING:
    from distributed import Client

    from evkit.analysis.tariff import Tariff
    from evkit.report import latency_data, partial


def _rows(
    parts: Parts, group: ChargerGroup | None, start: datetime | None, end: datetime | None
) -> pl.LazyFrame:
    from evkit.analysis._prep import narrowed
    from evkit.cluster.tasks import _scan

    if group is not None:
        return group_rows(parts, group, start, end)
    return narrowed(_scan(parts), None, start, end)


def recorded_tariff_task(parts: Parts, start: datetime | None, end: datetime | None) -> Tariff | None:
    """evcc's tariff in the recording (reads only evcc's site rows)."""
    from evkit.analysis.evcc_tariff import recorded_tariff

    return recorded_tariff(_rows(parts, None, start, end))


def _kept_dir(run: str) -> Path:
    """This worker's folder of the latency values run ``run`` keeps between its passes."""
    from evkit.store.scratch import process_dir

    return process_dir(f"report-{run}")


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
    part = partial.analyse(rows, zone=zone, tariff=tariff, keep_latency=run is not None)
    if run is None:
        return part
    from distributed import get_worker

    kept = partial.KeptLatencies(_kept_dir(run))
    part = kept.keep(index, part)
    if index in kept.files:
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
    """Remove this worker's kept values of run ``run`` (run on every worker at the end)."""
    import shutil

    shutil.rmtree(_kept_dir(run), ignore_errors=True)


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
    rows_per_group: int = 3_000_000,
) -> tuple[partial.Combined, latency_data.LatencyResult, Callable[[str], pl.DataFrame], Tariff | None]:
    """(combined results, latency numbers, the power-curve rows of a charger, the tariff used).

    Groups hold about ``rows_per_group`` rows (``evkit.cluster._groups``): a worker's memory is bounded."""
    from evkit.cluster import _groups
    from evkit.errors import DatasetError
    from evkit.report import latency_data, partial

    parts, groups = _groups(client, source, skip_damaged, chargers, rows_per_group)
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
