# ruff: noqa: E501  (a transcribed table: one row per evcc setter reads better than wrapped rows)
"""evcc's MQTT setters as evcc's source defines them: name, parser, core check, first release.

Transcribed from evcc-io/evcc at commit b29b49e3056ead3c99ff1f4711b2bb17083114b0 (2026-08-08,
``git describe`` 0.313.0-102-gb29b49e30, a nightly after release 0.313.0; the newest release tag is
0.313.2, 5b4b4a333, on a release branch). NOT derived from evkit: evkit's catalog
(``evkit/evcc/catalog.py``) and release table (``evkit/evcc/versions.py``) are tested against it.

- ``source``: the setter's line in ``server/mqtt.go`` (``listenSiteSetters`` :213-247,
  ``listenLoadpointSetters`` :249-288, ``listenVehicleSetters`` :290-303), each subscribed once at start
  as ``<root>/<site|loadpoints/N|vehicles/NAME>/<name>/set`` (``Listen`` :189-211).
- ``parser``: the wrapper in ``server/mqtt_setter.go``: ``floatSetter`` :47-49 (``parseFloat``,
  ``server/helper.go:23-29``: ``strconv.ParseFloat``, NaN/Inf refused), ``floatPtrSetter`` :51-53 and
  ``ptrSetter`` :34-45 (an exact ``isEmpty`` word ``- nil null none`` :19-21 = nil), ``intSetter``
  :55-57 (``strconv.Atoi``), ``boolSetter`` :59-63 (``cast.ToBoolE``), ``durationSetter`` :65-67
  (``util.ParseDuration``: whole seconds), ``planStrategySetter`` :69-78, ``planGoalSetter`` :80-89
  (``{"value", "time"}``), ``setterFunc(api.ChargeModeString)`` (``api/chargemode.go:10-25``),
  ``vehicle`` its own function (``mqtt.go:269-281``: ``isEmpty`` = guest, else
  ``Vehicles().ByName``).
- ``core``: the function that checks and applies it (file:line of ``func``) and what it refuses.
- ``since``: the first release tag from which evcc subscribes the setter without a gap up to 0.313.2,
  found by reading ``server/mqtt.go`` of every release tag from 0.123.0 (the first with
  ``listenVehicleSetters`` and vehicles addressed by name) to 0.313.2; ``"0.123.0"`` with an empty
  ``since_commit`` means "in every release checked" (possibly older). ``None`` = not in any release
  (nightly only). ``since_commit``: the commit that added it (``git log -G`` between the two tags; the
  first tag containing it, ``git tag --contains``, is ``since``).
"""

from __future__ import annotations

from dataclasses import dataclass

REPO = "evcc-io/evcc"
COMMIT = "b29b49e3056ead3c99ff1f4711b2bb17083114b0"
DESCRIBE = "0.313.0-102-gb29b49e30"
NEWEST_RELEASE = "0.313.2"


@dataclass(frozen=True)
class SetterRow:
    scope: str  # site / loadpoint / vehicle
    name: str
    parser: str
    core: str
    check: str
    source: str  # file:line at COMMIT
    since: str | None
    since_commit: str = ""
    note: str = ""


_S, _L, _V = "site", "loadpoint", "vehicle"
_M = "server/mqtt.go"

