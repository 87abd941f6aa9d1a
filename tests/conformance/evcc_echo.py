# ruff: noqa: E501  (a transcribed table: one row per case reads better than wrapped rows)
"""What evcc publishes after a successful ``/set``: the echo evkit must confirm a command by.

Transcribed from evcc-io/evcc at b29b49e3056ead3c99ff1f4711b2bb17083114b0 (see ``evcc_setters.py``).
NOT derived from evkit: evkit's expectations (``evkit/evcc/setters.py`` + ``evkit/evcc/echo.py``) and
the evcc simulator (``evkit/sim/evcc.py``) are tested against it. How evcc publishes:

- ``server/mqtt.go:55-80`` ``encode``: nil -> "", float ``%.3f`` trimmed, time -> Unix seconds (zero ->
  ""), ``fmt.Stringer`` -> ``String()`` (``api.BatteryMode``: ``api/batterymode_enumer.go:10-21``,
  ``BatteryUnknown`` -> ``unknown``)
- ``server/mqtt.go:129-147``: a struct field per subtopic; a zero ``omitempty`` field -> "" (``:141-142``)
- ``server/mqtt.go:149-156``: a nil pointer -> "" on the field's own topic, nothing below it
- ``server/mqtt.go:305-345`` ``Run``: every value goes out retained, no deduplication
  (``cmd/root.go:348`` only drops ``log``/``auth``/``releaseNotes``); MQTT cannot delete a subtree, so
  subtopics evcc stops publishing keep their old retained value
- vehicle setters re-publish the whole vehicle map (``core/vehicle/adapter.go`` ``v.publish()`` ->
  ``core/site_vehicles.go:38-82`` ``publishVehicles``) whether or not anything changed; the struct
  is ``vehicleStruct`` (``site_vehicles.go:20-35``: ``MinSoc``/``LimitSoc`` ``omitempty``, ``Plan
  *planStruct omitempty``, nil when the plan time is zero, ``:50-56``)

``setup`` are ``(path, payload)`` sent first; ``state`` is what a client holds before the command
(retained text below the root); ``publishes`` what evcc publishes on success, per topic the last text;
``stale`` topics evcc does NOT publish again although the user might expect it (their retained value
stays); ``silent`` topics evcc does not publish at all for this command. ``value`` is what a user types
for the same command (``evkit set evcc PATH VALUE``). Paths are below the root, loadpoint 1, vehicle ``ev``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLAN_TIME = "2099-01-01T06:00:00Z"
PLAN_UNIX = "4070930400"
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class EchoRow:
    case: str
    path: str
    payload: str
    value: object
    publishes: dict[str, str]
    source: str
    state: dict[str, str] = field(default_factory=dict)
    setup: tuple[tuple[str, str], ...] = ()
    stale: tuple[str, ...] = ()
    silent: tuple[str, ...] = ()


_PLAN = f'{{"value":80,"time":"{PLAN_TIME}"}}'
_PLAN_DELETE = f'{{"value":0,"time":"{ZERO_TIME}"}}'

ECHOES: tuple[EchoRow, ...] = (
    EchoRow("vehicle plan set", "vehicles/ev/planSoc", _PLAN, f"80@{PLAN_TIME}",
            {"vehicles/ev/plan/soc": "80", "vehicles/ev/plan/time": PLAN_UNIX},
            "core/vehicle/adapter.go:111-133; core/site_vehicles.go:50-56 (planStruct soc, time)",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/limitSoc": "80"}),
    EchoRow("vehicle plan delete", "vehicles/ev/planSoc", _PLAN_DELETE, None,
            {"vehicles/ev/plan": ""},
            "adapter.go:117-118 (soc 0 -> zero time); site_vehicles.go:50-56 (plan nil); mqtt.go:141-142",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/plan/soc": "80", "vehicles/ev/plan/time": PLAN_UNIX},
            setup=(("vehicles/ev/planSoc", _PLAN),), stale=("vehicles/ev/plan/soc", "vehicles/ev/plan/time")),
    EchoRow("vehicle plan delete by soc 0 with a time", "vehicles/ev/planSoc", f'{{"value":0,"time":"{PLAN_TIME}"}}', f"0@{PLAN_TIME}",
            {"vehicles/ev/plan": ""}, "adapter.go:116-118: soc 0 removes the plan whatever the time",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/plan/soc": "80", "vehicles/ev/plan/time": PLAN_UNIX},
            setup=(("vehicles/ev/planSoc", _PLAN),), stale=("vehicles/ev/plan/soc", "vehicles/ev/plan/time")),
    EchoRow("vehicle limitSoc 0", "vehicles/ev/limitSoc", "0", 0, {"vehicles/ev/limitSoc": ""},
            "adapter.go:91-95; site_vehicles.go:27 LimitSoc omitempty; mqtt.go:141-142",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/limitSoc": "80"}),
    EchoRow("vehicle limitSoc 0 when already 0", "vehicles/ev/limitSoc", "0", 0, {"vehicles/ev/limitSoc": ""},
            "adapter.go:91-95 publishes without a change check",
            state={"vehicles/ev/title": "Ev"}, setup=(("vehicles/ev/limitSoc", "0"),)),
    EchoRow("vehicle minSoc 0", "vehicles/ev/minSoc", "0", "0", {"vehicles/ev/minSoc": ""},
            "adapter.go:76-80; site_vehicles.go:26 MinSoc omitempty",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/minSoc": "20"}, setup=(("vehicles/ev/minSoc", "20"),)),
    EchoRow("vehicle limitSoc 70", "vehicles/ev/limitSoc", "70", 70, {"vehicles/ev/limitSoc": "70"},
            "adapter.go:91-95", state={"vehicles/ev/title": "Ev", "vehicles/ev/limitSoc": "80"}),
    EchoRow("battery mode release (null)", "site/batteryMode", "null", None, {"site/batteryModeExternal": "unknown"},
            "mqtt.go:234-239 (nil -> api.BatteryUnknown); core/site_api.go:553-557 (published on a change); batterymode_enumer.go:10",
            state={"site/batteryModeExternal": "hold"}, setup=(("site/batteryMode", "hold"),)),
    EchoRow("battery mode release (unknown)", "site/batteryMode", "unknown", "unknown", {"site/batteryModeExternal": "unknown"},
            "api.BatteryModeString('unknown') = BatteryUnknown (batterymode_enumer.go:36-47,59-68)",
            state={"site/batteryModeExternal": "hold"}, setup=(("site/batteryMode", "hold"),)),
    EchoRow("battery mode release before any mode", "site/batteryMode", "null", "null", {},
            "site_api.go:555: mode == batteryModeExternal (both unknown): nothing published; core/site.go:1229-1253 does not publish it at start",
            silent=("site/batteryModeExternal",)),
    EchoRow("battery mode hold", "site/batteryMode", "hold", "hold", {"site/batteryModeExternal": "hold"},
            "site_api.go:555-557"),
    EchoRow("plan energy 0 with a time", "loadpoints/1/planEnergy", f'{{"value":0,"time":"{PLAN_TIME}"}}', f"0@{PLAN_TIME}",
            {"loadpoints/1/planEnergy": "0", "loadpoints/1/planTime": ""},
            "core/loadpoint_api.go:396-408: energy 0 -> finishAt zero -> planTime \"\"",
            state={"loadpoints/1/planEnergy": "20", "loadpoints/1/planTime": PLAN_UNIX},
            setup=(("loadpoints/1/planEnergy", f'{{"value":20,"time":"{PLAN_TIME}"}}'),)),
    EchoRow("plan energy set", "loadpoints/1/planEnergy", f'{{"value":20,"time":"{PLAN_TIME}"}}', f"20@{PLAN_TIME}",
            {"loadpoints/1/planEnergy": "20", "loadpoints/1/planTime": PLAN_UNIX}, "loadpoint_api.go:392-413",
            state={"loadpoints/1/planEnergy": "0"}),
    EchoRow("smart cost limit reset", "loadpoints/1/smartCostLimit", "null", None, {"loadpoints/1/smartCostLimit": ""},
            "mqtt_setter.go:34-45 (isEmpty -> nil); loadpoint_api.go:912 publishes the nil pointer -> \"\"",
            state={"loadpoints/1/smartCostLimit": "0.25"}, setup=(("loadpoints/1/smartCostLimit", "0.25"),)),
    EchoRow("mode change resets battery boost", "loadpoints/1/mode", "minpv", "minpv",
            {"loadpoints/1/mode": "minpv", "loadpoints/1/batteryBoost": "false"}, "loadpoint_api.go:172-176",
            state={"loadpoints/1/mode": "pv", "loadpoints/1/batteryBoost": "true"},
            setup=(("loadpoints/1/mode", "pv"), ("loadpoints/1/batteryBoost", "true"))),
    EchoRow("phases unchanged: published again", "loadpoints/1/phasesConfigured", "3", 3,
            {"loadpoints/1/phasesConfigured": "3"}, "loadpoint_api.go:264-288 -> loadpoint_phases.go:9-11 (no change check)",
            state={"loadpoints/1/phasesConfigured": "3"}),
    EchoRow("vehicle limitSoc unchanged: published again", "vehicles/ev/limitSoc", "80", 80,
            {"vehicles/ev/limitSoc": "80"}, "adapter.go:91-95 v.publish() -> site_vehicles.go:38-82 (whole map)",
            state={"vehicles/ev/title": "Ev", "vehicles/ev/limitSoc": "80"}),
    EchoRow("loadpoint vehicle unchanged: published again", "loadpoints/1/vehicle", "ev", "ev",
            {"loadpoints/1/vehicleName": "ev"}, "loadpoint_api.go:873 -> loadpoint_vehicle.go:154",
            state={"loadpoints/1/vehicleName": "ev", "vehicles/ev/title": "Ev"}),
    EchoRow("same mode keeps battery boost", "loadpoints/1/mode", "pv", "pv", {},
            "loadpoint_api.go:172: only a change resets boost",
            state={"loadpoints/1/mode": "pv", "loadpoints/1/batteryBoost": "true"},
            setup=(("loadpoints/1/mode", "pv"), ("loadpoints/1/batteryBoost", "true")), silent=("loadpoints/1/batteryBoost",)),
)  # fmt: skip
