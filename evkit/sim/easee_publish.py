"""Publishing a simulated Easee fleet to RabbitMQ (:func:`publish`, used by ``evkit sim easee``): the
Masterloop routing keys and ``ArrivalTime`` headers of :class:`evkit.sim.easee.EaseeFleet`, paced so
simulated time runs ``speed`` times faster than wall time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from evkit.secrets import mask_secrets

if TYPE_CHECKING:
    from evkit.sim.easee import EaseeFleet

SIM_EXCHANGE = "evkit.sim.easee"


@dataclass
class PublishStats:
    """What :func:`publish` did."""

    messages: int = 0
    chargers: int = 0
    simulated_from: datetime | None = None
    simulated_to: datetime | None = None
    wall_seconds: float = 0.0
    by_observation: dict[int, int] = field(default_factory=dict)


def publish(
    fleet: EaseeFleet,
    url: str,
    *,
    duration: timedelta | float,
    queue: str | None = None,
    exchange: str | None = None,
    declare: bool = False,
    speed: float = 1000.0,
    max_messages: int | None = None,
    progress: bool | None = None,
    commands: Any = None,
) -> PublishStats:
    """Publish ``fleet``'s messages to RabbitMQ at ``url``; returns counts.

    ``queue``: the messages go through the topic exchange ``evkit.sim.easee.{queue}`` bound to it with
    ``#``, so they keep their Masterloop routing keys (the default exchange would replace the key with
    the queue name). The queue must exist unless ``declare`` (then a non-durable test queue is made).
    ``exchange``: published there with the Masterloop routing keys. ``speed``: simulated seconds per
    wall second (0 = as fast as possible). ``commands``: an ``evkit.sim.easee_cloud.CommandListener``
    answering commands (it keeps answering after the stream until stopped).
    """
    import pika
    from tqdm.auto import tqdm

    from evkit.errors import AuthError, ConfigError, SourceError
    from evkit.sources.easee_details import parse_url

    if (queue is None) == (exchange is None):
        raise ConfigError("give exactly one of --queue or --exchange")
    if not (math.isfinite(speed) and speed >= 0):
        raise ConfigError("--speed must be a finite number >= 0 (0 = as fast as possible)")
    details = parse_url(url)  # a ConfigError never shows the password
    try:
        connection = pika.BlockingConnection(details.pika_parameters(connection_name="evkit sim easee"))
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
        raise AuthError(f"the broker refused the credentials for {details.masked_url()}") from None
    except (pika.exceptions.AMQPError, OSError) as exc:
        reason = mask_secrets(str(exc) or ", ".join(map(repr, exc.args)) or "no details")
        raise SourceError(
            f"cannot connect to RabbitMQ at {details.masked_url()}: {type(exc).__name__}: {reason}"
        ) from None
    stats = PublishStats(chargers=fleet.chargers, simulated_from=fleet.start)
    wall_start = time.monotonic()
    try:
        channel = connection.channel()
        # One auto-delete exchange per queue: it disappears with the queue, and parallel runs on
        # other queues cannot delete it under us.
        target = exchange or f"{SIM_EXCHANGE}.{queue}"
        if queue is not None:
            try:
                if declare:
                    channel.queue_declare(queue=queue, durable=False, auto_delete=False)
                else:
                    channel.queue_declare(queue=queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                raise ConfigError(f"queue {queue!r} does not exist (add --declare to create it)") from exc
            channel.exchange_declare(exchange=target, exchange_type="topic", auto_delete=True)
            channel.queue_bind(queue=queue, exchange=target, routing_key="#")
        else:
            try:
                channel.exchange_declare(exchange=target, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                raise ConfigError(f"exchange {target!r} does not exist") from exc
        properties_base = {"content_type": "application/json", "delivery_mode": 1}
        if commands is not None:
            from evkit.sim.easee_cloud import sim_time

            commands.attach(connection, channel, target, sim_time(fleet.start, wall_start, speed))
        origin = fleet.start.timestamp()
        bar = tqdm(unit="msg", disable=(not progress) if progress is not None else None, desc="sim easee")
        try:
            for message in fleet.messages(duration):
                if max_messages is not None and stats.messages >= max_messages:
                    break
                if commands is not None and commands.stopped:
                    break
                if speed > 0:
                    due = (message.publish_at.timestamp() - origin) / speed
                    wait = due - (time.monotonic() - wall_start)
                    if wait > 0:
                        connection.sleep(wait)  # keeps heartbeats flowing while we wait
                channel.basic_publish(
                    exchange=target,
                    routing_key=message.routing_key,
                    body=message.body,
                    properties=pika.BasicProperties(headers=message.headers, **properties_base),
                )
                stats.messages += 1
                stats.by_observation[message.observation_id] = (
                    stats.by_observation.get(message.observation_id, 0) + 1
                )
                stats.simulated_to = message.publish_at
                bar.update(1)
                if stats.messages % 1000 == 0:
                    bar.set_postfix_str(f"sim {message.publish_at:%Y-%m-%d %H:%M}")
        finally:
            bar.close()
        connection.process_data_events(0)
        if commands is not None:
            commands.serve(connection)
    except pika.exceptions.AMQPError as exc:
        raise SourceError(f"publishing failed: {type(exc).__name__}: {exc}") from exc
    finally:
        stats.wall_seconds = time.monotonic() - wall_start
        if connection.is_open:
            connection.close()
    return stats


__all__ = ["SIM_EXCHANGE", "PublishStats", "publish"]
