# %% [markdown]
# # Steer evcc from a panel
#
# [evcc](https://evcc.io) publishes its state over MQTT and accepts settings on `<topic>/set`.
# evkit's panel shows the live state, previews **exactly** the topic and payload it will send,
# and after Apply reports whether evcc confirmed it (evcc echoes the new state), left it
# unchanged, or did not answer (then evcc dropped it: a setting its version lacks, a vehicle added
# after evcc started, no controllable battery, or a value it refused and logged). Settings the
# running evcc version does not have are greyed out.
#
# By default this notebook runs an **evcc simulator** on the local Mosquitto. For your own evcc,
# change the parameters cell: `HOST`, `PREFIX = "evcc"` and `USE_SIMULATOR = False`.
# Writes stay **off** until you switch "Writes enabled" on, and every command is audited.

# %% tags=["parameters"]
from evkit.demo import env_or, output_dir, unique_suffix

HOST = env_or("EVKIT_MQTT_HOST", "127.0.0.1")  # your evcc's MQTT broker
PORT = int(env_or("EVKIT_MQTT_PORT", "1883"))
PREFIX = env_or("EVKIT_EVCC_PREFIX", f"evkit-sim-{unique_suffix()}/evcc")  # evcc's topic prefix: "evcc"
USE_SIMULATOR = env_or("EVKIT_EVCC_SIMULATOR", "1") == "1"
USERNAME = None  # broker user, if any; the password is read from PASSWORD_ENV
PASSWORD_ENV = "EVKIT_MQTT_PASSWORD"
AUDIT = output_dir("control")  # every command lands in AUDIT/audit/ as Parquet

# %%
import os

from evkit import EvccPanel, EvccSimulator
from evkit.control.base import MemoryBroker
from evkit.demo import reachable, stop_at_exit

transport = None
if not reachable(HOST, PORT):
    print(f"No MQTT broker at {HOST}:{PORT}: using an in-memory simulator instead (nothing leaves this kernel)")
    transport, USE_SIMULATOR = MemoryBroker().transport(), True
if USE_SIMULATOR:
    sim = EvccSimulator(transport, host=HOST, port=PORT, prefix=PREFIX, vehicles=["ev"])
    stop_at_exit(sim.start(), clear_status=True)  # its retained topics go when the kernel stops
    print(f"evcc simulator running on prefix {PREFIX!r}")
panel = EvccPanel(
    HOST, PORT, PREFIX, username=USERNAME, password=os.environ.get(PASSWORD_ENV),
    audit=AUDIT, transport=transport,
)

# %% [markdown]
# ## The panel
# Change a value (say the loadpoint's **Mode**), read the preview, switch **Writes enabled** on and
# click **Apply**. The log below the button says what evcc did with it.

# %%
panel

# %% [markdown]
# ## The same from code (or the CLI)
# The panel is a thin layer over `evkit.control.evcc.EvccClient`; from a terminal the same command
# is `evkit set evcc --prefix <prefix> loadpoints/1/mode pv --dry-run` (drop `--dry-run` to send).
# What evcc currently reports for the first loadpoint:

# %%
{key: value for key, value in sorted(panel.client.state.items()) if key.startswith("loadpoints/1/")}