SETTERS: tuple[SetterRow, ...] = (
    # ---- site (server/mqtt.go:213-247; core/site_api.go)
    SetterRow(_S, "bufferSoc", "floatSetter", "core/site_api.go:258", "battery configured; 0 or >= prioritySoc; <= bufferStartSoc unless that is 0", f"{_M}:215", "0.123.0"),
    SetterRow(_S, "bufferStartSoc", "floatSetter", "core/site_api.go:293", "battery configured; 0 or >= bufferSoc", f"{_M}:216", "0.123.0"),
    SetterRow(_S, "batteryDischargeControl", "boolSetter", "core/site_api.go:393", "battery control available", f"{_M}:217", "0.126.3", "5750d0d1e (#13864)"),
    SetterRow(_S, "batteryGridDischarge", "boolSetter", "core/site_api.go:420", "battery control available", f"{_M}:218", "0.313.0", "177ca558c (#32086)"),
    SetterRow(_S, "prioritySoc", "floatSetter", "core/site_api.go:227", "battery configured; <= bufferSoc unless that is 0", f"{_M}:219", "0.123.0"),
    SetterRow(_S, "residualPower", "floatSetter", "core/site_api.go:331", "none; published on change only", f"{_M}:220", "0.123.0"),
    SetterRow(_S, "gridExportLimit", "floatSetter", "core/site_api.go:354", ">= 0", f"{_M}:221", None, "3093539af (#32541, 2026-08-07)", "no release tag contains it"),
    SetterRow(_S, "solarAdjusted", "boolSetter", "core/site_api.go:447", "none", f"{_M}:222", "0.312.0", "a95a5595a (#31862)"),
    SetterRow(_S, "smartCostLimit", "floatPtrSetter", "core/loadpoint_api.go:912", "none; sets every loadpoint's limit", f"{_M}:223", "0.126.3", "5750d0d1e (#13864)", "also in 0.123.0-0.124.4, absent 0.124.5-0.126.2"),
    SetterRow(_S, "smartFeedInPriorityLimit", "floatPtrSetter", "core/loadpoint_api.go:934", "none; sets every loadpoint's limit", f"{_M}:228", "0.205.0", "42ed7da2e (#21813)"),
    SetterRow(_S, "batteryGridChargeLimit", "floatPtrSetter", "core/site_api.go:466", "battery control available", f"{_M}:233", "0.130.0", "b0ea0582e (#14855)"),
    SetterRow(_S, "batteryMode", "ptrSetter(api.BatteryModeString)", "core/site_api.go:543", "battery control available; nil = api.BatteryUnknown (release)", f"{_M}:234", "0.203.0", "7e9bccf0b (#20455)"),
    # ---- loadpoint (server/mqtt.go:249-288; core/loadpoint_api.go)
    SetterRow(_L, "mode", "setterFunc(api.ChargeModeString)", "core/loadpoint_api.go:160", "off/now/minpv/pv, case-insensitive", f"{_M}:251", "0.123.0"),
    SetterRow(_L, "phasesConfigured", "intSetter", "core/loadpoint_api.go:264", "0 needs phase switching; 0, 1 or 3; <= physical phases", f"{_M}:252", "0.301.2", "5a601afe4 (#27598)", "the topic was 'phases' up to 0.301.1"),
    SetterRow(_L, "limitSoc", "intSetter", "core/loadpoint_api.go:305", "none", f"{_M}:253", "0.123.0"),
    SetterRow(_L, "minSoc", "intSetter", "core/loadpoint_api.go:333", "none", f"{_M}:254", "0.312.0", "3bb943cbe (#31749)"),
    SetterRow(_L, "priority", "intSetter", "core/loadpoint_api.go:239", "none", f"{_M}:255", "0.200.0", "864c2cf59 (#18137)"),
    SetterRow(_L, "minCurrent", "floatSetter", "core/loadpoint_api.go:761", "<= maxCurrent", f"{_M}:256", "0.123.0"),
    SetterRow(_L, "maxCurrent", "floatSetter", "core/loadpoint_api.go:797", ">= minCurrent", f"{_M}:257", "0.123.0"),
    SetterRow(_L, "limitEnergy", "floatSetter", "core/loadpoint_api.go:366", "none", f"{_M}:258", "0.124.1", "e39e3b168 (#11974)"),
    SetterRow(_L, "enableThreshold", "floatSetter", "core/loadpoint_api.go:558", "none", f"{_M}:259", "0.123.0"),
    SetterRow(_L, "disableThreshold", "floatSetter", "core/loadpoint_api.go:582", "none", f"{_M}:260", "0.123.0"),
    SetterRow(_L, "enableDelay", "durationSetter", "core/loadpoint_api.go:606", "none", f"{_M}:261", "0.131.0", "37d1f5861 (#16396)"),
    SetterRow(_L, "disableDelay", "durationSetter", "core/loadpoint_api.go:626", "none", f"{_M}:262", "0.131.0", "37d1f5861 (#16396)"),
    SetterRow(_L, "smartCostLimit", "floatPtrSetter", "core/loadpoint_api.go:912", "none", f"{_M}:263", "0.124.5", "93a1faf75 (#12135)"),
    SetterRow(_L, "smartFeedInPriorityLimit", "floatPtrSetter", "core/loadpoint_api.go:934", "none", f"{_M}:264", "0.205.0", "42ed7da2e (#21813)"),
    SetterRow(_L, "batteryBoost", "boolSetter", "core/loadpoint_api.go:653", "only in modes pv and minpv", f"{_M}:265", "0.131.0", "16c467a65 (#16599)"),
    SetterRow(_L, "batteryBoostLimit", "intSetter", "core/loadpoint_api.go:684", "none", f"{_M}:266", "0.301.0", "004666156 (#27392)"),
    SetterRow(_L, "planStrategy", "planStrategySetter", "core/loadpoint_api.go:452", "none", f"{_M}:267", "0.300.2", "dc6d05653 (reapplies #24423)", "in 0.300.0, reverted in 0.300.1 (7acc133f3)"),
    SetterRow(_L, "planEnergy", "planGoalSetter[float64]", "core/loadpoint_api.go:416", "non-zero time in the future; energy 0 removes the plan", f"{_M}:268", "0.123.0"),
    SetterRow(_L, "vehicle", "vehicle", "core/loadpoint_api.go:873", "a configured vehicle name, or an empty word (guest)", f"{_M}:269", "0.123.0"),
    # ---- vehicle (server/mqtt.go:290-303; core/vehicle/adapter.go)
    SetterRow(_V, "limitSoc", "intSetter", "core/vehicle/adapter.go:91", "none", f"{_M}:292", "0.123.0"),
    SetterRow(_V, "minSoc", "intSetter", "core/vehicle/adapter.go:76", "none", f"{_M}:293", "0.123.0"),
    SetterRow(_V, "planStrategy", "planStrategySetter", "core/vehicle/adapter.go:182", "none", f"{_M}:294", "0.300.2", "dc6d05653 (reapplies #24423)", "in 0.300.0, reverted in 0.300.1"),
    SetterRow(_V, "planSoc", "planGoalSetter[int]", "core/vehicle/adapter.go:111", "non-zero time in the future; soc 0 removes the plan", f"{_M}:295", "0.123.0"),
)  # fmt: skip

