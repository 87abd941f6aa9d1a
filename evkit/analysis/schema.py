"""Column contracts of the frames evkit.analysis returns (figures and other sources rely on them)."""

from __future__ import annotations

import polars as pl

from evkit.store.schema import UTC_US

#: One row per charging session, whatever the source (Easee AMQP, evcc, go-e). Columns a source cannot
#: know are null. Energy columns are kWh, durations seconds, power kW.
SESSION_SCHEMA: dict[str, pl.DataType] = {
    "charger_id": pl.String(),
    "session_id": pl.String(),  # "<charger_id>/<started_at as YYYYmmddTHHMMSSZ>": stable across runs
    "started_at": UTC_US,
    "ended_at": UTC_US,  # null while the car is still connected
    "energy_kwh": pl.Float64(),  # the figure to use; chosen from the cross-checks below
    "energy_source": pl.String(),  # session_energy / lifetime_meter / power_integral (null: no data)
    "energy_note": pl.String(),  # why that source was chosen when the estimates disagree; else null
    "energy_session_kwh": pl.Float64(),  # the charger's session counter (Easee 121)
    "energy_lifetime_kwh": pl.Float64(),  # lifetime meter delta across the session (Easee 124)
    "energy_integral_kwh": pl.Float64(),  # power (Easee 120) integrated over time
    "meter_start_kwh": pl.Float64(),  # lifetime meter reading before the session (evcc "Meter Start")
    "meter_stop_kwh": pl.Float64(),  # lifetime meter reading after the session (evcc "Meter Stop")
    "charge_duration_s": pl.Float64(),  # time spent charging (Easee op mode 3)
    "connected_duration_s": pl.Float64(),  # plug-in to unplug (to the data's end while still connected)
    "peak_power_kw": pl.Float64(),
    "mean_power_kw": pl.Float64(),  # energy_kwh over charge_duration
    "phases": pl.Int8(),  # most phases used (Easee 110 OutputPhase)
    "rfid_token": pl.String(),  # Easee 128, else 108 read back to front
    "complete": pl.Boolean(),  # both plug-in and unplug were observed
    "gap": pl.Boolean(),  # the data has a hole (silence > threshold, charger offline) inside
    "started_mid_session": pl.Boolean(),  # the data begins with the car already connected
    "source": pl.String(),  # easee / evcc / go-e
}

#: Energy per charger and hour (``energy_per_hour``); ``energy_per_day`` has ``day`` instead of ``hour``.
ENERGY_SCHEMA: dict[str, pl.DataType] = {
    "charger_id": pl.String(),
    "hour": UTC_US,
    "energy_kwh": pl.Float64(),
    "source": pl.String(),  # lifetime_meter / energy_per_hour / session_energy
    "energy_lifetime_kwh": pl.Float64(),
    "energy_per_hour_kwh": pl.Float64(),
    "energy_session_kwh": pl.Float64(),
}

#: Latency hops of an observation, in the order they happen.
HOPS = ("device_to_cloud", "cloud_to_capture", "end_to_end")

#: The hops of observations stamped on a schedule (Easee 122/124: the stamp is the hour, not the send
#: time), kept apart so the hops above measure transport only. Cloud -> capture stays in ``HOPS``.
SCHEDULED_HOPS = ("scheduled_device_to_cloud", "scheduled_end_to_end")

#: A command's round trip seen on the wire (go-e ``<key>/set`` -> ``<key>/result``).
COMMAND_HOP = "command_roundtrip"

#: An Easee command's time to its read-back observation (command -> response -> observation).
READBACK_HOP = "command_readback"

#: Every hop a latency frame may hold, in display order.
ALL_HOPS = (*HOPS, *SCHEDULED_HOPS, COMMAND_HOP, READBACK_HOP)

__all__ = [
    "ALL_HOPS",
    "COMMAND_HOP",
    "ENERGY_SCHEMA",
    "HOPS",
    "READBACK_HOP",
    "SCHEDULED_HOPS",
    "SESSION_SCHEMA",
]
