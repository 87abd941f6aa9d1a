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
from evkit.analysis.latency import PERCENTILES, long_latencies
from evkit.analysis.latency_buckets import hop_histograms, stats_table, sums_of
from evkit.figures.latency import ECDF_POINTS, EcdfCurve, _hop_order, ecdf_ranks, log_axis

_HOP = ["hop"]
_HEAT = ["_day", "_hod"]
_POSITIVE = "\x00positive"  # a hop name no data has: the positive values of every hop
#: The heatmap's hop and percentile (as ``evkit.figures.latency.latency_heatmap``'s defaults).
HEAT_HOP = "end_to_end"
HEAT_Q = 0.95


def _positive(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col("__us") > 0).with_columns(pl.lit(_POSITIVE).alias("hop"))


def _heat(frame: pl.LazyFrame) -> pl.LazyFrame:
    hour = pl.col("hour").dt.convert_time_zone("UTC")
    return frame.filter(pl.col(HEAT_HOP).is_not_null()).select(
        hour.dt.date().alias("_day"), hour.dt.hour().alias("_hod"), pl.col(HEAT_HOP).alias("__us")
    )


def pass1(frame: pl.LazyFrame) -> list[pl.LazyFrame]:
    """The bucket's histograms (``frame``: its ``hop_latencies``): per hop, and per heatmap cell."""
    return [hop_histograms(frame), ranks.histogram(_heat(frame), _HEAT)]


def _positive_hist(hops: pl.DataFrame) -> pl.DataFrame:
    """The histogram of the positive values of every hop, from the hops' (bins above 0 hold them)."""
    return (
        hops.filter(pl.col("__bin") > 0)
        .group_by("__bin")
        .agg(pl.col("__count").sum(), pl.col("__lo").min(), pl.col("__hi").max(), pl.col("__sum").sum())
        .with_columns(pl.lit(_POSITIVE).alias("hop"))
        .select(hops.columns)
    )


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


def plan(parts: list[list[pl.DataFrame]]) -> Plan:
    """Merge the buckets' ``pass1`` results and find the ranks to read."""
    merged = ranks.merge([p[0] for p in parts], _HOP)
    hops = ranks.merge([merged.drop("__before"), _positive_hist(merged.drop("__before"))], _HOP)
    heat = ranks.merge([p[1] for p in parts], _HEAT)
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
        located_hops=located_hops,
        located_ecdf=ranks.locate(hops, _ecdf_wanted(n), _HOP),
        located_heat=located_heat,
        targets_hops=ranks.targets(located_hops, _HOP),
        targets_heat=ranks.targets(located_heat, _HEAT),
    )


def pass2(frame: pl.LazyFrame, plan: Plan) -> list[pl.LazyFrame]:
    """The bucket's values (``frame``: its ``hop_latencies``) in the bins ``plan`` must read (hops with
    positives, heatmap cells)."""
    long = long_latencies(frame, ["hour"])
    hops = pl.concat([long, _positive(long)])
    return [
        ranks.values_in(hops, plan.targets_hops, _HOP),
        ranks.values_in(_heat(frame), plan.targets_heat, _HEAT),
    ]


@dataclass
class LatencyResult:
    """What the latency section draws: ``latency_stats``' table, the ECDF and the heatmap's cells."""

    stats: pl.DataFrame
    curves: list[EcdfCurve]
    log_x: bool
    data_min: float | None
    heat_cells: pl.DataFrame


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
    curves = []
    by_hop = {row["hop"]: row for row in stats.iter_rows(named=True)}
    for hop in _hop_order(list(by_hop)):
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
            )
        )
    cells = (
        ranks.percentiles(plan.heat_ranks, heat_picked, _HEAT)
        .join(plan.heat_n, on=_HEAT)
        .select(pl.col("_day").alias("row"), "_hod", (pl.col("q") / 1e6).alias("q"), "n")
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
    )


__all__ = ["HEAT_HOP", "HEAT_Q", "LatencyResult", "Plan", "finish", "pass1", "pass2", "plan"]
