"""``evkit report --dask``: the report's analyses in the cluster's tasks, one per charger group.

Each task reads its group's rows once (``evkit.report.partial.read_bucket``) and runs every analysis
of the report on them; it returns small results (per-charger tables, latency histograms). The
client combines them (``evkit.report.partial.combine``) and, when some latency percentile falls in a
millisecond of differing values, asks the groups again for just those values. Nothing per message
reaches the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

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

    lf = _scan(parts) if group is None else group_rows(parts, group)
    return narrowed(lf, None, start, end)


def recorded_tariff_task(parts: Parts, start: datetime | None, end: datetime | None) -> Tariff | None:
    """evcc's tariff in the recording (reads only evcc's site rows)."""
    from evkit.analysis.evcc_tariff import recorded_tariff

    return recorded_tariff(_rows(parts, None, start, end))


def report_group_task(
    parts: Parts,
    group: ChargerGroup,
    *,
    zone: str,
    tariff: Tariff | None,
    start: datetime | None,
    end: datetime | None,
) -> partial.Partial:
    """Every analysis of the report on one group's rows (read once)."""
    from evkit.report import partial

    return partial.analyse(partial.read_bucket(_rows(parts, group, start, end)), zone=zone, tariff=tariff)


def latency_pass2_task(
    parts: Parts,
    group: ChargerGroup,
    *,
    plan: latency_data.Plan,
    start: datetime | None,
    end: datetime | None,
) -> list[pl.DataFrame]:
    """The group's latencies in the bins the exact percentiles need (few)."""
    from evkit.report import partial

    return partial.latency_pass2(_rows(parts, group, start, end), plan)


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
) -> tuple[partial.Combined, latency_data.LatencyResult, Callable[[str], pl.DataFrame], Tariff | None]:
    """(combined results, latency numbers, the power-curve rows of a charger, the tariff used)."""
    from evkit.cluster import _gather, _plan
    from evkit.errors import DatasetError
    from evkit.report import latency_data, partial

    parts, groups = _plan(client, source, skip_damaged, chargers)
    if not groups:
        raise DatasetError(f"{source} has no rows: nothing to report")
    if tariff is None:
        tariff = client.submit(recorded_tariff_task, parts, start, end, pure=False).result()
    futures = client.map(
        report_group_task,
        [parts] * len(groups),
        groups,
        zone=zone,
        tariff=tariff,
        start=start,
        end=end,
        pure=False,
    )
    results: list[partial.Partial] = _gather(client, futures)
    plan = latency_data.plan([r.latency for r in results])
    found: list[list[pl.DataFrame]] = []
    if plan.needs_pass2:
        plan_future = client.scatter(plan, broadcast=True)  # type: ignore[no-untyped-call]
        found = _gather(
            client,
            client.map(
                latency_pass2_task,
                [parts] * len(groups),
                groups,
                plan=plan_future,
                start=start,
                end=end,
                pure=False,
            ),
        )

    def power_rows(charger: str) -> pl.DataFrame:
        future = client.submit(power_rows_task, parts, charger, start, end, pure=False)
        rows: pl.DataFrame = future.result()
        return rows

    return partial.combine(results), latency_data.finish(plan, found), power_rows, tariff


__all__ = ["latency_pass2_task", "report_group_task", "report_on_cluster"]
