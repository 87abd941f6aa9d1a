"""Replay a recorded dataset into a broker: MQTT topics or AMQP routing keys, with the original spacing.

Each recorded *message* is published once, byte for byte (``raw``), in ``received_at`` order, spaced
as it arrived (scaled by ``speed``; ``speed=0`` = as fast as the broker confirms). MQTT messages keep
their topic, QoS and retained flag; AMQP messages keep their routing key and headers (``headers``
JSON, else ``ArrivalTime`` from ``arrival_time_raw``). A go-e ``nrg`` message, stored as 16 rows,
is published once. Recording the replay gives the same observations (values, labels, errors, bodies).

Publishers wait for the broker's confirmation (MQTT QoS 1 ``PUBACK``, AMQP publisher confirms), so a
replay that finishes has delivered everything to the broker.

Every value a replay will publish is decoded before its first message goes out, so a data page that
cannot be read (bytes damaged behind a sound footer, which no check before a read sees) stops it before
it begins, with Polars' error (``evkit replay`` names the part, exit 2, or with ``--skip-damaged``
replays the rest). A page damaged while the replay runs, or a part a compaction replaced meanwhile,
stops it with a :class:`~evkit.errors.DatasetError` naming the part, how many messages went out and how
to replay the rest (running it again would send them twice).

>>> replay_dataset("data/home", MqttTarget("127.0.0.1"), speed=10)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl

from evkit.errors import ConfigError, DatasetError, first_line
from evkit.replay_targets import AmqpTarget, MqttTarget, Target
from evkit.secrets import mask_secrets
from evkit.store import scan
from evkit.store.pages import is_decoding_error, relative_name, unreadable_parts
from evkit.store.reader import skips_damaged
from evkit.store.schema import REPLAY_MARK
from evkit.timeutil import parse_utc

RetainMode = Literal["as-recorded", "all", "none"]


@dataclass(frozen=True)
class Rewrite:
    """Replace a topic / routing-key prefix (``--rewrite-prefix OLD=NEW``)."""

    old: str
    new: str

    @classmethod
    def parse(cls, text: str) -> Rewrite:
        """``"OLD=NEW"`` -> Rewrite; ConfigError when there is no ``=`` or OLD is empty."""
        old, sep, new = text.partition("=")
        if not sep or not old:
            raise ConfigError(f"--rewrite-prefix wants OLD=NEW, got {text!r}")
        return cls(old, new)


def rewrite_name(name: str, rewrites: Sequence[Rewrite]) -> str:
    """Apply the first rewrite whose ``old`` prefixes ``name``."""
    for rule in rewrites:
        if name.startswith(rule.old):
            return rule.new + name[len(rule.old) :]
    return name


def parse_time(text: str | None) -> datetime | None:
    """ISO date/time (UTC when no zone is given) or None."""
    if text is None:
        return None
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ConfigError(f"not an ISO date/time: {text!r} (e.g. 2026-11-21T18:00:00Z)") from exc


@dataclass(frozen=True)
class Outgoing:
    """One message to publish."""

    offset_s: float  # since the first message of the replay
    name: str  # MQTT topic or AMQP routing key (after rewrites)
    body: bytes
    retained: bool = False
    qos: int = 1
    headers: dict[str, Any] | None = None
    mark: str | None = None  # the replay's mark (its start, ISO UTC): MQTT 5 user property evkit-replay


@dataclass(frozen=True)
class _Selection:
    """The rows to replay (lazy) and how to read them."""

    lf: pl.LazyFrame
    protocol: Literal["mqtt", "amqp"]
    name_column: str
    wanted: list[str]
    identity: list[str]
    columns: set[str]


def _select(
    path: Path | str, protocol: Literal["mqtt", "amqp"], start: datetime | None, end: datetime | None
) -> _Selection:
    lf = scan(path, dedupe=True, require=False)  # replay needs only times, names and bodies
    columns = set(lf.collect_schema().names())
    missing = [c for c in ("received_at", "raw") if c not in columns]
    if missing:
        raise DatasetError(f"{path} cannot be replayed: no {' / '.join(missing)} column")
    name_column = "topic" if protocol == "mqtt" else "routing_key"
    if name_column not in columns:
        raise DatasetError(
            f"no {protocol.upper()} messages to replay in {path}{_other_hint(path, protocol, columns)}"
        )
    lf = lf.filter(pl.col(name_column).is_not_null() & pl.col("received_at").is_not_null())
    if start is not None:
        lf = lf.filter(pl.col("received_at") >= start)
    if end is not None:
        lf = lf.filter(pl.col("received_at") < end)
    wanted = ["received_at", name_column, "raw"]
    if protocol == "mqtt":
        wanted += [c for c in ("retained", "qos") if c in columns]
    else:
        wanted += [c for c in ("headers", "arrival_time_raw") if c in columns]
    identity = [c for c in ("capture_id", "received_at", name_column, "raw") if c in columns]
    return _Selection(lf, protocol, name_column, wanted, identity, columns)


def _frames(selection: _Selection, max_messages: int | None) -> Iterator[pl.DataFrame]:
    """The selection one UTC day at a time (memory stays bounded by a day), in arrival order."""
    days = (
        selection.lf.select(pl.col("received_at").dt.date().unique().sort().alias("day"))
        .collect()
        .get_column("day")
        .to_list()
    )
    remaining = max_messages
    for day in days:
        low = datetime(day.year, day.month, day.day, tzinfo=UTC)
        part = (
            selection.lf.filter(pl.col("received_at").is_between(low, low + timedelta(days=1), closed="left"))
            .with_row_index("__row")
            .sort("received_at", "__row")
        )
        if selection.protocol == "mqtt":  # rows one message produced (go-e nrg fields) -> the message
            part = part.unique(subset=selection.identity, keep="first", maintain_order=True)
        if remaining is not None:
            part = part.head(remaining)
        frame = part.select(selection.wanted).collect()
        if frame.height:
            yield frame
        if remaining is not None:
            remaining -= frame.height
            if remaining <= 0:
                return


def _overview(
    selection: _Selection, max_messages: int | None
) -> tuple[int, datetime | None, datetime | None]:
    """(messages, first received_at, end of the last UTC day the replay reads: None when it reads every
    day) of the selection, without reading bodies."""
    key = [c for c in selection.identity if c != "raw"]
    count = pl.struct(key).n_unique() if selection.protocol == "mqtt" else pl.len()
    days = (
        selection.lf.group_by(pl.col("received_at").dt.date().alias("day"))
        .agg(count.alias("n"), pl.col("received_at").min().alias("first"))
        .sort("day")
        .collect()
    )
    total, earliest = int(days["n"].sum()), days["first"].min()
    first = earliest if isinstance(earliest, datetime) else None
    if max_messages is None or total <= max_messages:
        return total, first, None
    # each message counts on one day (an MQTT message's identity holds its received_at): the days up
    # to the one holding the last message wanted
    before = days["n"].cum_sum() - days["n"]
    last = days.filter(before < max_messages)["day"][-1]
    return max_messages, first, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


def _decodable(selection: _Selection, through: datetime | None) -> None:
    """Decode every value the replay will publish (received before ``through``; None: all), before
    the first message goes out: a data page that cannot be read fails here, with Polars' error,
    instead of after the days before it were published. Streamed, nothing kept: the cost of reading
    the bodies once more, small beside publishing them one by one."""
    rows = selection.lf if through is None else selection.lf.filter(pl.col("received_at") < through)
    columns = dict.fromkeys([*selection.wanted, *selection.identity])
    rows.select(pl.col(name).hash().max() for name in columns).collect()


def load_messages(
    path: Path | str,
    protocol: Literal["mqtt", "amqp"],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    max_messages: int | None = None,
) -> pl.DataFrame:
    """The recorded messages of one protocol, one row per message, in arrival order (all in memory;
    :func:`replay_dataset` reads one day at a time instead).

    MQTT rows are those with a ``topic``; AMQP rows those with a ``routing_key``. Rows that one
    message produced (go-e ``nrg`` fields) are collapsed back into that message.
    """
    selection = _select(path, protocol, start, end)
    frames = list(_frames(selection, max_messages))
    if not frames:
        hint = _other_hint(path, protocol, selection.columns)
        raise DatasetError(f"no {protocol.upper()} messages to replay in {path}{hint}")
    return pl.concat(frames)


def _other_hint(path: Path | str, protocol: str, columns: set[str]) -> str:
    """Tell people when the dataset holds the other protocol's messages."""
    other = "amqp" if protocol == "mqtt" else "mqtt"
    other_column = "routing_key" if other == "amqp" else "topic"
    if other_column not in columns:
        return ""
    count = (
        scan(path, require=False).filter(pl.col(other_column).is_not_null()).select(pl.len()).collect().item()
    )
    if not count:
        return ""
    flag = "--url/--exchange" if other == "amqp" else "--mqtt-host"
    return f" (it holds {count:,} {other.upper()} messages: replay those with {flag})"


