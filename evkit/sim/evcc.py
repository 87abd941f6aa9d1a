"""An evcc stand-in on MQTT: publishes state the way evcc does and applies ``/set`` by evcc's rules.

>>> sim = EvccSimulator(host="127.0.0.1", loadpoints=2, vehicles=("tesla", "zoe")).start()  # doctest: +SKIP
>>> sim.stop()  # doctest: +SKIP

What it imitates (``shared/reference/evcc-and-goe.md`` A.1-A.4):

- every value retained, plain text in evcc's encoding (``evkit.evcc.state.encode_state``);
  ``<prefix>/status`` ``online`` (the will says ``offline``), ``<prefix>/updated`` each cycle,
  ``<prefix>/loadpoints`` and ``<prefix>/vehicles`` counts
- settings published at start and then only on change; measurements, mode, connected, charging and
  enabled every cycle
- loadpoint dynamics: a connected vehicle charges by mode (off / now / minpv / pv against a PV curve),
  ``chargePower`` W, phase currents A, ``sessionEnergy`` Wh, ``chargeTotalImport`` kWh, ``vehicleSoc``
  rising towards ``limitSoc``
- ``/set`` parsed with evcc's strict parsers and core checks (``evkit.evcc.parsers.evcc_parse``): a bad
  payload is only logged (``errors``), never echoed; a good one publishes the changed state; the
  ``/set`` topic is wiped with an empty retained message afterwards, as evcc does
- ``version`` impersonates an evcc release: it is published on ``site/version`` (evcc's format,
  ``0.313.2`` or ``0.313.0 (b29b49e30)`` for a nightly) and only the setters that release has are
  subscribed, one topic each and once at start, like evcc's ``Listen`` (``server/mqtt.go``); a command
  to any other topic is dropped without a word
- echoes as evcc publishes them (``tests/conformance/evcc_echo.py``): a vehicle setter re-publishes
  the whole vehicle map, a zero ``omitempty`` field (vehicle ``minSoc`` 0) as an empty payload, a
  deleted vehicle plan as ``vehicles/<n>/plan`` = "" leaving ``plan/soc``/``plan/time`` stale; a
  released battery mode as ``batteryModeExternal`` = ``unknown`` (also after the 60 s watchdog);
  ``planEnergy`` 0 deletes the plan time; a mode change (only a change) resets battery boost
- ``stop()`` publishes ``offline`` and (like evcc's shutdown cleanup) deletes the retained state
"""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from evkit.control.base import MqttMessage, MqttTransport, Subscription
from evkit.evcc.catalog import BATTERY_RELEASED, SETTERS, Setter
from evkit.evcc.parsers import EvccParseError, evcc_parse
from evkit.evcc.state import DEFAULT_PREFIX, Scope, encode_state, parse_topic
from evkit.evcc.versions import Availability, availability, parse_version
from evkit.sim.evcc_model import EvccModel

log = logging.getLogger(__name__)

VOLTAGE = 230.0

#: What the simulator says it is by default: a nightly of the evcc commit it models (b29b49e3, after
#: 0.313.0 on master), in evcc's format (``util.FormattedVersion``: ``<tag> (<commit>)``).
DEFAULT_VERSION = "0.313.0 (b29b49e30)"


@dataclass
class SetError:
    """A ``/set`` evcc would have refused (it logs ``set <topic>: <error>`` and publishes nothing)."""

    time: datetime
    topic: str
    payload: str
    error: str


#: Loadpoint keys evcc re-publishes every cycle even when unchanged (once per cycle).
EVERY_CYCLE = ("mode", "connected", "charging", "enabled", "chargePower")


