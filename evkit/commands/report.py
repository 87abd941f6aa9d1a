"""``evkit report DIR --out report.html``: one self-contained offline HTML page about a dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evkit.commands._billing import add_tariff_options, tariff_of
from evkit.commands._cluster import add_dask
from evkit.commands._dataset import add_skip_damaged, reading_whole_parts
from evkit.commands._inputs import output_file
from evkit.commands._narrow import add_narrowing, time_window


def _run(args: argparse.Namespace) -> int:
    from evkit.report import build_report  # plotly loads only when a report is asked for

    start, end = time_window(args)
    tariff = tariff_of(args)  # checked before any work: a bad tariff exits 2, nothing written
    if getattr(args, "dask", None):
        from evkit.commands._cluster import on_dask

        out = on_dask(
            args,
            lambda client: build_report(
                args.dataset,
                args.out,
                title=args.title,
                progress=False,
                tariff=tariff,
                tz=args.tz,
                client=client,
                chargers=args.charger,
                start=start,
                end=end,
            ),
            where=args.dataset,
        )
    else:
        out = reading_whole_parts(
            args.dataset,
            lambda: build_report(
                args.dataset,
                args.out,
                title=args.title,
                progress=not args.no_progress,
                tariff=tariff,
                tz=args.tz,
                chargers=args.charger,
                start=start,
                end=end,
            ),
        )
    print(out.resolve())
    return 0


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit report`` to ``top``."""
    del groups
    parser = top.add_parser(
        "report",
        help="write an offline HTML report (sessions, energy, latency, data quality)",
        description=(
            "Analyse a dataset and write one self-contained HTML page (plotly.js inlined: it opens "
            "without a network) with summary tables and figures. Prints the path written."
        ),
    )
    parser.add_argument(
        "dataset", metavar="DIR", help="dataset directory, one Parquet file, or s3://BUCKET/PREFIX"
    )
    parser.add_argument(
        "--out",
        type=output_file,
        default=Path("report.html"),
        help="HTML file to write (default: report.html)",
    )
    parser.add_argument("--title", default=None, help="page title (default: evkit report)")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)"
    )
    add_tariff_options(parser, tz_default="the machine's zone")
    add_narrowing(parser)
    add_skip_damaged(parser)
    add_dask(parser)
    parser.set_defaults(func=_run, no_progress=not sys.stderr.isatty(), quick_exit=True)
