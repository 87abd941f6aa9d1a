"""A go-e Charger simulator: MQTT like the real one (retained JSON per key, ``/set`` -> ``/result``) and
the local HTTP API v2 (``/api/status``, ``/api/set``) on loopback.

Sets are applied by the rules of go-e's key tables (:mod:`evkit.goe.keys`, tested against the
transcribed tables in ``tests/conformance/``), with go-e-like error texts. ``read_only=True`` mimics a
charger whose writes are disabled: MQTT ``/set`` gets no ``/result`` (like ``mcr=true`` or firmware >=
051.5 with MQTT writes off) and HTTP ``/api/set`` answers 500 with an error string per key.

Firmware (``firmware``, reported as ``fwv``) matters as documented: before 051.5 no ``/result`` is
published at all (mqtt-de.md:79), only the new state; from 59.4 on ``err`` uses the renumbered table
(apikeys_Firmware_59.4_sorted.md:64), before it the generic one (apikeys-en.md:68); see :meth:`fault`.
The hardware limits the current: ``variant`` 11 means 16 A at most (apikeys-en.md:265), the 16 A adapter
``adi`` "Limits the current to 16A" (apikeys-en.md:10). What the charger answers to ``amp=20`` on such a
unit is not documented: the simulator refuses the set (like evkit) and, if the adapter is plugged in
later, limits the charging current to 16 A.

``bac``/``sdp`` are set with JSON of any type (``set: JsonVariantConst``, 59.4:22) and go-e's own
example sends ``bac=false&sdp=true`` (http-en.md:40); the meaning of a boolean is not documented. The
simulator reads it by the key's name, "Button allow Current change" (apikeys-en.md:25): ``true`` (allow)
= 3 NeverLock, ``false`` = 0 AlwaysLock.

A transaction (``trx``, apikeys-en.md:252): null when none, 0 without a card. With access control
``acs`` 1 (Wait) a connected car charges only after ``trx=0`` (start without a card); with ``acs`` 0 a
plugged car starts one at once. Unplugging ends it.

Charging dynamics (one step per ``tick_s``, ``speed`` times faster than real time): a connected car
charges when ``frc`` is 2, or 0 and the energy limit ``dwo`` is not reached; current = ``min(amp, tcl)``
on 1 phase (``psm`` 1) or 3 phases; ``nrg``, ``tpa``, ``wh`` and ``eto`` follow.

>>> with GoeSimulator("000042", http_port=0) as sim:   # doctest: +SKIP
...     print(sim.http_url)
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evkit.errors import SourceError, ValidationError
from evkit.goe.keys import (
    ADAPTER_LIMIT_A,
    ERR_LABELS,
    ERR_LABELS_FROM_59_4,
    KEYS,
    NEW_TABLES_FROM,
    firmware_version,
    hardware_current_limit,
)
from evkit.goe.status import DEFAULT_PREFIX, encode_json, result_topic, state_topic
from evkit.goe.values import normalized_name, validate_value
from evkit.sim.goe_http import serve_http
from evkit.sim.goe_state import (
    DEFAULT_EXTRA_KEYS,
    NOMINAL_VOLTAGE,
    READ_ONLY_TEXT,
    RESULT_TOPIC_FROM,
    initial_state,
)

log = logging.getLogger(__name__)


class GoeSimulator:
    """A simulated go-e charger on MQTT and/or HTTP. Start with :meth:`start`, end with :meth:`stop`.

    ``mqtt_host=None`` runs HTTP only; ``http_port=None`` runs MQTT only (``0`` picks a free port, see
    :attr:`http_url`). ``cleanup`` removes the retained topics on :meth:`stop` (tests, notebooks).
    """

    def __init__(
        self,
        serial: str = "000001",
        *,
        mqtt_host: str | None = "127.0.0.1",
        mqtt_port: int = 1883,
        prefix: str = DEFAULT_PREFIX,
        http_port: int | None = 0,
        read_only: bool = False,
        tick_s: float = 1.0,
        speed: float = 1.0,
        car_connected: bool = True,
        extra_keys: Mapping[str, Any] | None = None,
        cleanup: bool = True,
        seed: int | None = 0,
        firmware: str = "056.2",
        variant: int = 22,
        adapter: bool = False,
    ) -> None:
        self.serial = serial
        self.mqtt_host = mqtt_host
        self.mqtt_port = mqtt_port
        self.prefix = prefix.rstrip("/") or DEFAULT_PREFIX
        self.http_port = http_port
        self.tick_s = tick_s
        self.speed = speed
        self.cleanup = cleanup
        self.http_read_only = read_only
        broker_url = f"mqtt://{mqtt_host}:{mqtt_port}" if mqtt_host else ""
        self.firmware = firmware
        version = firmware_version(firmware)
        #: Firmware before 051.5 publishes no ``/result`` (mqtt-de.md:79).
        self.sends_result = version is None or version >= RESULT_TOPIC_FROM
        self._state = initial_state(
            serial, self.prefix, broker_url, read_only, firmware=firmware, variant=variant, adapter=adapter
        )
        self._extra = dict(DEFAULT_EXTRA_KEYS if extra_keys is None else extra_keys)
        self._state.update(self._extra)
        self._car_connected = car_connected
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._published: dict[str, str] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._client: paho.Client | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._boot = time.monotonic()
        self._charge_ms = 0.0
        self._clock_offset = timedelta(0)
        self.sets_applied = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GoeSimulator:
        """Connect to the broker, publish the state, start serving HTTP and ticking."""
        with self._lock:
            self._step(0.0)
        if self.http_port is not None:
            self._http, self._http_thread = serve_http(self, self.http_port)
        if self.mqtt_host is not None:
            self._start_mqtt()
        self._ticker = threading.Thread(target=self._run, name=f"goe-sim-{self.serial}", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop ticking, serving and publishing; say ``mcc=false`` like the charger's LWT."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        client = self._client
        if client is not None:
            self._client = None
            try:
                topics = [state_topic(self.serial, key, self.prefix) for key in self._published]
                if self.cleanup:
                    for topic in topics:
                        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(2)
                else:
                    client.publish(self._topic("mcc"), "false", qos=1, retain=True).wait_for_publish(2)
            except (RuntimeError, ValueError) as exc:
                log.warning("go-e simulator could not tidy its topics: %s", exc)
            finally:
                client.disconnect()
                client.loop_stop()

    def __enter__(self) -> GoeSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the HTTP API (after :meth:`start`)."""
        if self._http is None:
            raise SourceError("the go-e simulator serves no HTTP (http_port=None or not started)")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def state(self) -> dict[str, Any]:
        """A copy of every key's current value."""
        with self._lock:
            return json.loads(json.dumps(self._state))  # type: ignore[no-any-return]

    def fault(self, name: str | None) -> int | None:
        """Raise the error ``name`` (``"Overtemp"``; ``None`` clears it) numbered as this firmware
        does: 59.4 and later use the renumbered table. Returns the ``err`` code published."""
        if name is None:
            code: int | None = 0
        else:
            version = firmware_version(self.firmware)
            table = ERR_LABELS_FROM_59_4 if version is None or version >= NEW_TABLES_FROM else ERR_LABELS
            codes = {normalized_name(label): code for code, label in table.items()}
            code = codes.get(normalized_name(name))
            if code is None:
                raise ValueError(
                    f"firmware {self.firmware} has no error {name!r}; it knows {', '.join(table.values())}"
                )
        with self._lock:
            self._state["err"] = code
            self._step(0.0)
        self._publish_changes()
        return code

    def use_adapter(self, plugged: bool = True) -> None:
        """Plug the 16 A adapter in or out (``adi``): it limits the current to 16 A."""
        with self._lock:
            self._state["adi"] = plugged
            self._step(0.0)
        self._publish_changes()

    def plug(self, connected: bool = True) -> None:
        """Connect or disconnect the simulated car (``wh`` resets on disconnect, like the real one)."""
        with self._lock:
            self._car_connected = connected
            if not connected:
                self._state["wh"] = 0.0
            self._step(0.0)
        self._publish_changes()

    # ------------------------------------------------------------------ the rules for a set

    def apply_set(self, key: str, json_text: str) -> str | None:
        """Apply one set as the charger would; ``None`` on success, else the charger's error text."""
        try:
            value = json.loads(json_text)
        except json.JSONDecodeError as exc:
            return f"{key}: tried to set api key with invalid json InvalidInput ({exc.msg})"
        with self._lock:
            spec = KEYS.get(key)
            if spec is None:
                if key not in self._extra:
                    return f"{key}: api key not found"
                self._state[key] = value
                self.sets_applied += 1
                return None
            if not spec.writable:
                return f"{key}: tried to set api key without setter ({json_text})"
            if spec.accepts_bool and isinstance(value, bool):
                value = 3 if value else 0  # "Button allow ... change": true = NeverLock, false = AlwaysLock
            try:
                checked = validate_value(spec, value, state=self._state)
            except ValidationError as exc:
                return str(exc)
            self._apply(key, checked)
            self.sets_applied += 1
            self._step(0.0)
        self._publish_changes()
        return None

    def _apply(self, key: str, value: Any) -> None:
        if key == "ids":
            self._state.update(
                {"pgrid": value.get("pGrid"), "ppv": value.get("pPv"), "pakku": value.get("pAkku")}
            )
        elif key == "rst":
            self._boot = time.monotonic()
        elif key == "mtp":
            self._state["mtp"] = value if value is not None else DEFAULT_PREFIX
        elif key == "utc":
            self._set_clock(value)
        else:
            self._state[key] = value

    # ------------------------------------------------------------------ dynamics

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                self._step(self.tick_s * self.speed)
            self._publish_changes()

    def _step(self, seconds: float) -> None:
        """Advance the charger by ``seconds`` of simulated time (0 = just recompute the state)."""
        state = self._state
        energy_limit_hit = state["dwo"] is not None and state["wh"] >= state["dwo"]
        allowed = state["frc"] == 2 or (state["frc"] == 0 and not energy_limit_hit)
        if not self._car_connected:
            state["trx"] = None  # unplugging ends the transaction
        elif state["trx"] is None and state["acs"] == 0:
            state["trx"] = 0  # access open: a plugged car starts a transaction without a card
        authorized = state["acs"] == 0 or state["trx"] is not None
        allowed = allowed and authorized and state["err"] in (0, None)
        charging = self._car_connected and allowed
        limit = state["tcl"] if state["tcl"] is not None else state["amp"]
        hardware = hardware_current_limit(state)
        cap = hardware[0] if hardware is not None else state["ama"]
        if state.get("adi"):
            cap = min(cap, ADAPTER_LIMIT_A)
        current = float(min(limit, state["amp"], state["ama"], cap)) if charging else 0.0
        phases = 1 if state["psm"] == 1 else 3
        volts = [round(NOMINAL_VOLTAGE + self._random.uniform(-2.0, 2.0), 1) for _ in range(3)]
        amps = [
            round(current + self._random.uniform(-0.05, 0.05), 2) if i < phases and charging else 0.0
            for i in range(3)
        ]
        watts = [round(v * a, 1) for v, a in zip(volts, amps, strict=True)]
        total = round(sum(watts), 1)
        pf = [99.0 if a else 0.0 for a in amps]
        state["nrg"] = [*volts, 0.0, *amps, *watts, 0.0, total, *pf, 0.0]
        added_wh = total * seconds / 3600.0
        state["wh"] = round(state["wh"] + added_wh, 3)
        state["eto"] = int(state["eto"] + round(added_wh))
        state["tpa"] = round(0.9 * state["tpa"] + 0.1 * total, 1) if seconds else state["tpa"]
        state["alw"] = allowed and self._car_connected
        state["acu"] = int(current) if charging else None
        state["pnp"] = phases if charging else 0
        state["pha"] = [i < phases and charging for i in range(3)] + [True, True, True]
        if not self._car_connected:
            state["car"] = 1
        elif charging:
            state["car"] = 2
        else:
            state["car"] = 4 if energy_limit_hit else 3
        state["modelStatus"] = self._model_status(energy_limit_hit, authorized)
        self._charge_ms = self._charge_ms + seconds * 1000 if charging else 0.0
        state["cdi"] = {"type": 1, "value": int(self._charge_ms)} if charging else None
        state["rbt"] = int((time.monotonic() - self._boot) * 1000 * self.speed)
        now = datetime.now(UTC) + self._clock_offset
        state["utc"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"
        state["loc"] = now.astimezone().strftime("%Y-%m-%dT%H:%M:%S")

    def _set_clock(self, text: str) -> None:
        # utc is R/W (apikeys-en.md:264) as a string; its format is not documented. The simulator
        # takes the form it publishes (ISO 8601, UTC) and moves its clock.
        try:
            wanted = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return
        if wanted.tzinfo is None:
            wanted = wanted.replace(tzinfo=UTC)
        self._clock_offset = wanted - datetime.now(UTC)

    def _model_status(self, energy_limit_hit: bool, authorized: bool = True) -> int:
        if self._state.get("err") not in (0, None):
            return 26  # NotChargingBecauseError
        if not authorized:
            return 2  # NotChargingBecauseAccessControl(Wait)
        frc = self._state["frc"]
        if frc == 2:
            return 3  # ChargingBecauseForceStateOn
        if frc == 1:
            return 4  # NotChargingBecauseForceStateOff
        if energy_limit_hit:
            return 6  # NotChargingBecauseEnergyLimit
        return 15  # ChargingBecauseFallbackDefault

    # ------------------------------------------------------------------ MQTT

    def _topic(self, key: str) -> str:
        return state_topic(self.serial, key, self.prefix)

    def _start_mqtt(self) -> None:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"evkit-goe-sim-{self.serial}-{uuid.uuid4().hex[:8]}",  # unique: no takeover
            clean_session=True,
        )
        client.will_set(self._topic("mcc"), "false", qos=1, retain=True)
        subscribed = threading.Event()

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            del userdata, flags, properties
            if not reason.is_failure:
                client.subscribe(f"{self.prefix}/{self.serial}/+/set", qos=1)
                with self._lock:
                    self._published.clear()  # after a reconnect, publish everything again
                if self._client is not None:
                    self._publish_changes()

        def on_subscribe(client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
            del client, userdata, mid, reasons, properties
            subscribed.set()  # ready: a /set sent from now on is answered

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = self._on_message
        try:
            client.connect(self.mqtt_host or "127.0.0.1", self.mqtt_port, keepalive=30)
        except OSError as exc:
            raise SourceError(
                f"go-e simulator cannot reach MQTT broker {self.mqtt_host}:{self.mqtt_port}: {exc}"
            ) from exc
        client.loop_start()
        if not subscribed.wait(10):
            client.loop_stop()
            raise SourceError(
                f"MQTT broker {self.mqtt_host}:{self.mqtt_port} did not accept the go-e simulator"
            )
        self._client = client
        self._publish_changes(wait=True)  # started = the whole state is retained on the broker

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        del client, userdata
        parts = message.topic.split("/")
        if len(parts) < 3 or parts[-1] != "set":
            return
        key = parts[-2]
        if self._state.get("mcr"):
            return  # MQTT read-only: the real charger ignores the set and sends no /result
        try:
            text = bytes(message.payload).decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        error = self.apply_set(key, text)
        answer = "success" if error is None else error
        client = self._client
        if client is not None and self.sends_result:
            client.publish(result_topic(self.serial, key, self.prefix), answer, qos=1, retain=False)

    def _publish_changes(self, keys: Iterable[str] | None = None, *, wait: bool = False) -> None:
        """Publish keys whose value changed (retained). ``wait``: return once the broker has them all."""
        client = self._client
        if client is None:
            return
        with self._lock:
            wanted = list(keys) if keys is not None else list(self._state)
            changes = []
            for key in wanted:
                payload = encode_json(self._state[key])
                if self._published.get(key) != payload:
                    self._published[key] = payload
                    changes.append((key, payload))
        last = None
        for key, payload in changes:
            last = client.publish(self._topic(key), payload, qos=1 if wait else 0, retain=True)
        if wait and last is not None:
            last.wait_for_publish(10)  # one connection keeps order: the earlier ones are there too


def run_forever(simulator: GoeSimulator, *, report_every_s: float = 0.0) -> None:
    """Run ``simulator`` until Ctrl-C (for ``evkit sim goe``)."""
    simulator.start()
    try:
        while True:
            time.sleep(report_every_s or 3600)
    finally:
        simulator.stop()


__all__ = ["DEFAULT_EXTRA_KEYS", "READ_ONLY_TEXT", "GoeSimulator", "initial_state", "run_forever"]