class EvccSimulator(EvccModel):
    """A simulated evcc with ``loadpoints`` loadpoints and the named ``vehicles``.

    ``interval_s`` is the control cycle (evcc: 30 s; shorter here so notebooks feel alive).
    ``speed`` multiplies simulated time per cycle (energy, SoC). With ``sessions`` vehicles come and
    go by themselves (unplugged half an hour after reaching their limit, plugged in again after an
    hour with 20-50 % SoC), so a recording holds whole sessions. Give ``transport`` to run on an
    in-memory broker, or ``host``/``port``/credentials for a real one.
    """

    #: simulated seconds a full vehicle stays plugged in, and a loadpoint stays empty (``sessions``)
    FULL_STAY_S = 1800.0
    IDLE_S = 3600.0
    #: evcc forgets an external battery mode that is not re-sent within a minute
    BATTERY_MODE_WATCHDOG_S = 60.0

    def __init__(
        self,
        transport: MqttTransport | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = DEFAULT_PREFIX,
        loadpoints: int = 1,
        vehicles: tuple[str, ...] | list[str] = ("ev",),
        interval_s: float = 1.0,
        speed: float = 1.0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        battery: bool = True,
        cleanup: bool = True,
        sessions: bool = False,
        seed: int | None = None,
        version: str = DEFAULT_VERSION,
    ) -> None:
        if loadpoints < 1:
            raise ValueError("an evcc simulator needs at least one loadpoint")
        if parse_version(version) is None:
            raise ValueError(f"version {version!r} is not an evcc version such as 0.313.2")
        self.version = version
        self._subscriptions: list[Subscription] = []
        self.prefix = prefix.strip("/")
        self.interval_s = interval_s
        self.speed = speed
        self.cleanup = cleanup
        self.battery = battery
        self.sessions = sessions
        self._battery_mode_age_s = 0.0
        self.errors: list[SetError] = []
        self.applied: list[tuple[str, str]] = []  # (topic, payload) of every accepted /set
        self._connect = {"host": host, "port": port, "username": username, "password": password, "tls": tls}
        self._transport = transport
        self._owns_transport = transport is None
        self._random = random.Random(seed)
        self._queue: queue.Queue[MqttMessage | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._published: dict[str, str] = {}
        self._lock = threading.Lock()
        self.started_at = datetime.now(UTC)
        self.vehicles = {name: self._new_vehicle(index, name) for index, name in enumerate(vehicles)}
        self._startup_vehicles = tuple(self.vehicles)  # evcc subscribes vehicle setters only at start
        self.site: dict[str, Any] = self._new_site()
        self.loadpoints: dict[int, dict[str, Any]] = {
            n: self._new_loadpoint(n, list(self.vehicles)) for n in range(1, loadpoints + 1)
        }

    # ------------------------------------------------------------------ lifetime

    def start(self) -> EvccSimulator:
        """Connect, publish the full retained state, start the control loop; returns ``self``."""
        if self._thread is not None:
            return self
        if self._transport is None:
            from evkit.sources.mqtt_transport import PahoTransport

            self._transport = PahoTransport(
                str(self._connect["host"]),
                int(str(self._connect["port"])),
                username=self._connect["username"],  # type: ignore[arg-type]
                password=self._connect["password"],  # type: ignore[arg-type]
                tls=bool(self._connect["tls"]),
                will=(f"{self.prefix}/status", "offline"),
            )
        self._running = threading.Event()
        self._running.set()
        self._publish("status", "online", force=True)
        self._publish_all(force=True)
        for path in self.subscribed:  # evcc's Listen: one subscription per setter, once, at start
            topic = f"{self.prefix}/{path}/set"
            self._subscriptions.append(self._transport.subscribe(topic, self._on_message, qos=1))
        self._thread = threading.Thread(target=self._loop, name=f"evcc-sim-{self.prefix}", daemon=True)
        self._thread.start()
        log.info("evcc simulator running under %s/ with %d loadpoint(s)", self.prefix, len(self.loadpoints))
        return self

    def stop(self, *, clear_status: bool = False) -> None:
        """Stop the loop, publish ``offline``, delete the retained state (``cleanup``), disconnect.

        Like evcc, the retained ``status`` stays ``offline``; ``clear_status`` deletes it too (tests).
        """
        if self._thread is None:
            return
        self._running.clear()
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._thread = None
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        assert self._transport is not None
        try:
            if self.cleanup:
                for path in list(self._published):
                    if path != "status":
                        self._transport.publish(f"{self.prefix}/{path}", b"", qos=1, retain=True)
            self._transport.publish(f"{self.prefix}/status", "offline", qos=1, retain=True)
            if clear_status:
                self._transport.publish(f"{self.prefix}/status", b"", qos=1, retain=True)
        finally:
            self._published.clear()
            if self._owns_transport:
                self._transport.close()
                self._transport = None

    def __enter__(self) -> EvccSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def has_setter(self, scope: Scope, name: str) -> bool:
        """Whether the impersonated evcc release subscribes setter ``name`` of ``scope``."""
        verdict = availability(scope, name, parse_version(self.version))
        return verdict is not Availability.NO  # a nightly is taken as the newest code

    @property
    def subscribed(self) -> list[str]:
        """The setter paths this evcc listens to (``site/residualPower``, ``loadpoints/1/mode``...)."""
        paths = [f"site/{n}" for n in SETTERS["site"] if self.has_setter("site", n)]
        for number in self.loadpoints:
            paths += [
                f"loadpoints/{number}/{n}" for n in SETTERS["loadpoint"] if self.has_setter("loadpoint", n)
            ]
        for name in self._startup_vehicles:
            paths += [f"vehicles/{name}/{n}" for n in SETTERS["vehicle"] if self.has_setter("vehicle", n)]
        return paths

    @property
    def retained_paths(self) -> set[str]:
        """Paths below the prefix that hold a retained value right now."""
        with self._lock:
            return set(self._published)

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._thread is not None

    # ------------------------------------------------------------------ publishing

    def _publish(self, path: str, value: Any, *, force: bool = False) -> None:
        text = value if isinstance(value, str) and path == "status" else encode_state(value)
        if not force and self._published.get(path) == text:
            return
        if text == "" and path not in self._published and not force:
            return
        assert self._transport is not None
        self._transport.publish(f"{self.prefix}/{path}", text, qos=1, retain=True)
        if text == "":
            self._published.pop(path, None)
        else:
            self._published[path] = text

    def _publish_all(self, *, force: bool = False, every_cycle: tuple[str, ...] = ()) -> None:
        """Publish what changed (everything with ``force``); loadpoint keys in ``every_cycle`` once
        each, changed or not, as evcc re-publishes them every cycle (never twice in one cycle)."""
        self._publish("loadpoints", len(self.loadpoints), force=force)
        self._publish("vehicles", len(self.vehicles), force=force)
        for key, value in self.site.items():
            self._publish(f"site/{key}", value, force=force)
        for number, loadpoint in self.loadpoints.items():
            for key, value in loadpoint.items():
                if not key.startswith("_"):  # internal accumulators
                    self._publish(f"loadpoints/{number}/{key}", value, force=force or key in every_cycle)
        self._publish_vehicles(force=force)
        self._publish("updated", int(datetime.now(UTC).timestamp()), force=True)

    def _publish_vehicles(self, *, force: bool = False) -> None:
        for name, vehicle in self.vehicles.items():
            for key, value in self._vehicle_topics(vehicle).items():
                self._publish(f"vehicles/{name}/{key}", value, force=force)

    # ------------------------------------------------------------------ the loop

    def _on_message(self, message: MqttMessage) -> None:
        if message.topic.endswith("/set") and message.payload:  # an empty one is swallowed by evcc
            self._queue.put(message)  # handled on our thread: never publish from the network thread

    def _loop(self) -> None:
        next_tick = datetime.now(UTC) + timedelta(seconds=self.interval_s)
        while self._running.is_set():
            wait = max(0.0, (next_tick - datetime.now(UTC)).total_seconds())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    self._handle_set(item)
                elif datetime.now(UTC) >= next_tick and self._running.is_set():
                    self.tick(self.interval_s * self.speed)
                    next_tick = datetime.now(UTC) + timedelta(seconds=self.interval_s)
            except Exception:
                log.exception("evcc simulator step failed")

    def tick(self, dt_s: float) -> None:
        """Advance the simulation by ``dt_s`` seconds and publish like an evcc control cycle."""
        with self._lock:
            pv = self._pv_power()
            self.site["pvPower"] = round(pv, 1)
            charging_total = 0.0
            for loadpoint in self.loadpoints.values():
                charging_total += self._step_loadpoint(loadpoint, dt_s, pv - self.site["homePower"])
            grid = self.site["homePower"] + charging_total - pv
            self.site["grid/power"] = round(grid, 1)
            self.site["grid/energy"] += max(grid, 0) * dt_s / 3.6e6
            self.site["pvEnergy"] += pv * dt_s / 3.6e6
            self.site["homePower"] = round(
                max(150.0, self.site["homePower"] + self._random.uniform(-40, 40)), 1
            )
            self._battery_mode_age_s += dt_s
            if (
                self.site.get("batteryModeExternal") not in (None, BATTERY_RELEASED)
                and self._battery_mode_age_s > self.BATTERY_MODE_WATCHDOG_S
            ):  # evcc's watchdog releases the battery and publishes "unknown" (core/site_api.go:579-589)
                self.site["batteryModeExternal"] = BATTERY_RELEASED
            if self.sessions:
                for number in self.loadpoints:
                    self._come_and_go(number, dt_s)
            self._publish_all(every_cycle=EVERY_CYCLE)

    def _come_and_go(self, number: int, dt_s: float) -> None:
        lp = self.loadpoints[number]
        if lp["connected"]:
            vehicle = self.vehicles.get(lp["vehicleName"])
            limit = min(lp["limitSoc"] or 100, vehicle.fields["limitSoc"] if vehicle else 100)
            full = lp["vehicleSoc"] is not None and lp["vehicleSoc"] >= limit
            lp["_full_s"] = lp.get("_full_s", 0.0) + dt_s if full else 0.0
            if lp["_full_s"] > self.FULL_STAY_S:
                self._unplug_locked(number)
        else:
            lp["_idle_s"] = lp.get("_idle_s", 0.0) + dt_s
            busy = {other["vehicleName"] for other in self.loadpoints.values() if other["connected"]}
            free = [name for name in self.vehicles if name not in busy]
            if lp["_idle_s"] > self.IDLE_S and free:
                self._plug_locked(number, self._random.choice(free), round(self._random.uniform(20, 50), 1))

    def _pv_power(self) -> float:
        now = datetime.now(UTC)
        hour = now.hour + now.minute / 60
        daylight = max(0.0, math.sin(math.pi * (hour - 5) / 14))
        return max(0.0, 9000 * daylight + 2500 + self._random.uniform(-300, 300))

    def _step_loadpoint(self, lp: dict[str, Any], dt_s: float, surplus_w: float) -> float:
        vehicle = self.vehicles.get(lp["vehicleName"]) if lp["vehicleName"] else None
        phases = 3 if lp["phasesConfigured"] in (0, 3) else 1
        current = 0.0
        if lp["connected"]:
            lp["_connected_s"] = lp.get("_connected_s", 0.0) + dt_s
            lp["connectedDuration"] = int(lp["_connected_s"])
            soc = lp["vehicleSoc"]
            limit = min(lp["limitSoc"] or 100, vehicle.fields["limitSoc"] if vehicle else 100)
            full = soc is not None and soc >= limit
            energy_done = lp["limitEnergy"] and lp["sessionEnergy"] >= lp["limitEnergy"] * 1000
            if lp["mode"] == "now":
                current = lp["maxCurrent"]
            elif lp["mode"] == "minpv":
                current = max(lp["minCurrent"], min(lp["maxCurrent"], surplus_w / (VOLTAGE * phases)))
            elif lp["mode"] == "pv":
                available = surplus_w / (VOLTAGE * phases)
                current = min(lp["maxCurrent"], available) if available >= lp["minCurrent"] else 0.0
            if full or energy_done:
                current = 0.0
        power = current * VOLTAGE * phases
        lp["enabled"] = current > 0
        lp["charging"] = current > 0
        lp["offeredCurrent"] = round(current, 3)
        lp["phasesActive"] = phases
        per_phase = round(current, 2)
        lp["chargeCurrents/l1"] = per_phase
        lp["chargeCurrents/l2"] = per_phase if phases == 3 else 0.0
        lp["chargeCurrents/l3"] = per_phase if phases == 3 else 0.0
        lp["chargeCurrents"] = round(per_phase * phases, 2)
        lp["chargePower"] = round(power, 1)
        if power > 0:
            energy_wh = power * dt_s / 3600
            lp["sessionEnergy"] = round(lp["sessionEnergy"] + energy_wh, 3)
            lp["chargeTotalImport"] = round(lp["chargeTotalImport"] + energy_wh / 1000, 4)
            lp["_charging_s"] = lp.get("_charging_s", 0.0) + dt_s
            lp["chargeDuration"] = int(lp["_charging_s"])
            if vehicle is not None and lp["vehicleSoc"] is not None:
                lp["vehicleSoc"] = round(
                    min(100.0, lp["vehicleSoc"] + energy_wh / 10 / vehicle.capacity_kwh), 2
                )
                vehicle.soc = lp["vehicleSoc"]
        return power

    def add_vehicle(self, name: str) -> None:
        """A vehicle created in evcc's UI while it runs: published, but its setters are not subscribed
        (evcc's ``Listen`` loops over the vehicles once, at start; ``server/mqtt.go:202-208``)."""
        with self._lock:
            self.vehicles[name] = self._new_vehicle(len(self.vehicles), name)
            self._publish_vehicles()

    # ------------------------------------------------------------------ plugging (for demos and tests)

    def plug(self, loadpoint: int = 1, vehicle: str | None = None, *, soc: float | None = None) -> None:
        """Connect ``vehicle`` (default: the loadpoint's first) to ``loadpoint``: a new session starts."""
        with self._lock:
            self._plug_locked(loadpoint, vehicle, soc)
            self._publish_all()

    def _plug_locked(self, loadpoint: int, vehicle: str | None, soc: float | None) -> None:
        lp = self.loadpoints[loadpoint]
        name = vehicle or next(iter(self.vehicles), "")
        car = self.vehicles.get(name)
        if soc is not None and car is not None:
            car.soc = soc
        lp.update(
            connected=True,
            vehicleName=name,
            vehicleTitle=car.title if car else "",
            vehicleSoc=car.soc if car else None,
            sessionEnergy=0.0,
            chargeDuration=0,
            connectedDuration=0,
            _charging_s=0.0,
            _connected_s=0.0,
            _full_s=0.0,
        )

    def unplug(self, loadpoint: int = 1) -> None:
        """Disconnect the vehicle from ``loadpoint``."""
        with self._lock:
            self._unplug_locked(loadpoint)
            self._publish_all()

    def _unplug_locked(self, loadpoint: int) -> None:
        lp = self.loadpoints[loadpoint]
        lp.update(connected=False, charging=False, enabled=False, chargePower=0.0, vehicleName="")
        lp.update(vehicleTitle="", vehicleSoc=0.0, _idle_s=0.0)  # evcc publishes 0, not empty
        for key in ("chargeCurrents", "chargeCurrents/l1", "chargeCurrents/l2", "chargeCurrents/l3"):
            lp[key] = 0.0

    # ------------------------------------------------------------------ /set handling (evcc's rules)

    def _handle_set(self, message: MqttMessage) -> None:
        parsed = parse_topic(message.topic, self.prefix)
        payload = message.text
        if parsed is None or not parsed.is_set:
            return
        if parsed.scope not in SETTERS or parsed.key not in SETTERS[parsed.scope]:
            return  # evcc has no subscription for it: silently nothing, not even the /set wipe
        if parsed.path not in self.subscribed:
            return
        try:
            setter = SETTERS[parsed.scope][parsed.key]
            value = evcc_parse(setter, payload)
            with self._lock:
                self._apply(parsed.scope, parsed.device_id or "", setter, value)
            self.applied.append((message.topic, payload))
        except EvccParseError as exc:
            self.errors.append(SetError(datetime.now(UTC), message.topic, payload, str(exc)))
            log.error("set %s: %s", message.topic, exc)  # what evcc does: log, publish nothing
        finally:
            assert self._transport is not None
            # evcc wipes the /set topic after handling it, so a retained command cannot re-apply forever
            self._transport.publish(message.topic, b"", qos=1, retain=True)

    def _apply(self, scope: str, device_id: str, setter: Setter, value: Any) -> None:
        name = setter.name
        if scope == "site":
            self._apply_site(name, value)
        elif scope == "loadpoint":
            number = int(device_id.split("/")[1])
            if number not in self.loadpoints:
                raise EvccParseError(f"loadpoint {number} does not exist")
            self._apply_loadpoint(self.loadpoints[number], setter, value)
            if setter.republished:  # evcc publishes these on every call, changed or not
                for key in setter.echo_keys:
                    self._publish(f"{device_id}/{key}", self.loadpoints[number][key], force=True)
        else:
            vehicle = self.vehicles.get(device_id.split("/", 1)[1])
            if vehicle is None:
                raise EvccParseError(f"vehicle {device_id} does not exist")
            self._apply_vehicle(vehicle, setter, value)
        self._publish_all()


__all__ = ["EvccSimulator", "SetError"]
