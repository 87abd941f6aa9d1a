# %% [markdown]
# # Steer a go-e Charger from a panel
#
# go-e Chargers take settings over their local HTTP API v2 (`/api/set?amp=16`) or MQTT. evkit's
# panel validates every value against go-e's key table before anything is sent (current within
# 6..`ama` A, `frc` 0/1/2, ...), previews the exact request, and after Apply reads the value back
# to confirm it.
#
# By default this notebook runs a **go-e simulator** with the HTTP API on loopback. For your own
# charger, set `HTTP_URL = "http://<charger-ip>"` and `USE_SIMULATOR = False` (enable the HTTP API
# v2 in the go-e app first). Writes stay **off** until you switch them on; every command is audited.

# %% tags=["parameters"]
from evkit.demo import env_or, output_dir

HTTP_URL = env_or("EVKIT_GOE_HTTP", "")  # your charger, e.g. "http://192.168.1.30"
USE_SIMULATOR = env_or("EVKIT_GOE_SIMULATOR", "1") == "1"
SIM_HTTP_PORT = int(env_or("EVKIT_GOE_HTTP_PORT", "0"))  # 0 = any free port
AUDIT = output_dir("control")  # every command lands in AUDIT/audit/ as Parquet

# %%
from urllib.parse import urlsplit

from evkit import GoePanel, GoeSimulator
from evkit.demo import reachable, stop_at_exit

if not USE_SIMULATOR:
    parts = urlsplit(HTTP_URL)
    if not reachable(parts.hostname or "", parts.port or 80):
        print(f"The charger at {HTTP_URL} does not answer: using the go-e simulator instead")
        USE_SIMULATOR = True
if USE_SIMULATOR:
    sim = stop_at_exit(GoeSimulator(mqtt_host=None, http_port=SIM_HTTP_PORT).start())
    HTTP_URL = sim.http_url
    print(f"go-e simulator (HTTP API v2) at {HTTP_URL}")
panel = GoePanel(HTTP_URL, audit=AUDIT)

# %% [markdown]
# ## The panel
# Pick a charging current (**amp**) or force state (**frc**), check the preview, switch **Writes
# enabled** on and click **Apply**. "confirmed" means the charger reported the new value back.

# %%
panel

# %% [markdown]
# ## The same from a terminal
# `evkit set goe --http <url> amp 10 --dry-run` prints the exact request; drop `--dry-run` to send.
# The commands this panel sent so far are in the audit log:

# %%
import evkit
from evkit.explore import audit_table, show

audit = AUDIT / "audit"
show(audit_table(evkit.scan(audit).collect())) if any(audit.glob("**/*.parquet")) else "no commands sent yet"
