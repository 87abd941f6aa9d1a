"""A simulated Easee fleet: realistic observation streams, generated offline or published to RabbitMQ.

``EaseeFleet(chargers=3, seed=1).messages(duration)`` yields :class:`SimMessage` items in cloud-arrival
order without a broker (for tests and sample datasets); :func:`publish` sends them through pika in the
Masterloop form with an ``ArrivalTime`` header, paced so simulated time runs ``speed`` times faster
than wall time.

Each charger boots (80, 89, 21, 250, ...), then cycles: unplugged (109=1) -> plug-in (2 AwaitingStart,
sometimes 7 AwaitingAuthentication with an RFID token 128/108) -> charging (3; power 120 ramps up,
tapers near full; phase currents 182-185) with occasional pauses -> completed (4) -> unplugged. A pause
is either the car's (6 ReadyToCharge, "SuspendedEV") or the charger's, by schedule or smart charging
(2 AwaitingStart, "SuspendedEVSE", with 96 ReasonForNoCurrent 54/76), as Easee's enumerations define
them; 4 Completed is kept for the car having stopped at the end.

Timing follows live chargers (facts and sources in ``tests/conformance/easee_timing.py``): session
energy 121 every 10-20 minutes while charging and once more at unplug, with the occasional spurious 0;
energy per hour 122 stamped on the full hour and delivered ~3.4 minutes later, also 0 for idle hours;
lifetime energy 124 read 2-10 minutes after each hour and at every plug-in; voltages 190-196, RSSI
130/132 and temperature 150 tick along. Device -> cloud delay of the rest: a few hundred milliseconds
with a tail of seconds (ArrivalTime = observed + delay).

The charger model is in :mod:`evkit.sim.easee_model`, publishing in :mod:`evkit.sim.easee_publish`;
the public names stay importable from here.
"""

from __future__ import annotations

import heapq
import math
import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from evkit.easee.encode import WireForm, arrival_time_header, dotnet_ticks, encode_observation
from evkit.sim.easee_model import ChargerModel, Reading
from evkit.sim.easee_publish import SIM_EXCHANGE, PublishStats, publish

#: Longest device -> cloud delay the model produces for transported readings (seconds).
MAX_DELAY_S = 30.0

#: How the ArrivalTime header is sent: ISO text (.NET style), an AMQP timestamp, .NET ticks, or not at all.
ArrivalHeader = Literal["iso", "timestamp", "ticks", "none"]
ARRIVAL_HEADERS: tuple[ArrivalHeader, ...] = ("iso", "timestamp", "ticks", "none")


class SimMessage(NamedTuple):
    """One simulated AMQP message (``publish_at`` = cloud arrival in simulated time)."""

    routing_key: str
    body: bytes
    headers: dict[str, Any]
    publish_at: datetime
    observed_at: datetime
    charger_id: str
    observation_id: int
    value: Any


def _serial(rng: random.Random) -> str:
    alphabet = string.digits + string.ascii_uppercase
    return "EH" + "".join(rng.choice(alphabet) for _ in range(6))