#: Setters whose echo evcc publishes on every successful call, changed or not (no change check on the
#: way to the publish); every other setter publishes on a change only, or was not checked here.
REPUBLISHED: dict[tuple[str, str], str] = {
    (
        _L,
        "phasesConfigured",
    ): "core/loadpoint_api.go:264-288 -> core/loadpoint_phases.go:9-11 setPhasesConfigured publishes",
    (
        _L,
        "planStrategy",
    ): "core/loadpoint_api.go:452-458 -> :436-444 setPlanStrategy publishes planStrategy and effectivePlanStrategy",
    (
        _L,
        "vehicle",
    ): 'core/loadpoint_api.go:873-882 -> core/loadpoint_vehicle.go:154 setActiveVehicle publishes vehicleName (nil: :170 -> :218-220 publishes "")',
    (
        _V,
        "limitSoc",
    ): "core/vehicle/adapter.go:91-95 v.publish() -> core/site_vehicles.go:38-82 publishVehicles (whole map)",
    (_V, "minSoc"): "core/vehicle/adapter.go:76-80 v.publish() -> publishVehicles",
    (_V, "planStrategy"): "core/vehicle/adapter.go:182-190 v.publish() -> publishVehicles",
    (_V, "planSoc"): "core/vehicle/adapter.go:111-133 v.publish() -> publishVehicles",
}

#: Topic names older releases used instead (``server/mqtt.go`` of the tag named).
RENAMED_IN_EVCC: dict[tuple[str, str], tuple[str, str]] = {
    # (scope, old name) -> (new name, last release with the old name)
    (_L, "phases"): ("phasesConfigured", "0.301.1"),
}

#: What evcc publishes on ``<root>/site/version`` (``cmd/root.go:458`` publishes
#: ``util.FormattedVersion()``, ``util/version.go:18-23``: ``"<Version> (<Commit>)"`` or ``Version``).
VERSION_FORMATS: tuple[tuple[str, str, str], ...] = (
    # (what built it, the published text, where the parts come from)
    ("release (Docker RELEASE=1, goreleaser)", "0.313.2", "Makefile:5-9 hides the commit; .goreleaser.yml:19"),
    ("nightly / self-built from master", "0.313.0 (b29b49e30)", "Makefile:2-12 (git describe --abbrev=0, short sha); .goreleaser-nightly.yml:14"),
    ("built without version flags", "0.0.0", "util/version.go:8-12 DevVersion"),
)  # fmt: skip
