"""Per-charger analyses in charger buckets: memory bounded by the bucket, not by the dataset.

Sessions (and anything else computed charger by charger) do not mix chargers, so a large dataset is
split into buckets of chargers, contiguous in charger id, and each bucket is read and analysed on its
own, one after another; the results are concatenated. Peak memory then follows the rows of one bucket
(about ``rows_per_bucket``), whatever the size of the dataset.

Why buckets and not Polars' streaming engine: the sessioniser needs as-of joins, windows over each
charger and sorts, which the streaming engine runs in memory over their whole input, so its peak
grows with the dataset. Why contiguous ranges of ids (not a hash): a compacted store is sorted by
charger, so the reader skips the row groups of the other buckets by their statistics.

A store in arrival order has every charger in every part: a bucket that filters the dataset reads
all of it, so n buckets read it n times (time growing with rows²), and an analysis whose plan scans
its input k times (priced sessions: three) reads it n·k times. When that costs more than splitting
(``spills``: a cost model on the footers' charger statistics), the dataset is read ONCE and split into
a temporary file per bucket (only the columns the analysis reads, as Polars' own projection pushdown
names them: ``reads_of``), and each bucket scans its file. A store compacted by charger is filtered:
each bucket reads only its own row groups.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

#: Rows analysed at once (sessions of 6M rows peak at about 0.8 GiB, the whole process).
ROWS_PER_BUCKET = 8_000_000
#: What splitting the data into per-bucket files costs, in reads of every row of the columns an
#: analysis reads (``spills``): the split reads them (a quarter again from 17 buckets on) and writes
#: them. Measured in arrival order: 59.9M rows in 8 buckets, sessions (one scan a bucket: 8 filtered
#: reads against 8 + 1) 15.2 s filtering, 15.5 s through files; priced sessions (three scans: 24
#: against 8 + 3) 32.5 s, 20.4 s; 199.9M rows in 25 buckets, sessions 106 s, 57 s; priced 256 s, 83 s.
SPLIT_READS = 8
#: Bucket files one read writes at once (``_spill``).
OPEN_FILES = 16

Columns = Sequence[str | pl.Expr]
#: The plans of what an analysis reads of a bucket's rows, when its own plan cannot show them
#: (``in_charger_buckets(reading=)``, ``reads_of``).
Reading = Callable[[pl.LazyFrame], Sequence[pl.LazyFrame]]

#: Told as a read splits the data into bucket files (``bucket_sources``): rows read so far, and at
#: most how many it reads (from the footers, every round counted; None when unknown). The last call
#: gives the rows read as both.
Splitting = Callable[[int, int | None], None]


def charger_ranges(lf: pl.LazyFrame, rows_per_bucket: int = ROWS_PER_BUCKET) -> list[tuple[str, str]]:
    """Contiguous (first, last) charger ids, each range holding about ``rows_per_bucket`` rows.

    None (no split) when the whole dataset fits, and when it holds MQTT rows: evcc and go-e rows are
    grouped by device and loadpoint, not by ``charger_id``. Rows without a charger id are in no range."""
    return _ends(_charger_buckets(lf, rows_per_bucket))


def _ends(ids: list[list[str]]) -> list[tuple[str, str]]:
    """The (first, last) charger id of each bucket of ``ids``."""
    return [(held[0], held[-1]) for held in ids]


def _charger_buckets(lf: pl.LazyFrame, rows_per_bucket: int) -> list[list[str]]:
    """The charger ids of each range of ``charger_ranges``, in order."""
    from evkit.store.frame_facts import none_match, rows_at_most

    # a narrow read (a few chargers) is bounded from its footers: counting would read it
    bound = rows_at_most(lf)
    if bound is not None and bound <= rows_per_bucket:
        return []
    if lf.select(pl.len()).collect().item() <= rows_per_bucket:
        return []
    mqtt = pl.col("kind") == "mqtt"
    if none_match(lf, mqtt):  # the footers' statistics tell: the kinds need not be read
        mqtt = pl.lit(False)
    counts = (
        lf.group_by("charger_id")
        .agg(pl.len().alias("n"), mqtt.any().alias("mqtt"))
        .sort("charger_id", nulls_last=True)
        .collect()
    )
    if counts["mqtt"].any():
        return []
    counts = counts.drop_nulls("charger_id")  # Easee rows without a charger: no session has them
    return _balanced(counts["charger_id"].to_list(), counts["n"].to_list(), rows_per_bucket)


def _balanced(chargers: list[str], rows: list[int], rows_per_bucket: int) -> list[list[str]]:
    """``chargers`` (in order, with their ``rows``) in contiguous buckets of about equal rows: as many
    as ``rows_per_bucket`` asks (the total over it, rounded up), each closed once it holds its share
    of the total, so the largest is not the first ones' ``rows_per_bucket`` beside a small rest (6M
    rows in buckets of 4M: 3M and 3M, not 4M and 2M; memory follows the largest)."""
    total = sum(rows)
    share = -(-total // max(1, -(-total // rows_per_bucket)))  # the total over the buckets, rounded up
    found: list[list[str]] = []
    held: list[str] = []
    count = 0
    for charger, n in zip(chargers, rows, strict=True):
        held.append(charger)
        count += n
        if count >= share:
            found.append(held)
            held, count = [], 0
    if held:
        found.append(held)
    return found


class Filters(list[pl.Expr | None]):
    """What ``bucket_filters`` gives: each bucket's row filter, and (``ids``) each charger bucket's
    charger ids, with which a split finds every row's bucket in one lookup (``_placer``) instead of
    trying each filter in turn."""

    def __init__(self, filters: list[pl.Expr | None], ids: list[list[str]] | None = None) -> None:
        super().__init__(filters)
        self.ids = ids


def bucket_filters(lf: pl.LazyFrame, rows_per_bucket: int, *, chargerless: bool = False) -> Filters:
    """The buckets' row filters: ``[None]`` (one bucket, the whole data), or one per charger range,
    plus (``chargerless``) one for the rows without a charger when there are any."""
    from evkit.store.frame_facts import any_match

    ids = _charger_buckets(lf, rows_per_bucket)
    if not ids:
        return Filters([None])
    filters: list[pl.Expr | None] = [
        pl.col("charger_id").is_between(pl.lit(first), pl.lit(last)) for first, last in _ends(ids)
    ]
    # a store's footers tell without a read (``any_match``)
    if chargerless and any_match(lf, pl.col("charger_id").is_null()):
        filters.append(pl.col("charger_id").is_null())
    return Filters(filters, ids if lf.collect_schema().get("charger_id") == pl.String else None)


#: Where a split writes each bucket (bucket index -> file index); the expression giving a row's file.
Placer = Callable[[dict[int, int]], pl.Expr]


def _placer(filters: Sequence[pl.Expr | None]) -> Placer | None:
    """How to find each row's file at once, for ``bucket_filters``' filters (None: try each filter)."""
    ids = filters.ids if isinstance(filters, Filters) else None
    if ids is None:
        return None
    chargerless = len(ids) if len(filters) > len(ids) else None  # the last filter, when there is one
    # Each id's position among all of them (an enum's code: a cast Polars streams; ``replace_strict``
    # held the whole read in memory, 9.4 GB at 60M rows), then its file from a table of positions.
    # An id the counts did not see would be in no bucket; there is none, the split reads the parts
    # the counts read. 60M rows, 20 buckets: 15.7 s a read, against 23.1 s trying each filter.
    code = pl.col("charger_id").cast(pl.Enum([c for held in ids for c in held]), strict=False).to_physical()

    def place(file_of: dict[int, int]) -> pl.Expr:
        files = [file_of.get(b) for b, held in enumerate(ids) for _ in held]
        at = pl.lit(pl.Series(files, dtype=pl.Int64)).gather(code)
        if chargerless is not None and chargerless in file_of:
            at = (
                pl.when(pl.col("charger_id").is_null())
                .then(pl.lit(file_of[chargerless], pl.Int64))
                .otherwise(at)
            )
        return at

    return place


@dataclass(frozen=True)
class Reads:
    """What an analysis reads of its input: ``columns`` (in the input's order) and how many times
    its plan ``scans`` the input (Polars shares a scan between branches only when they read alike)."""

    columns: list[str]
    scans: int


def reads_of(
    analyse: Callable[[pl.LazyFrame], pl.LazyFrame | Sequence[pl.LazyFrame]], lf: pl.LazyFrame
) -> Reads:
    """What ``analyse`` (one query, or several collected together) reads of ``lf``, as Polars'
    optimiser decides it (projection pushdown, shared scans): ``analyse`` runs once on an empty
    stand-in with ``lf``'s schema whose reader records each scan. ``analyse`` must be a lazy plan
    (what it reads may not depend on the data)."""
    from polars.io.plugins import register_io_source

    schema = lf.collect_schema()
    asked: list[list[str]] = []

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        asked.append(schema.names() if with_columns is None else with_columns)
        empty = pl.DataFrame(schema=schema)
        yield empty if with_columns is None else empty.select(with_columns)

    plans = analyse(register_io_source(source, schema=schema))
    pl.collect_all([plans] if isinstance(plans, pl.LazyFrame) else list(plans))
    read = {name for names in asked for name in names}
    return Reads([name for name in schema.names() if name in read], len(asked))


def spills(filters: Sequence[pl.Expr | None], reads: Reads, lf: pl.LazyFrame | None = None) -> bool:
    """Whether the buckets should read per-bucket files rather than filter ``lf``: when the filtered
    reads (each bucket's ``reads.scans`` reads of the row groups whose charger statistics may hold its
    chargers, from ``lf``'s footers; all of them when unknown) would read more rows than the split
    (``SPLIT_READS`` reads of every row) and then the files (``reads.scans`` reads of every row).

    In arrival order every row group holds every charger: files from ``scans·(n - 1) >= SPLIT_READS``
    (sessions of 200M rows in 25 buckets, priced sessions from 8 buckets, latency). Compacted by
    charger, a bucket reads about its own groups: filters, however many buckets."""
    n, scans = len(filters), reads.scans
    if n < 2 or scans * n < SPLIT_READS + scans:  # not even when every bucket reads every row
        return False
    ids = filters.ids if isinstance(filters, Filters) else None
    if lf is None or ids is None:
        return True
    from evkit.store.frame_facts import rows_per_charger_range

    counted = rows_per_charger_range(lf, _ends(ids))
    if counted is None:
        return True
    whole, per_bucket = counted
    # rows without a charger (the last filter, when there is one) are filtered from every group
    filtered = sum(per_bucket) + whole * (n - len(ids))
    return scans * filtered >= (SPLIT_READS + scans) * whole


def _spill(
    lf: pl.LazyFrame,
    filters: list[pl.Expr | None],
    columns: Columns,
    tmp: Path,
    tally: _Tally | None = None,
) -> list[pl.LazyFrame]:
    """``lf``'s ``columns`` split into a file per bucket (``filters``' order kept); a scan of each, with
    ``lf``'s schema (a column not written is there for the schema only: reading it is an error).

    One read of ``lf`` writes at most ``OPEN_FILES`` files at once (each open file holds its buffers,
    ~12 MB measured, and 50 at once took a 200M-row latency run from 1.08 to 1.63 GB): more buckets
    are split in rounds, some buckets first with groups of the others, then each group's file into
    its buckets (``_layout``)."""
    schema = lf.collect_schema()
    names = lf.select(columns).collect_schema().names()
    whole = [pl.col(n) if n in names else _unwritten(n, dtype) for n, dtype in schema.items()]
    split = _split(lf.select(columns), filters, tmp, tally, place=_placer(filters))
    return [rows.select(whole) if rows is not None else lf.filter(pl.lit(False)) for rows in split]


def _unwritten(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column of the schema whose values were not written: projection pushdown drops it unless a
    query reads it, and then it fails loudly instead of giving nulls."""

    def fail(_: pl.Series) -> pl.Series:
        raise RuntimeError(
            f"evkit: the analysis read column {name!r}, which was not written to its bucket files "
            "(its plan reads differently than probed: see evkit.analysis.buckets.reads_of)"
        )

    return pl.lit(None, dtype).map_batches(fail, return_dtype=dtype).alias(name)


def _layout(buckets: int) -> tuple[int, list[int]]:
    """How one read splits ``buckets`` buckets into at most ``OPEN_FILES`` files: the first buckets
    written to their own file, then groups of the others (their sizes), each split again later.

    As few groups as leave each at most ``OPEN_FILES`` buckets, and every other file a bucket of its
    own: 20 buckets are 15 files of one and one of 5, so a quarter of the rows is read twice (two
    groups of 10 read every row twice: 38 of a 60M-row report's 64 s went to splitting)."""
    if buckets <= OPEN_FILES:
        return buckets, []
    groups = next(
        (g for g in range(1, OPEN_FILES) if buckets - (OPEN_FILES - g) <= g * OPEN_FILES), OPEN_FILES
    )
    direct = OPEN_FILES - groups
    grouped = buckets - direct
    return direct, [grouped // groups + (1 if g < grouped % groups else 0) for g in range(groups)]


def _reads(buckets: int) -> int:
    """How many times ``_split`` reads buckets' rows for ``buckets`` buckets, all rounds counted."""
    direct, groups = _layout(buckets)
    return direct + sum(size + _reads(size) for size in groups)


class _Tally:
    """The rows a split has read, told to ``tell`` as each batch passes (see ``Splitting``)."""

    def __init__(self, tell: Splitting, total: int | None) -> None:
        self.tell, self.total, self.done = tell, total, 0

    def count(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.done += batch.height
        self.tell(self.done if self.total is None else min(self.done, self.total), self.total)
        return batch

    def finish(self) -> None:
        self.tell(self.done, self.done)


def _split(
    lf: pl.LazyFrame,
    filters: list[pl.Expr | None],
    tmp: Path,
    tally: _Tally | None = None,
    *,
    place: Placer | None = None,
    buckets: list[int] | None = None,
) -> list[pl.LazyFrame | None]:
    """A scan of each bucket's rows of ``lf`` (None: no rows), written in rounds of ``OPEN_FILES``;
    ``buckets``: the indices ``place`` knows the filters' buckets by (default: their positions)."""
    buckets = list(range(len(filters))) if buckets is None else buckets
    direct, sizes = _layout(len(filters))
    if not sizes:
        return _write_buckets(lf, filters, tmp, tally, _at(place, [[b] for b in buckets]))
    starts = [direct + sum(sizes[:g]) for g in range(len(sizes))]
    spans = [slice(first, first + size) for first, size in zip(starts, sizes, strict=True)]
    either = [pl.any_horizontal([w for w in filters[span] if w is not None]) for span in spans]
    files = [[b] for b in buckets[:direct]] + [buckets[span] for span in spans]
    written = _write_buckets(lf, [*filters[:direct], *either], tmp, tally, _at(place, files))
    scans: list[pl.LazyFrame | None] = written[:direct]
    for index, (rows, span) in enumerate(zip(written[direct:], spans, strict=True), start=direct):
        if rows is None:
            scans.extend([None] * len(filters[span]))
        else:
            scans.extend(
                _split(rows, filters[span], tmp / f"group={index}", tally, place=place, buckets=buckets[span])
            )
            shutil.rmtree(tmp / f"__bucket={index}")  # split: the group's file is no longer read
    return scans


def _at(place: Placer | None, files: list[list[int]]) -> pl.Expr | None:
    """Each row's file, where file ``i`` holds the buckets ``files[i]`` (None: no ``place``)."""
    return None if place is None else place({b: i for i, held in enumerate(files) for b in held})


def _write_buckets(
    lf: pl.LazyFrame,
    filters: Sequence[pl.Expr | None],
    tmp: Path,
    tally: _Tally | None = None,
    at: pl.Expr | None = None,
) -> list[pl.LazyFrame | None]:
    """One read of ``lf`` into ``tmp/__bucket=i`` per filter (a row goes to the first that admits it,
    or to the file ``at`` names); ``tally`` counts the rows read as they stream past (a batch at a
    time: no cost measured)."""
    if at is None:
        at = pl.lit(None, dtype=pl.Int64)
        for index, where in reversed(list(enumerate(filters))):
            if where is not None:
                at = pl.when(where).then(pl.lit(index, dtype=pl.Int64)).otherwise(at)
    rows = lf.with_columns(at.alias("__bucket"))
    if tally is not None:
        rows = rows.map_batches(tally.count, streamable=True, schema=rows.collect_schema())
    rows.drop_nulls("__bucket").sink_parquet(
        pl.PartitionBy(tmp, key="__bucket", include_key=False), mkdir=True, compression="lz4"
    )
    folders = [tmp / f"__bucket={index}" for index in range(len(filters))]
    return [pl.scan_parquet(f / "*.parquet") if f.exists() else None for f in folders]


@contextmanager
def bucket_sources(
    lf: pl.LazyFrame,
    filters: list[pl.Expr | None],
    columns: Columns | None = None,
    *,
    spill: bool | None = None,
    splitting: Splitting | None = None,
) -> Iterator[list[pl.LazyFrame]]:
    """Each bucket's rows (``filters`` from ``bucket_filters``), valid inside the ``with``: ``lf``
    itself (one bucket), ``lf`` filtered, or (``spill``; default: ``spills`` for one read of each
    bucket) scans of per-bucket temporary files written in one read of ``lf``'s ``columns`` (default
    all), unless the temporary folder lacks room for them (``_room``); the files go when the block
    ends. ``splitting`` hears the rows that read has done (see ``Splitting``; nothing when there are
    no files to write)."""
    if spill is None:
        spill = spills(filters, Reads([], 1), lf)
    if not spill or len(filters) == 1 or not _room(lf, columns):
        yield [lf if where is None else lf.filter(where) for where in filters]
        return
    tally = None
    if splitting is not None:
        from evkit.store.frame_facts import rows_bound

        # buckets hold about as many rows each (``charger_ranges``): the split reads about this many
        bound = rows_bound(lf)
        reads = _reads(len(filters))
        tally = _Tally(splitting, None if bound is None else bound * reads // len(filters))
    from evkit.store.scratch import scratch_dir

    with scratch_dir() as tmp:
        names = columns if columns is not None else lf.collect_schema().names()
        sources = _spill(lf, filters, names, tmp, tally)
        if tally is not None:
            tally.finish()
        yield sources


def _room(lf: pl.LazyFrame, columns: Columns | None) -> bool:
    """Whether the temporary folder has room for the bucket files of ``columns`` (all: None); when it
    has not, the buckets filter the data instead (slower, but no run fails for a full disk), said."""
    from evkit.store.frame_facts import stored_bytes_of
    from evkit.store.scratch import has_room

    if columns is None:
        names = lf.collect_schema().names()
    else:  # a column, or an expression of the columns it reads
        names = [n for c in columns for n in ([c] if isinstance(c, str) else c.meta.root_names())]
    stored = stored_bytes_of(lf, names)
    return stored is None or has_room(stored, "each bucket reads the data instead")


def in_charger_buckets(
    lf: pl.LazyFrame,
    analyse: Callable[[pl.LazyFrame], pl.LazyFrame],
    rows_per_bucket: int = ROWS_PER_BUCKET,
    *,
    progress: Callable[[int, int], None] | None = None,
    splitting: Splitting | None = None,
    reading: Reading | None = None,
) -> pl.DataFrame:
    """``analyse(lf).collect()``, computed bucket by bucket of chargers (see the module docstring).

    ``analyse`` must treat every charger on its own (its result for one charger may depend only on
    that charger's rows), as ``evkit.analysis.sessions`` does, and be a lazy plan (``reads_of``), or
    else ``reading`` gives the plans of what it reads (an ``analyse`` that collects inside, such as
    pricing: its plan does not show those reads).
    ``progress`` hears (buckets done, buckets in all) before the first and after each (nothing when
    the data is one bucket); ``splitting`` the rows read while the buckets go to files, if they do.
    Each bucket's plan runs on Polars' default engine, the streaming one: it ran the sessions of
    every shape of store as fast as the in-memory engine or faster, with less memory (Polars 2.2,
    ``benchmarks/RESULTS.md``)."""

    def collected(rows: pl.LazyFrame) -> pl.DataFrame:
        return analyse(rows).collect()

    filters = bucket_filters(lf, rows_per_bucket)
    if filters[0] is None:  # one bucket: the whole data
        return collected(lf)
    tell = progress or (lambda _done, _total: None)
    reads = reads_of(reading or analyse, lf)
    done = []
    with bucket_sources(
        lf, filters, reads.columns, spill=spills(filters, reads, lf), splitting=splitting
    ) as sources:
        tell(0, len(filters))  # after the split into files, if any: it has its own word
        for rows in sources:
            done.append(collected(rows))
            tell(len(done), len(filters))
    return pl.concat(done, how="vertical")


__all__ = [
    "ROWS_PER_BUCKET",
    "SPLIT_READS",
    "Filters",
    "Reading",
    "Reads",
    "Splitting",
    "bucket_filters",
    "bucket_sources",
    "charger_ranges",
    "in_charger_buckets",
    "reads_of",
    "spills",
]
