"""When live Easee chargers send what: timing facts from Easee's docs and from live logs in issue threads.

Logs are evcc TRACE lines ``(device timestamp) NAME value`` pasted into GitHub issues; the project's
fidelity review (``shared/reference/fidelity-easee.md`` §1, §11) quotes them. The simulator
(``evkit.sim.easee``) and the latency analysis are tested against these facts.
"""

from __future__ import annotations

from typing import NamedTuple


class Fact(NamedTuple):
    what: str
    source: str


#: 122 EnergyPerHour is stamped exactly on the full hour and delivered minutes later:
#: "19:03:24 ProductUpdate : (2023-10-05 17:00:00 +0000 UTC) ENERGY_PER_HOUR 0" (local time UTC+2,
#: i.e. received 17:03:24 UTC, 3.4 min after its stamp).
ENERGY_PER_HOUR_STAMP = Fact("stamped hh:00:00", "evcc-io/evcc#10428 log; evcc-io/evcc#15556 (16:00:00)")
ENERGY_PER_HOUR_DELAY_S = 204.0  # 17:03:24 - 17:00:00
ENERGY_PER_HOUR_DELAY = Fact("delivered ~3.4 min after its stamp", "evcc-io/evcc#10428 log")
#: Idle hours are reported too, with 0 (both logs above show ``ENERGY_PER_HOUR 0``).
ENERGY_PER_HOUR_IDLE_ZERO = Fact("0 for hours without charging", "evcc-io/evcc#10428, evcc-io/evcc#15556")

#: 124 LifetimeEnergy: "updated via the API once per hour", arriving 2-10 min past the hour.
LIFETIME_ENERGY_AFTER_HOUR_S = (120.0, 600.0)
LIFETIME_ENERGY_HOURLY = Fact(
    "once an hour, 2-10 min past the hour", "nordicopen/easee_hass#174 (quoting Easee's energy doc)"
)
#: ... and at a session start: "(16:30:23) LIFETIME_ENERGY 1919.73" next to "(16:30:22) SESSION_ENERGY 0".
LIFETIME_ENERGY_AT_SESSION_START = Fact("also sent when a session starts", "evcc-io/evcc#15556 log")

#: 121 SessionEnergy while charging: "14:36:10, 14:56:10, 15:10:00" - every 10-20 min, not every minute.
SESSION_ENERGY_EVERY_S = (600.0, 1200.0)
SESSION_ENERGY_PERIOD = Fact("every ~10-20 min while charging", "evcc-io/evcc#9884 log")
#: ... and the final value at (or after) unplug.
SESSION_ENERGY_AT_UNPLUG = Fact("a final value at unplug", "evcc-io/evcc#10428 log; evcc-io/evcc#9884")
#: A 0 at the start of a session is real: "(16:30:22) SESSION_ENERGY 0".
SESSION_ENERGY_ZERO_AT_START = Fact("0 when a session starts", "evcc-io/evcc#15556 log")

#: Observations stamped on a schedule rather than when the device sent them: their ArrivalTime minus
#: stamp is not transport latency.
SCHEDULED_OBSERVATIONS = frozenset({122, 124})

#: A charger-side pause (schedule, smart charging, load balancing) is op mode 2 AwaitingStart,
#: "SuspendedEVSE" (Easee developer docs, Enumerations); evcc expects 2 (or 7) after pausing
#: (evcc-io/evcc@b29b49e3 charger/easee.go:557-571). ReasonForNoCurrent then says 54 or 76.
CHARGER_SIDE_PAUSE = Fact(
    "op mode 2, 96 = 54/76", "DOC-ENUM; evcc charger/easee.go:557-571; pyeasee charger.py:68,73"
)