def _amqp_headers(headers_text: str | None, arrival_raw: str | None) -> dict[str, Any] | None:
    if headers_text:
        try:
            parsed = json.loads(headers_text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    if arrival_raw:
        return {"ArrivalTime": arrival_raw}
    return None


def outgoing(
    frame: pl.DataFrame,
    protocol: Literal["mqtt", "amqp"],
    rewrites: Sequence[Rewrite] = (),
    retain: RetainMode = "as-recorded",
    origin: datetime | None = None,
    *,
    mark: str | None = None,
) -> Iterator[Outgoing]:
    """The messages of ``frame`` (from :func:`load_messages`) ready to publish; offsets count from
    ``origin`` (default: the frame's first message). ``mark`` (the replay's start) rides along as AMQP
    header / MQTT 5 user property ``evkit-replay`` (:data:`evkit.store.schema.REPLAY_MARK`)."""
    if frame.height == 0:
        return
    first = frame["received_at"][0] if origin is None else origin
    offsets = ((frame["received_at"] - first).dt.total_microseconds() / 1e6).to_list()
    raws = frame["raw"].to_list()
    if protocol == "mqtt":
        names = frame["topic"].to_list()
        retained = frame["retained"].to_list() if "retained" in frame.columns else [False] * frame.height
        qos = frame["qos"].to_list() if "qos" in frame.columns else [1] * frame.height
        for offset, name, raw, was_retained, was_qos in zip(offsets, names, raws, retained, qos, strict=True):
            keep = {"as-recorded": bool(was_retained), "all": True, "none": False}[retain]
            yield Outgoing(
                offset,
                rewrite_name(name, rewrites),
                raw or b"",
                keep,
                1 if was_qos is None else was_qos,
                mark=mark,
            )
    else:
        names = frame["routing_key"].to_list()
        headers = frame["headers"].to_list() if "headers" in frame.columns else [None] * frame.height
        arrivals = (
            frame["arrival_time_raw"].to_list()
            if "arrival_time_raw" in frame.columns
            else [None] * frame.height
        )
        for offset, name, raw, head, arrival in zip(offsets, names, raws, headers, arrivals, strict=True):
            sent = _amqp_headers(head, arrival)
            if mark is not None:
                sent = {**(sent or {}), REPLAY_MARK: mark}
            yield Outgoing(offset, rewrite_name(name, rewrites), raw or b"", headers=sent, mark=mark)


# ------------------------------------------------------------------------------------------------
# The replay loop


@dataclass
class ReplaySummary:
    """What a replay did."""

    published: int
    elapsed_s: float
    recorded_span_s: float
    first_received_at: datetime | None
    last_received_at: datetime | None
    stopped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly)."""
        return {
            "published": self.published,
            "elapsed_s": self.elapsed_s,
            "recorded_span_s": self.recorded_span_s,
            "first_received_at": self.first_received_at.isoformat() if self.first_received_at else None,
            "last_received_at": self.last_received_at.isoformat() if self.last_received_at else None,
            "stopped": self.stopped,
        }


def replay_dataset(
    path: Path | str,
    target: Target,
    *,
    speed: float = 1.0,
    rewrites: Sequence[Rewrite] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    max_messages: int | None = None,
    max_rate: float | None = None,
    retain: RetainMode = "as-recorded",
    progress: bool = False,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    mark: bool = True,
) -> ReplaySummary:
    """Publish the recording below ``path`` to ``target`` (see the module docs); returns a summary.

    ``speed`` scales the original spacing (2 = twice as fast; 0 = no waiting); ``max_rate`` caps
    messages per second (useful with ``speed=0``: a broker drops what a slow subscriber's queue cannot
    hold). ``stop`` ends the replay early (the summary says so). ``mark`` (default) sends every message
    with the mark ``evkit-replay`` (AMQP header, MQTT 5 user property; its value: the replay's start),
    so a capture of the replay records its rows as replayed and latency figures say so.
    """
    if speed < 0:
        raise ConfigError("--speed must be >= 0 (0 = as fast as possible)")
    if max_rate is not None and max_rate <= 0:
        raise ConfigError("--max-rate must be positive")
    if max_messages is not None and max_messages < 1:
        raise ConfigError("--max-messages must be at least 1")
    selection = _select(path, target.protocol, start, end)
    total, first, through = _overview(selection, max_messages)
    if total == 0 or first is None:
        hint = _other_hint(path, target.protocol, selection.columns)
        raise DatasetError(f"no {target.protocol.upper()} messages to replay in {path}{hint}")
    _decodable(selection, through)
    last_offset = 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"replay -> {target.protocol}", unit="msg", unit_scale=True)
    label = datetime.now(UTC).isoformat(timespec="seconds") if mark else None
    target.open()
    published = 0
    stopped = False
    began = time.perf_counter()
    min_gap = 1.0 / max_rate if max_rate else 0.0
    next_allowed = began
    failed: BaseException | None = None
    try:
        messages = (
            message
            for frame in _frames(selection, max_messages)
            for message in outgoing(frame, target.protocol, rewrites, retain, origin=first, mark=label)
        )
        for message in messages:
            if stop is not None and stop.is_set():
                stopped = True
                break
            due = began + (message.offset_s / speed if speed > 0 else 0.0)
            due = max(due, next_allowed)
            wait = due - time.perf_counter()
            if wait > 0:
                if stop is not None:
                    if stop.wait(wait):
                        stopped = True
                        break
                else:
                    sleep(wait)
            target.publish(message)
            next_allowed = due + min_gap
            published += 1
            last_offset = message.offset_s
            if bar is not None and published % 256 == 0:
                bar.update(256)
    except BaseException as exc:  # a Polars panic is a BaseException; all else is re-raised
        if not published or not (is_decoding_error(exc) or isinstance(exc, FileNotFoundError)):
            raise  # nothing went out: the caller may name the part, or replay without it
        failed = exc  # what went out must be said: "run it again" would send it twice
    finally:
        target.close()
        if bar is not None:
            bar.update(published - bar.n)
            bar.close()
    last = first + timedelta(seconds=last_offset) if published else None
    if failed is not None and last is not None:  # raised here: not a decoding error to read again
        raise _cut_short(path, failed, published=published, total=total, last=last, wanted=max_messages)
    return ReplaySummary(published, time.perf_counter() - began, last_offset, first, last, stopped)


def _cut_short(
    path: Path | str, failed: BaseException, *, published: int, total: int, last: datetime, wanted: int | None
) -> DatasetError:
    """Why a replay stopped after ``published`` messages went out: a data page became unreadable
    while it ran (it was read whole before the first), or a part vanished (a compaction replaced the
    parts of a day). The damaged parts, named below ``path``, how many messages went out, and the
    ``--from`` that replays the rest: a day is read whole before its first message goes out, so every
    message received before the next UTC day went out, none after."""
    resume = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    since = resume.strftime("%Y-%m-%dT%H:%M:%SZ")
    skip = ""
    if isinstance(failed, FileNotFoundError):
        gone = failed.filename if failed.filename is not None else first_line(failed)
        cause = f"a part of {path} vanished while it was read ({gone}): did `evkit compact` run meanwhile?"
        fix = "its messages are in the parts that replaced it:"
    elif damaged := unreadable_parts(path):
        names = "; ".join(f"{relative_name(path, d.path)} ({d.reason})" for d in damaged)
        cause = f"{len(damaged)} damaged Parquet part(s) in {path}, found when their data was read: {names}"
        fix = "after moving them out of the dataset,"
    else:
        cause, fix = f"reading {path} failed: {first_line(failed)}", "once it reads again,"
    if skips_damaged() and not isinstance(failed, FileNotFoundError):
        skip = " (--skip-damaged leaves out only parts found before the first message)"
    more = f" --max-messages {wanted - published}" if wanted is not None else ""
    return DatasetError(
        mask_secrets(
            f"{cause}. The replay stopped after publishing {published:,} of {total:,} messages, every "
            f"one received before {since}{skip}: {fix} the same command with --from {since}{more} "
            "replays the rest"
        )
    )


__all__ = [
    "AmqpTarget",
    "MqttTarget",
    "Outgoing",
    "ReplaySummary",
    "Rewrite",
    "Target",
    "load_messages",
    "outgoing",
    "parse_time",
    "replay_dataset",
    "rewrite_name",
]