class EaseeFleet:
    """A deterministic simulated fleet of Easee chargers (same ``seed`` and ``start`` = same messages)."""

    def __init__(
        self,
        chargers: int = 3,
        *,
        seed: int = 0,
        start: datetime | None = None,
        form: WireForm = "masterloop",
        arrival_header: ArrivalHeader = "iso",
    ) -> None:
        if chargers < 1:
            raise ValueError("a fleet needs at least one charger")
        self.chargers = chargers
        self.seed = seed
        moment = start or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self.start = moment.astimezone(UTC)
        self.form: WireForm = form
        if arrival_header not in ARRIVAL_HEADERS:
            raise ValueError(f"arrival_header must be one of {', '.join(ARRIVAL_HEADERS)}")
        self.arrival_header: ArrivalHeader = arrival_header
        naming = random.Random(f"easee-fleet-{seed}")
        serials: list[str] = []
        while len(serials) < chargers:
            serial = _serial(naming)
            if serial not in serials:
                serials.append(serial)
        self.serials: tuple[str, ...] = tuple(serials)
        self.controls: Any = None  # a CommandHandler (evkit.sim.easee_commands) applying commands

    def _models(self) -> list[ChargerModel]:
        origin = self.start.timestamp()
        models = []
        for index, serial in enumerate(self.serials):
            rng = random.Random(f"easee-charger-{self.seed}-{index}")
            models.append(
                ChargerModel(
                    serial=serial,
                    rng=rng,
                    start=origin + rng.uniform(0.0, 5.0),
                    three_phase=rng.random() < 0.8,
                    pause_kind_toggle=rng.random() < 0.5,
                    wifi=rng.random() < 0.6,
                    lifetime_kwh=rng.uniform(200.0, 9000.0),
                    controls=self.controls,
                )
            )
        return models

    def messages(self, duration: timedelta | float) -> Iterator[SimMessage]:
        """Every message of ``duration`` simulated time, in cloud-arrival (publish) order."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        until = self.start.timestamp() + seconds
        models = self._models()
        delay_rngs = [random.Random(f"easee-delay-{self.seed}-{index}") for index in range(len(models))]
        streams = [model.run(until) for model in models]
        # pending: (arrival, sequence, charger index, reading). A reading is released once every charger
        # has moved past its arrival time: later readings are never observed before a charger's clock.
        pending: list[tuple[float, int, int, Reading]] = []
        sequence = 0
        live = list(range(len(models)))
        while live or pending:
            for index in list(live):
                try:
                    batch = next(streams[index])
                except StopIteration:
                    live.remove(index)
                    continue
                for reading in batch:
                    if reading.at > until:
                        continue
                    transport = _delay(delay_rngs[index])  # drawn for every reading: stable streams
                    arrival = reading.at + (reading.delay if reading.delay >= 0 else transport)
                    heapq.heappush(pending, (arrival, sequence, index, reading))
                    sequence += 1
            horizon = min((models[index].now for index in live), default=math.inf)
            while pending and pending[0][0] <= horizon:
                arrival, _, index, reading = heapq.heappop(pending)
                yield self._message(models[index].serial, reading, arrival)

    def events(self, duration: timedelta | float) -> Iterator[SimMessage]:
        """Same as :meth:`messages`; each item starts with ``(routing_key, body, headers, publish_at)``."""
        return self.messages(duration)

    def _message(self, serial: str, reading: Reading, arrival: float) -> SimMessage:
        observed = datetime.fromtimestamp(reading.at, UTC)
        published = datetime.fromtimestamp(arrival, UTC)
        routing_key, body = encode_observation(serial, reading.obs_id, reading.value, observed, self.form)
        headers: dict[str, Any] = {}
        if self.arrival_header == "iso":
            headers["ArrivalTime"] = arrival_time_header(published)
        elif self.arrival_header == "timestamp":  # an AMQP timestamp: whole seconds, naive UTC in pika
            headers["ArrivalTime"] = published.replace(microsecond=0, tzinfo=None)
        elif self.arrival_header == "ticks":
            headers["ArrivalTime"] = dotnet_ticks(published)
        return SimMessage(
            routing_key, body, headers, published, observed, serial, reading.obs_id, reading.value
        )


def _delay(rng: random.Random) -> float:
    """Device -> cloud delay: lognormal around 0.3 s, 2 % tail of 1-15 s, capped."""
    delay = rng.lognormvariate(math.log(0.3), 0.5)
    if rng.random() < 0.02:
        delay += rng.uniform(1.0, 15.0)
    return min(delay, MAX_DELAY_S)


__all__ = ["SIM_EXCHANGE", "EaseeFleet", "PublishStats", "SimMessage", "publish"]
