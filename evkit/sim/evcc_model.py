"""The simulated evcc's data and evcc's rules for changing it (used by :mod:`evkit.sim.evcc`).

- the initial site, loadpoints and vehicles, and a vehicle's topics as evcc publishes its
  ``vehicleStruct`` (``core/site_vehicles.go:20-82``): zero ``omitempty`` fields empty, ``plan`` ""
  when there is no plan (``plan/soc``/``plan/time`` are then not published, so they stay stale)
- the core checks and effects of each ``/set`` (``core/site_api.go``, ``core/loadpoint_api.go``,
  ``core/vehicle/adapter.go`` at evcc-io/evcc b29b49e3); a refusal raises :class:`EvccParseError`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evkit.evcc.catalog import BATTERY_RELEASED, Setter, SetterKind
from evkit.evcc.parsers import EvccParseError

#: Vehicle fields evcc publishes from ``vehicleStruct`` (``core/site_vehicles.go:20-35``) in order;
#: those tagged ``omitempty`` go out as an empty payload when zero.
_VEHICLE_OMITEMPTY = frozenset(
    {"icon", "capacity", "phases", "mode", "minSoc", "limitSoc", "minCurrent", "maxCurrent", "priority"}
)


@dataclass
class SimVehicle:
    name: str
    title: str
    capacity_kwh: float
    soc: float
    fields: dict[str, Any] = field(default_factory=dict)


class EvccModel:
    """State and evcc's rules; :class:`~evkit.sim.evcc.EvccSimulator` adds publishing and the loop."""

    version: str
    battery: bool
    site: dict[str, Any]
    loadpoints: dict[int, dict[str, Any]]
    vehicles: dict[str, SimVehicle]
    _battery_mode_age_s: float

    def _publish_vehicles(self, *, force: bool = False) -> None:
        raise NotImplementedError

    def _new_vehicle(self, index: int, name: str) -> SimVehicle:
        capacity = (77.0, 52.0, 58.0, 40.0)[index % 4]
        vehicle = SimVehicle(name, name.replace("_", " ").title(), capacity, 35.0 + 10 * (index % 3))
        vehicle.fields = {
            "title": vehicle.title,
            "icon": "car",
            "capacity": capacity,
            "phases": 0,
            "mode": "",
            "minSoc": 0,
            "limitSoc": 80,
            "minCurrent": 0.0,
            "maxCurrent": 0.0,
            "priority": 0,
            "features": 0,  # the slice's count; no features
            "plan": None,  # None = no plan; else (soc, time)
            "repeatingPlans": 0,
            "planStrategy/continuous": False,
            "planStrategy/precondition": 0,
        }
        return vehicle

    def _vehicle_topics(self, vehicle: SimVehicle) -> dict[str, Any]:
        """The vehicle map entry as evcc publishes it: zero omitempty fields empty, the plan as ``plan``
        = "" when there is none (its retained ``plan/soc``/``plan/time`` are then left alone)."""
        topics: dict[str, Any] = {}
        for key, value in vehicle.fields.items():
            if key == "plan":
                if value is None:
                    topics["plan"] = None
                else:
                    topics["plan/soc"], topics["plan/time"] = value
            elif key in _VEHICLE_OMITEMPTY and not value:
                topics[key] = None
            elif key == "features" and not value:
                topics[key] = None  # omitempty slice
            else:
                topics[key] = value
        return topics

    def _new_site(self) -> dict[str, Any]:
        site: dict[str, Any] = {
            "siteTitle": "evkit simulated home",
            "version": self.version,
            "currency": "EUR",
            "residualPower": 0.0,
            "gridExportLimit": 0.0,
            "smartCostType": "price",
            "pvPower": 0.0,
            "homePower": 450.0,
            "grid/power": 0.0,
            "grid/energy": 12000.0,
            "pvEnergy": 8000.0,
            "tariffGrid": 0.31,
            "tariffFeedIn": 0.08,
            "gridConfigured": True,
            "solarAdjusted": False,
        }
        if self.battery:
            site.update(
                {
                    "bufferSoc": 90.0,
                    "bufferStartSoc": 95.0,
                    "prioritySoc": 50.0,
                    "batteryDischargeControl": False,
                    "batteryGridDischarge": False,
                    "batteryGridChargeLimit": None,
                    "batteryMode": "normal",
                    "batteryModeExternal": None,  # evcc publishes it only once a mode was set
                    "battery/soc": 60.0,
                    "battery/power": 0.0,
                    "battery/capacity": 10.0,
                }
            )
        return site

    def _new_loadpoint(self, number: int, vehicle_names: list[str]) -> dict[str, Any]:
        vehicle = vehicle_names[(number - 1) % len(vehicle_names)] if vehicle_names else None
        connected = vehicle is not None and number == 1
        return {
            "title": f"Carport {number}" if number > 1 else "Garage",
            "mode": "pv",
            "phasesConfigured": 3,
            "chargerPhases1p3p": True,
            "chargerSinglePhase": False,
            "phasesActive": 3,
            "minCurrent": 6.0,
            "maxCurrent": 16.0,
            "limitSoc": 100,
            "minSoc": 0,
            "priority": 0,
            "limitEnergy": 0.0,
            "enableThreshold": 0.0,
            "disableThreshold": 0.0,
            "enableDelay": 60,
            "disableDelay": 180,
            "smartCostLimit": None,
            "smartFeedInPriorityLimit": None,
            "batteryBoost": False,
            "batteryBoostLimit": 100,
            "planEnergy": 0.0,
            "planTime": None,
            "planStrategy/continuous": False,
            "planStrategy/precondition": 0,
            "vehicleName": vehicle if connected else "",
            "vehicleTitle": self.vehicles[vehicle].title if connected and vehicle else "",
            "connected": connected,
            "charging": False,
            "enabled": False,
            "chargePower": 0.0,
            "offeredCurrent": 0.0,
            "chargeCurrents/l1": 0.0,
            "chargeCurrents/l2": 0.0,
            "chargeCurrents/l3": 0.0,
            "chargeCurrents": 0.0,
            "sessionEnergy": 0.0,
            "chargeDuration": 0,
            "connectedDuration": 0,
            "chargeTotalImport": 1234.5 + 100 * number,
            "vehicleSoc": self.vehicles[vehicle].soc if connected and vehicle else 0.0,
            "effectiveLimitSoc": 80,
        }

    # ------------------------------------------------------------------ /set effects (evcc's rules)

    def _apply_site(self, name: str, value: Any) -> None:
        site = self.site
        battery_keys = {"bufferSoc", "bufferStartSoc", "prioritySoc", "batteryDischargeControl"}
        battery_keys |= {"batteryGridChargeLimit", "batteryMode", "batteryGridDischarge"}
        if name in battery_keys and not self.battery:
            raise EvccParseError("battery control not available")
        if name == "bufferSoc" and value != 0:
            if value < site["prioritySoc"]:
                raise EvccParseError("bufferSoc must be larger than prioritySoc")
            if site["bufferStartSoc"] and value > site["bufferStartSoc"]:
                raise EvccParseError("bufferSoc must be smaller than bufferStartSoc")
        if name == "bufferStartSoc" and value != 0 and value < site["bufferSoc"]:
            raise EvccParseError("bufferStartSoc must be larger than bufferSoc")
        if name == "prioritySoc" and site.get("bufferSoc") and value > site["bufferSoc"]:
            raise EvccParseError("prioritySoc must be smaller than bufferSoc")
        if name == "gridExportLimit" and value < 0:
            raise EvccParseError("invalid grid export limit")
        if name in ("smartCostLimit", "smartFeedInPriorityLimit"):
            for lp in self.loadpoints.values():
                lp[name] = value
            return
        if name == "batteryMode":
            mode = value or BATTERY_RELEASED
            if mode != (site.get("batteryModeExternal") or BATTERY_RELEASED):
                site["batteryModeExternal"] = mode  # published on a change only (core/site_api.go:555)
            if mode != BATTERY_RELEASED:
                self._battery_mode_age_s = 0.0
            return
        site[name] = value

    def _apply_loadpoint(self, lp: dict[str, Any], setter: Setter, value: Any) -> None:
        name = setter.name
        kind = setter.kind
        if name == "minCurrent" and value > lp["maxCurrent"]:
            raise EvccParseError(f"minCurrent {value} must be <= maxCurrent {lp['maxCurrent']}")
        if name == "maxCurrent" and value < lp["minCurrent"]:
            raise EvccParseError(f"maxCurrent {value} must be >= minCurrent {lp['minCurrent']}")
        if kind is SetterKind.PHASES:
            if value not in (0, 1, 3):
                raise EvccParseError(f"invalid number of phases: {value}")
            if value == 0 and not lp["chargerPhases1p3p"]:
                raise EvccParseError("charger does not support phase switching")
        if name == "batteryBoost" and value and lp["mode"] not in ("pv", "minpv"):
            raise EvccParseError("battery boost is only available in pv and minpv modes")
        if kind is SetterKind.PLAN_ENERGY:
            energy, moment = value
            if moment is not None and moment < datetime.now(UTC):
                raise EvccParseError("timestamp is in the past")
            lp["planEnergy"] = float(energy)
            lp["planTime"] = moment if energy else None  # energy 0 removes the plan time
            return
        if kind is SetterKind.PLAN_STRATEGY:
            lp["planStrategy/continuous"] = value["continuous"]
            lp["planStrategy/precondition"] = value["precondition"]
            return
        if kind is SetterKind.VEHICLE:
            if value is not None and value not in self.vehicles:
                raise EvccParseError(f"vehicle not found: {value}")
            lp["vehicleName"] = value or ""
            lp["vehicleTitle"] = self.vehicles[value].title if value else ""
            if lp["connected"]:
                lp["vehicleSoc"] = self.vehicles[value].soc if value else None
            return
        if name == "mode" and value != lp["mode"]:
            lp["batteryBoost"] = False  # evcc resets battery boost when the mode changes
        lp[name] = float(value) if kind is SetterKind.FLOAT else value

    def _apply_vehicle(self, vehicle: SimVehicle, setter: Setter, value: Any) -> None:
        if setter.kind is SetterKind.PLAN_SOC:
            soc, moment = value
            if moment is not None and moment < datetime.now(UTC):
                raise EvccParseError("timestamp is in the past")
            # soc 0 removes the plan (core/vehicle/adapter.go:111-133); a plan without a time is none
            vehicle.fields["plan"] = (soc, moment) if soc and moment is not None else None
        elif setter.kind is SetterKind.PLAN_STRATEGY:
            vehicle.fields["planStrategy/continuous"] = value["continuous"]
            vehicle.fields["planStrategy/precondition"] = value["precondition"]
        else:
            vehicle.fields[setter.name] = value
        # every vehicle setter re-publishes the whole vehicle map, changed or not (site_vehicles.go:38-82)
        self._publish_vehicles(force=True)


__all__ = ["EvccModel", "SimVehicle"]
