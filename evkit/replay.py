"""Replay a recorded dataset into a broker: MQTT topics or AMQP routing keys, with the original spacing.

Each recorded *message* is published once, byte for byte (``raw``), in ``received_at`` order, spaced
as it arrived (scaled by ``speed``; ``speed=0`` = as fast as the broker confirms). MQTT messages keep
their topic, QoS and retained flag; AMQP messages keep their routing key and headers (``headers``
JSON, else ``ArrivalTime`` from ``arrival_time_raw``). A go-e ``nrg`` message, stored as 16 rows,
is published once. Recording the replay gives the same observations (values, labels, errors, bodies).

Publishers wait for the broker's confirmation (MQTT QoS 1 ``PUBACK``, AMQP publisher confirms), so a
replay that finishes has delivered everything to the broker.

>>> replay_dataset("data/home", MqttTarget("127.0.0.1"), speed=10)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

from evkit.errors import AuthError, ConfigError, DatasetError, SourceError
from evkit.secrets import mask_secrets
from evkit.sources.easee_details import AmqpDetails, parse_url
from evkit.store import scan
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


def _overview(selection: _Selection, max_messages: int | None) -> tuple[int, datetime | None]:
    """(messages, first received_at) of the selection, without reading bodies."""
    key = [c for c in selection.identity if c != "raw"]
    count = pl.struct(key).n_unique() if selection.protocol == "mqtt" else pl.len()
    row = selection.lf.select(count.alias("n"), pl.col("received_at").min().alias("first")).collect()
    total = int(row["n"][0] or 0)
    return (min(total, max_messages) if max_messages is not None else total), row["first"][0]


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
) -> Iterator[Outgoing]:
    """The messages of ``frame`` (from :func:`load_messages`) ready to publish; offsets count from
    ``origin`` (default: the frame's first message)."""
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
                offset, rewrite_name(name, rewrites), raw or b"", keep, 1 if was_qos is None else was_qos
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
            yield Outgoing(
                offset, rewrite_name(name, rewrites), raw or b"", headers=_amqp_headers(head, arrival)
            )


# ------------------------------------------------------------------------------------------------
# Targets


class Target(Protocol):
    """Where a replay publishes."""

    protocol: Literal["mqtt", "amqp"]

    def open(self) -> None: ...

    def publish(self, message: Outgoing) -> None: ...

    def close(self) -> None: ...


@dataclass
class MqttTarget:
    """An MQTT broker; messages keep topic, QoS and retained flag; confirmed before the replay ends."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    client_id: str | None = None
    window: int = 200  # unconfirmed QoS 1 publishes before we wait (paces the broker's queues)
    protocol: Literal["mqtt", "amqp"] = "mqtt"
    _client: Any = field(default=None, repr=False)
    _pending: list[Any] = field(default_factory=list, repr=False)

    def open(self) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id or "", protocol=paho.MQTTv311
        )
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if reason.is_failure:
                refused.append(str(reason))
            connected.set()

        client.on_connect = on_connect
        try:
            client.connect(self.host, self.port)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}") from exc
        client.loop_start()
        if not connected.wait(15) or refused:
            client.loop_stop()
            why = refused[0] if refused else "no answer"
            raise SourceError(f"MQTT broker {self.host}:{self.port} refused the replay: {why}")
        self._client = client

    def publish(self, message: Outgoing) -> None:
        info = self._client.publish(message.name, message.body, qos=message.qos, retain=message.retained)
        if message.qos:
            self._pending.append(info)
        if len(self._pending) >= self.window:
            self._confirm()

    def _confirm(self) -> None:
        for info in self._pending:
            info.wait_for_publish(30)
            if not info.is_published():
                raise SourceError(f"MQTT broker {self.host}:{self.port} did not confirm a published message")
        self._pending.clear()

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._confirm()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


@dataclass
class AmqpTarget:
    """An AMQP exchange; messages keep routing key, body and headers; publisher confirms on."""

    url: str = field(repr=False)  # holds the password
    exchange: str
    declare_type: str | None = None  # declare the exchange (durable) if given, else it must exist
    protocol: Literal["mqtt", "amqp"] = "amqp"
    _connection: Any = field(default=None, repr=False)
    _channel: Any = field(default=None, repr=False)
    _details: AmqpDetails = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._details = parse_url(self.url)  # a malformed URL is a ConfigError that never shows the password

    def open(self) -> None:
        import pika
        import pika.exceptions

        shown = self._details.masked_url()
        try:
            self._connection = pika.BlockingConnection(
                self._details.pika_parameters(connection_name="evkit replay")
            )
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
            raise AuthError(f"the broker refused the credentials for {shown}") from None
        except (pika.exceptions.AMQPError, OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to AMQP broker {shown}: {mask_secrets(repr(exc))}") from None
        channel = self._connection.channel()
        if self.exchange:
            try:
                if self.declare_type:
                    channel.exchange_declare(self.exchange, self.declare_type, durable=True)
                else:
                    channel.exchange_declare(self.exchange, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                self._connection.close()
                raise ConfigError(
                    f"exchange {self.exchange!r} does not exist on {shown} "
                    "(create it, or pass --declare-exchange TYPE)"
                ) from exc
        channel.confirm_delivery()
        self._channel = channel

    def publish(self, message: Outgoing) -> None:
        import pika

        properties = pika.BasicProperties(headers=message.headers, delivery_mode=2)
        try:
            self._channel.basic_publish(
                self.exchange, message.name, message.body, properties, mandatory=False
            )
        except pika.exceptions.AMQPError as exc:
            raise SourceError(f"AMQP publish failed: {exc!r}") from exc

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None


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
) -> ReplaySummary:
    """Publish the recording below ``path`` to ``target`` (see the module docs); returns a summary.

    ``speed`` scales the original spacing (2 = twice as fast; 0 = no waiting); ``max_rate`` caps
    messages per second (useful with ``speed=0``: a broker drops what a slow subscriber's queue cannot
    hold). ``stop`` ends the replay early (the summary says so).
    """
    if speed < 0:
        raise ConfigError("--speed must be >= 0 (0 = as fast as possible)")
    if max_rate is not None and max_rate <= 0:
        raise ConfigError("--max-rate must be positive")
    selection = _select(path, target.protocol, start, end)
    total, first = _overview(selection, max_messages)
    if total == 0 or first is None:
        hint = _other_hint(path, target.protocol, selection.columns)
        raise DatasetError(f"no {target.protocol.upper()} messages to replay in {path}{hint}")
    last_offset = 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"replay -> {target.protocol}", unit="msg", unit_scale=True)
    target.open()
    published = 0
    stopped = False
    began = time.perf_counter()
    min_gap = 1.0 / max_rate if max_rate else 0.0
    next_allowed = began
    try:
        messages = (
            message
            for frame in _frames(selection, max_messages)
            for message in outgoing(frame, target.protocol, rewrites, retain, origin=first)
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
    finally:
        target.close()
        if bar is not None:
            bar.update(published - bar.n)
            bar.close()
    last = first + timedelta(seconds=last_offset) if published else None
    return ReplaySummary(published, time.perf_counter() - began, last_offset, first, last, stopped)


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
