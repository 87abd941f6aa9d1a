"""The report's latency numbers from charger buckets: the statistics table, the ECDF's curves and the
heatmap's cells, in two passes over the buckets (``evkit.analysis.ranks``).

Pass 1 (``pass1``, per bucket): histograms per hop, per positive value (the ECDF's log-axis test) and
per (UTC day, hour) of ``end_to_end`` (the heatmap), plus per-hop sums. ``plan`` merges them and finds
the ranks every number needs; pass 2 (``pass2``, per bucket) returns only the values of the crowded
bins the percentiles' ranks fall in; ``finish`` gives what ``latency_stats`` and ``latency_heatmap``
would give on the whole data, exactly, and the curves of ``latency_ecdf`` with each point read off
its bin (``ranks.interpolated``: within 0.8 % of the value, the minimum and maximum exact;
``tests/report/test_report_data.py``). Reading the ECDF's points exactly cost nearly every value of
the data: with varied latencies its 800 ranks per hop fall in nearly every bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evkit.analysis import ranks
from evkit.analysis.ecdf import ECDF_POINTS, MAX_HEAT_DAYS, EcdfCurve, ecdf_ranks, hop_order, log_axis
from evkit.analysis.exact import divided
from evkit.analysis.latency import PERCENTILES
from evkit.analysis.latency_buckets import hop_histograms, stats_table, sums_of
from evkit.analysis.schema import ALL_HOPS

_HOP = ["hop"]
_HEAT = ["_day", "_hod"]
_POSITIVE = "\x00positive"  # a hop name no data has: the positive values of every hop
#: The heatmap's hop and percentile (as ``evkit.figures.latency.latency_heatmap``'s defaults).
HEAT_HOP = "end_to_end"
HEAT_Q = 0.95


_US_PER_HOUR = 3_600_000_000


def _heat(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The heatmap's values: UTC day, hour of day and ``end_to_end`` latency. The day and hour come
    from the epoch's microseconds by floor division (a time zone's calendar per value cost 0.14 s a
    3M-message bucket, in each pass)."""
    hours = pl.col("hour").dt.epoch("us") // _US_PER_HOUR
    days = hours // 24
    return frame.filter(pl.col(HEAT_HOP).is_not_null()).select(
        days.cast(pl.Int32).cast(pl.Date).alias("_day"),
        (hours - days * 24).cast(pl.Int8).alias("_hod"),
        pl.col(HEAT_HOP).alias("__us"),
    )


def pass1(frame: pl.LazyFrame) -> list[pl.LazyFrame]:
    """The bucket's histograms (``frame``: its ``hop_latencies``): per hop, and per heatmap cell. The
    heatmap's hop is its cells' summed: one pass over a bucket's values less (0.07 s of 3M)."""
    heat = ranks.histogram(_heat(frame), _HEAT).cache()
    return [hop_histograms(frame, known={HEAT_HOP: ranks.coarser(heat, [])}), heat]


def _positive_hist(hops: pl.DataFrame) -> pl.DataFrame:
    """The histogram of the positive values of every hop, from the hops' (bins above 0 hold them)."""
    positive = hops.filter(pl.col("__bin") > 0).drop("hop")
    return ranks.summed([positive], []).with_columns(pl.lit(_POSITIVE).alias("hop")).select(hops.columns)


@dataclass
class Plan:
    """Merged histograms, the ranks wanted and the bins pass 2 must read."""

    hops: pl.DataFrame
    sums: pl.DataFrame
    n: pl.DataFrame
    stat_ranks: pl.DataFrame
    positive_ranks: pl.DataFrame
    heat_ranks: pl.DataFrame
    heat_n: pl.DataFrame
    #: UTC days with heatmap values in all (the histogram holds the newest ``MAX_HEAT_DAYS``)
    heat_days: int
    located_hops: pl.DataFrame
    located_ecdf: pl.DataFrame
    located_heat: pl.DataFrame
    targets_hops: pl.DataFrame
    targets_heat: pl.DataFrame

    @property
    def needs_pass2(self) -> bool:
        return bool(self.targets_hops.height or self.targets_heat.height)


def _ecdf_wanted(n: pl.DataFrame) -> pl.DataFrame:
    frames = [
        pl.DataFrame({"hop": hop, "__rank": ecdf_ranks(count, ECDF_POINTS)})
        for hop, count in n.select("hop", "n").iter_rows()
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema={"hop": pl.String, "__rank": pl.Int64})


def _days_of(part: list[pl.DataFrame]) -> pl.DataFrame:
    """The UTC days with heatmap values of a ``pass1`` result (or of a ``fold``: kept beside)."""
    return part[2] if len(part) > 2 else part[1].select(pl.col("_day").unique())


