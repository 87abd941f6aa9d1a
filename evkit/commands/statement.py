"""``evkit statement DIR --tariff ... --from 2026-11-01 --to 2026-12-01 --by token``: what each card charged.

Exit codes: 0 done; 2 no Parquet, missing columns, an empty dataset, a bad tariff or option (nothing is
written).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from tqdm.auto import tqdm

from evkit.commands._args import number
from evkit.commands._billing import add_tariff_options, resolve_tariff, tariff_of, zone_of
from evkit.commands._dataset import add_skip_damaged, reading_whole_parts
from evkit.commands._narrow import CHARGER_HELP
from evkit.display import csv_safe
from evkit.errors import ConfigError

if TYPE_CHECKING:
    from evkit.analysis.tariff import Tariff

FORMATS = ("table", "csv", "json", "parquet", "xlsx")
LOCAL_ISO = "%Y-%m-%dT%H:%M:%S%:z"


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit statement`` to the top level."""
    del groups
    parser: argparse.ArgumentParser = top.add_parser(
        "statement",
        help="sessions, energy and cost per RFID card and/or charger over a period (billing)",
        description=(
            "One row per card (or charger, or both): sessions, energy, cost at the tariff (energy priced "
            "by when it flowed), CO2, first and last session, and a total. A session counts in the period "
            "it starts in. --from/--to are local times in --tz (a date is local midnight). "
            "Example: evkit statement data --tariff prices.csv --currency EUR --from 2026-11-01 "
            "--to 2026-12-01 --tz Europe/Oslo --by token --format xlsx --out november.xlsx"
        ),
        epilog="Exit 0 done; 2 no Parquet, missing columns, empty dataset, a bad tariff or option.",
    )
    parser.add_argument("directory", metavar="DIR", help="dataset directory (or one Parquet file)")
    parser.add_argument(
        "--from", dest="start", metavar="TIME", help="sessions starting at or after TIME (local)"
    )
    parser.add_argument("--to", dest="end", metavar="TIME", help="sessions starting before TIME (local)")
    parser.add_argument(
        "--by", default="token", metavar="KEYS", help="token, charger or token,charger (default token)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    parser.add_argument("--out", metavar="FILE", help="write to FILE (needed for parquet and xlsx)")
    parser.add_argument("--charger", action="append", metavar="ID", help=CHARGER_HELP)
    parser.add_argument(
        "--gap-minutes",
        type=number(above=0),
        default=20.0,
        metavar="M",
        help="silence that counts as a hole (default 20)",
    )
    add_tariff_options(parser)
    add_skip_damaged(parser)
    parser.set_defaults(func=_statement_command, quick_exit=True)


def _statement_command(args: argparse.Namespace) -> int:
    from evkit.analysis.statement import parse_by
    from evkit.commands._narrow import time_window

    by = parse_by(args.by)
    if args.format in ("parquet", "xlsx") and not args.out:
        raise ConfigError(f"--format {args.format} needs --out FILE (it is binary)")
    tariff = tariff_of(args)
    zone = zone_of(args)
    start, end = time_window(args, zone)

    def work() -> int:
        return _statement_here(args, by, tariff=tariff, zone=zone, start=start, end=end)

    return reading_whole_parts(args.directory, work)


def _statement_here(
    args: argparse.Namespace,
    by: list[str],
    *,
    tariff: Tariff | None,
    zone: str,
    start: datetime | None,
    end: datetime | None,
) -> int:
    """``evkit statement`` once the options are checked."""
    from evkit.analysis._prep import narrowed
    from evkit.analysis.statement import statement
    from evkit.commands._narrow import say_absent
    from evkit.commands.analysis import load, sessions_in_buckets

    with tqdm(total=3, desc="statement", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        lf = whole = load(args.directory)
        if args.charger:
            lf = narrowed(lf, args.charger)  # only the row groups that may hold them are read
        bar.update()
        tariff = tariff or resolve_tariff(args, whole)  # evcc's site prices every loadpoint
        # only the rows the period's sessions depend on are read; a fleet in buckets of chargers,
        # each bucket's sessions priced in it: memory follows a bucket, not the data
        gap = timedelta(minutes=args.gap_minutes)
        frame = sessions_in_buckets(
            lf, start=start, end=end, gap=gap, tariff=tariff, where=args.directory, bar=bar
        )
        rows, total = statement(frame, by, start, end)
        bar.update()
        meta = {
            "from": start.astimezone(_zi(zone)).isoformat() if start else None,
            "to": end.astimezone(_zi(zone)).isoformat() if end else None,
            "tz": zone,
            "by": by,
            "currency": tariff.currency if tariff else None,
            "tariff": tariff.source if tariff else None,
        }
        _write(rows, total, meta, args)
        bar.update()
    say_absent(whole, args.charger, args.directory, seen=frame["charger_id"].unique())
    if total.height == 0 or total["sessions"][0] == 0:
        print("no session starts in this period (and for these chargers)", file=sys.stderr)
    if tariff is None:
        print("no --tariff: energy only, no cost", file=sys.stderr)
    elif total.height and total["sessions_without_cost"][0]:
        print(
            f"{total['sessions_without_cost'][0]} session(s) have no cost (energy when the tariff has no "
            "price, or no energy figure): see evkit sessions --tariff for each one's note",
            file=sys.stderr,
        )
    if args.out:
        print(
            f"statement of {total['sessions'][0] if total.height else 0} session(s) written to {args.out}",
            file=sys.stderr,
        )
    return 0


def _zi(zone: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


def _key_names(rows: pl.DataFrame) -> list[str]:
    return [c for c in ("token", "charger_id") if c in rows.columns]


def shown(rows: pl.DataFrame, total: pl.DataFrame, zone: str) -> pl.DataFrame:
    """Rows and the total as people read them: "(no card)", a "total" row, times local in ``zone``."""
    from evkit.analysis.statement import NO_CARD

    keys = _key_names(rows)
    body = rows
    if "token" in body.columns:
        body = body.with_columns(pl.col("token").fill_null(NO_CARD))
    total_row = total.with_columns(
        *[pl.lit("total" if i == 0 else None, pl.String).alias(k) for i, k in enumerate(keys)]
    ).select(body.columns)
    both = pl.concat([body, total_row], how="vertical_relaxed")
    return both.with_columns(pl.col("first_session", "last_session").dt.convert_time_zone(zone))


def _write(rows: pl.DataFrame, total: pl.DataFrame, meta: dict[str, Any], args: argparse.Namespace) -> None:
    from evkit.commands.analysis import _as_records, _output

    zone = meta["tz"]
    if args.format == "parquet":
        _guarded(args.out, lambda: _parquet(rows, args.out))
        return
    people = shown(rows, total, zone)
    if args.format == "xlsx":
        _guarded(args.out, lambda: _xlsx(people, meta, args.out))
        return
    with _output(args.out) as out:
        if args.format == "json":
            local = [
                pl.col("first_session", "last_session").dt.convert_time_zone(zone).dt.strftime(LOCAL_ISO)
            ]
            payload = {
                **meta,
                "rows": _as_records(rows.with_columns(local)),
                "total": _as_records(total.with_columns(local))[0],
            }
            json.dump(payload, out, indent=2)
            out.write("\n")
        elif args.format == "csv":
            text = csv_safe(
                people.with_columns(pl.col("first_session", "last_session").dt.strftime(LOCAL_ISO))
            )
            writer = csv.writer(out)
            writer.writerow(text.columns)
            writer.writerows([["" if v is None else _cell(v) for v in row] for row in text.iter_rows()])
        else:
            out.write(_table(people, meta) + "\n")


def _cell(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _parquet(rows: pl.DataFrame, out: str) -> None:
    from evkit._replace import replacing

    with replacing(out) as tmp:
        rows.write_parquet(tmp)


def _guarded(path: str, write: Any) -> None:
    try:
        write()
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _labelled(frame: pl.DataFrame, meta: dict[str, Any]) -> pl.DataFrame:
    from evkit.timeutil import zone_label

    money = f" ({meta['currency']})" if meta["currency"] else ""
    names = {
        "first_session": f"first session {zone_label(meta['tz'])}",
        "last_session": f"last session {zone_label(meta['tz'])}",
        "cost": f"cost{money}",
        "cost_error_bound": f"cost ±{money}",
    }
    return frame.rename({k: v for k, v in names.items() if k in frame.columns})


def _xlsx(people: pl.DataFrame, meta: dict[str, Any], out: str) -> None:
    """The statement as a workbook (XlsxWriter through Polars: well-kept, no Excel needed)."""
    import xlsxwriter

    sheet = csv_safe(people).with_columns(
        pl.col("first_session", "last_session").dt.replace_time_zone(None)  # Excel has no zones: local
    )
    period = f"{meta['from'] or 'start'} to {meta['to'] or 'end'} ({meta['tz']})"
    from evkit._replace import replacing

    # formulas and links are never made from cell text (csv_safe also quotes formula-like strings);
    # the workbook is built in memory (a statement's rows are few): XlsxWriter's temporary files in
    # TMPDIR outlived a run stopped while it closed the workbook (SIGTERM, Ctrl-C)
    options = {
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "remove_timezone": True,
        "in_memory": True,
    }
    with replacing(out) as tmp, xlsxwriter.Workbook(str(tmp), options) as book:
        page = book.add_worksheet("statement")
        page.write_string(0, 0, f"evkit statement {period}")
        if meta["tariff"]:
            page.write_string(1, 0, f"tariff {meta['tariff']}; sessions counted by their start")
        _labelled(sheet, meta).write_excel(
            workbook=book,
            worksheet=page,
            position="A4",
            dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm", pl.Float64: "0.00"},
            autofit=True,
        )


def _table(people: pl.DataFrame, meta: dict[str, Any]) -> str:
    shown_frame = people.with_columns(
        pl.col("first_session", "last_session").dt.strftime("%Y-%m-%d %H:%M"),
        pl.col(pl.Float64).round(2),
    ).with_columns(pl.col(pl.String).fill_null(""))
    from evkit.commands._table import render

    keys = sum(1 for column in people.columns[:2] if column in ("token", "charger_id"))
    text = render(_labelled(shown_frame, meta), keys=max(1, keys))  # wraps to the terminal's width
    period = f"{meta['from'] or 'the start of the data'} to {meta['to'] or 'its end'}"
    head = f"Statement {period}, times in {meta['tz']}; sessions counted by their start"
    if meta["tariff"]:
        head += f"; tariff {meta['tariff']}"
    return head + "\n" + text
