"""``--dask ADDRESS`` for the analysis commands: run the analysis on a Dask cluster.

The command connects to the scheduler (or starts a ``LocalCluster`` for ``local[:N]``), runs the
same analysis split by charger there (``evkit.cluster``), and prints exactly what a local run prints.
Workers read the dataset themselves: give a path all of them see, or ``s3://`` (with ``AWS_*`` set
on the workers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from evkit.commands._narrow import say_absent_on_dask

T = TypeVar("T")

if TYPE_CHECKING:
    from distributed import Client

    from evkit.analysis.tariff import Tariff


def add_dask(parser: argparse.ArgumentParser) -> None:
    """Add ``--dask ADDRESS`` to a command that reads a dataset."""
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: scheduler tcp://HOST:PORT, or local[:N] for N local worker "
        "processes; workers read the dataset themselves (a shared path or s3://)",
    )


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A connected client; a LocalCluster it started is closed afterwards."""
    from evkit.cluster import connect

    client = connect(address)
    try:
        yield client
    finally:
        cluster: Any = client.cluster
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None and address.startswith("local"):
            cluster.close()


def on_dask(args: argparse.Namespace, work: Callable[[Client], T], where: str | None = None) -> T:
    """``work(client)`` on the cluster of ``--dask``, reading the store ``where`` (``args.directory``
    unless given) as a local run does (``evkit.commands._dataset.reading_whole_parts``): a part whose
    data pages cannot be read is named, found by the workers, or with ``--skip-damaged`` left out of
    every worker's read. Each read follows ``--skip-damaged`` (``evkit.cli`` sets the policy)."""
    from evkit import cluster
    from evkit.commands._dataset import reading_whole_parts

    store = args.directory if where is None else where
    with dask_client(args.dask) as client:
        return reading_whole_parts(
            store, lambda: work(client), find=lambda: cluster.unreadable(client, store)
        )


def sessions_on_dask(
    args: argparse.Namespace, start: datetime | None, end: datetime | None, tariff: Tariff | None = None
) -> int:
    """``evkit sessions --dask``: the sessions computed (and priced at ``tariff``) on the cluster,
    written as a local run does."""
    from evkit import cluster
    from evkit.analysis.evcc_tariff import SESSION_KEYS
    from evkit.commands._billing import said_recorded, with_currency
    from evkit.commands.analysis import _write_sessions

    def found(client: Client) -> tuple[pl.DataFrame, Tariff | None]:
        listed = cluster.listing(client, args.directory)  # once: a skipped part is named once
        priced = tariff
        if priced is None:  # as a local run: evcc's tariff in the recording, when it holds one
            priced = said_recorded(cluster.recorded_tariff(client, args.directory, listed=listed))
        frame = cluster.sessions(
            client,
            args.directory,
            timedelta(minutes=args.gap_minutes),
            chargers=args.charger,
            tariff=priced,
            evcc_figures=True,
            listed=listed,
        )
        say_absent_on_dask(client, args, seen=frame["charger_id"].unique(), listed=listed)
        return frame, priced

    frame, tariff = on_dask(args, found)
    if start is not None:
        frame = frame.filter(pl.col("started_at") >= start)
    if end is not None:
        frame = frame.filter(pl.col("started_at") < end)
    # the columns in a local run's order: evcc's own figures after the cost and its currency
    frame = with_currency(frame, tariff)
    figures = [c for c in SESSION_KEYS.values() if c in frame.columns]
    _write_sessions(frame.select(*[c for c in frame.columns if c not in figures], *figures), args)
    if args.out:
        print(f"{frame.height} session(s) written to {args.out}", file=sys.stderr)
    return 0


def latency_on_dask(args: argparse.Namespace, start: datetime | None, end: datetime | None) -> int:
    """``evkit latency --dask``: the statistics of the rows of ``--charger`` observed in [``start``,
    ``end``) (each optional) computed on the cluster, printed as a local run does."""
    from evkit import cluster
    from evkit.commands.analysis import _output, latency_text, summarize_latency

    def found(client: Client) -> pl.DataFrame:
        listed = cluster.listing(client, args.directory)  # once: a skipped part is named once
        stats = cluster.latency_stats(
            client, args.directory, by=args.by, chargers=args.charger, start=start, end=end, listed=listed
        )
        say_absent_on_dask(client, args, start=start, end=end, listed=listed)
        return stats

    stats = on_dask(args, found)
    if args.format == "json":
        text = json.dumps(summarize_latency(stats, args.by), indent=2)
    else:
        text = latency_text(stats)
    with _output(args.out) as out:
        out.write(text + "\n")
    return 0