def _newest_days(heat: pl.DataFrame) -> pl.DataFrame:
    """The heatmap's histogram of its newest ``MAX_HEAT_DAYS`` days, the ones the figure draws: kept
    whole (every bucket's share of a kept day is summed in, since a day among the newest of all is
    among the newest of any part), the rest dropped, so the histogram stops growing after a year."""
    days = heat.get_column("_day").unique()
    if days.len() <= MAX_HEAT_DAYS:
        return heat
    return heat.filter(pl.col("_day") >= days.sort().item(-MAX_HEAT_DAYS))


def fold(running: list[pl.DataFrame] | None, part: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """The ``pass1`` histograms of the buckets so far (``running``) with one more bucket's summed:
    ``plan([folded])`` equals ``plan`` of every bucket's, and memory holds one set of histograms,
    not one a bucket (the heatmap's are a cell per day, hour and bin: 18 MB for a 3.6M-row bucket of
    a month, 290 MB for 49M rows kept until the end). The heatmap's keeps only the days it draws
    (``_newest_days``: a year's at most, whatever the data's span), and the days seen beside it."""
    days = _days_of(part)
    if running is None:
        return [part[0], _newest_days(part[1]), days]
    hops = ranks.summed([running[0], part[0]], _HOP)
    heat = ranks.summed([running[1], part[1]], _HEAT)
    return [hops, _newest_days(heat), pl.concat([running[2], days]).unique()]


def plan(parts: list[list[pl.DataFrame]]) -> Plan:
    """Merge the buckets' ``pass1`` results and find the ranks to read."""
    merged = ranks.merge([p[0] for p in parts], _HOP)
    hops = ranks.merge([merged.drop("__before"), _positive_hist(merged.drop("__before"))], _HOP)
    heat = _newest_days(ranks.merge([p[1] for p in parts], _HEAT))
    heat_days = pl.concat([_days_of(p) for p in parts]).n_unique() if parts else 0
    sums = sums_of(merged, _HOP)
    n_all = ranks.counts(hops, _HOP)
    n = n_all.filter(pl.col("hop") != _POSITIVE)
    stat_ranks = ranks.percentile_ranks(n, _HOP, PERCENTILES)
    positive_ranks = ranks.percentile_ranks(
        n_all.filter(pl.col("hop") == _POSITIVE), _HOP, {"p1": 0.01, "p99": 0.99}
    )
    heat_n = ranks.counts(heat, _HEAT)
    heat_ranks = ranks.percentile_ranks(heat_n, _HEAT, {"q": HEAT_Q})
    wanted = pl.concat([ranks.wanted_of(stat_ranks, _HOP), ranks.wanted_of(positive_ranks, _HOP)]).unique()
    located_hops = ranks.locate(hops, wanted, _HOP)
    located_heat = ranks.locate(heat, ranks.wanted_of(heat_ranks, _HEAT), _HEAT)
    return Plan(
        hops=hops,
        sums=sums,
        n=n,
        stat_ranks=stat_ranks,
        positive_ranks=positive_ranks,
        heat_ranks=heat_ranks,
        heat_n=heat_n,
        heat_days=heat_days,
        located_hops=located_hops,
        located_ecdf=ranks.locate(hops, _ecdf_wanted(n), _HOP),
        located_heat=located_heat,
        targets_hops=ranks.targets(located_hops, _HOP),
        targets_heat=ranks.targets(located_heat, _HEAT),
    )


def _ranges(located: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The crowded bins ranks fall in (``ranks.targets``) with their merged range ``__lo``..``__hi``:
    a value between them lies in the bin (bins are ranges of the integers, in order)."""
    return located.filter(pl.col("__lo") != pl.col("__hi")).select(*keys, "__bin", "__lo", "__hi").unique()


def _in_ranges(value: pl.Expr, ranges: pl.DataFrame) -> pl.Expr:
    return pl.any_horizontal(
        [value.is_between(lo, hi) for lo, hi in ranges.select("__lo", "__hi").iter_rows()]
    )


def _counted(values: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """``ranks.values_in``'s columns: per key, bin and distinct value, how often it occurs."""
    return values.group_by(
        *keys, ranks.bin_of(pl.col("__us")).alias("__bin"), pl.col("__us").alias("__value")
    ).agg(pl.len().cast(pl.Int64).alias("__n"))


def _hop_values(wide: pl.LazyFrame, plan: Plan) -> pl.LazyFrame:
    """Pass 2 of the hops' percentiles on a bucket's ``hop_latencies``: each hop column filtered to
    its crowded bins' ranges (a handful), the positive pseudo-hop's from every hop. No long form of
    every value and no bin of each: 0.8-0.9 s -> 0.15 s for 3M messages."""
    ranges = _ranges(plan.located_hops, _HOP)
    present = [h for h in ALL_HOPS if h in wide.collect_schema().names()]
    picked = []
    for hop, bins in ranges.group_by("hop", maintain_order=True):
        name = str(hop[0])
        for column in present if name == _POSITIVE else [name] if name in present else []:
            value = wide.select(pl.lit(name).alias("hop"), pl.col(column).alias("__us"))
            picked.append(value.filter(_in_ranges(pl.col("__us"), bins)))
    if not picked:
        return pl.LazyFrame(
            schema={"hop": pl.String, "__bin": pl.Int64, "__value": pl.Int64, "__n": pl.Int64}
        )
    return _counted(pl.concat(picked, how="vertical"), _HOP)


def _heat_values(wide: pl.LazyFrame, plan: Plan) -> pl.LazyFrame:
    """Pass 2 of the heatmap's cells: each value kept when in its cell's crowded bins, found by one
    join on the cell to the range those bins span, then the bins themselves."""
    ranges = _ranges(plan.located_heat, _HEAT)
    span = ranges.group_by(_HEAT).agg(pl.col("__lo").min(), pl.col("__hi").max())
    near = (
        _heat(wide).join(span.lazy(), on=_HEAT, how="inner").filter(pl.col("__us").is_between("__lo", "__hi"))
    )
    found = _counted(near, _HEAT)
    return found.join(ranges.lazy().select(*_HEAT, "__bin"), on=[*_HEAT, "__bin"], how="semi")


def pass2(frame: pl.LazyFrame, plan: Plan) -> list[pl.LazyFrame]:
    """The bucket's values (``frame``: its ``hop_latencies``) in the bins ``plan`` must read (hops with
    positives, heatmap cells), counted (as ``ranks.values_in``)."""
    return [_hop_values(frame, plan), _heat_values(frame, plan)]


@dataclass
class LatencyResult:
    """What the latency section draws: ``latency_stats``' table, the ECDF and the heatmap's cells."""

    stats: pl.DataFrame
    curves: list[EcdfCurve]
    log_x: bool
    data_min: float | None
    heat_cells: pl.DataFrame
    #: UTC days with heatmap values in all (``heat_cells`` holds the newest ``MAX_HEAT_DAYS``)
    heat_days: int = 0


def finish(plan: Plan, found: list[list[pl.DataFrame]]) -> LatencyResult:
    """The numbers, from ``plan`` and every bucket's ``pass2`` (an empty list without pass 2)."""
    picked = ranks.pick(plan.located_hops, [f[0] for f in found], _HOP)
    heat_picked = ranks.pick(plan.located_heat, [f[1] for f in found], _HEAT)
    stats = stats_table(plan.n, plan.sums, ranks.percentiles(plan.stat_ranks, picked, _HOP), _HOP)
    positive = ranks.percentiles(plan.positive_ranks, picked, _HOP)
    low = positive["p1"][0] if positive.height else None
    high = positive["p99"][0] if positive.height else None
    drawn = ranks.interpolated(plan.located_ecdf, plan.hops, _HOP)
    at = {(h, r): v for h, r, v in drawn.select("hop", "__rank", "__value").iter_rows()}
    # the hops with a point inside a bin of unequal values: its latency is interpolated, not exact
    read_off = set(plan.located_ecdf.filter(pl.col("__lo") != pl.col("__hi"))["hop"])
    curves = []
    by_hop = {row["hop"]: row for row in stats.iter_rows(named=True)}
    for hop in hop_order(list(by_hop)):
        row = by_hop[hop]
        count = int(row["n"])
        wanted = ecdf_ranks(count, ECDF_POINTS)
        curves.append(
            EcdfCurve(
                hop=hop,
                n=count,
                x=[at[(hop, r)] / 1e6 for r in wanted.to_list()],
                y=((wanted + 1) / count).to_list(),
                p50=row["p50_s"],
                p95=row["p95_s"],
                negative=int(row["negative_n"]),
                minimum=row["min_s"],
                approximate=hop in read_off,
            )
        )
    cells = (
        ranks.percentiles(plan.heat_ranks, heat_picked, _HEAT)
        .join(plan.heat_n, on=_HEAT)
        .select(pl.col("_day").alias("row"), "_hod", divided(pl.col("q"), 1e6).alias("q"), "n")
        if plan.heat_ranks.height
        else pl.DataFrame(schema={"row": pl.Date, "_hod": pl.Int8, "q": pl.Float64, "n": pl.Int64})
    )
    data_min = stats["min_s"].min() if stats.height else None
    return LatencyResult(
        stats=stats,
        curves=curves,
        log_x=log_axis(low, high),
        data_min=data_min,  # type: ignore[arg-type]
        heat_cells=cells,
        heat_days=plan.heat_days,
    )


__all__ = ["HEAT_HOP", "HEAT_Q", "LatencyResult", "Plan", "finish", "fold", "pass1", "pass2", "plan"]
