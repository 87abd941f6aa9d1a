# %% [markdown]
# # Steer Easee chargers over AMQP
#
# An Easee operator (partner account) can send documented commands to its chargers through the
# AMQP command exchange (`Operator_<id>.C.X`): pause, cap the current for an hour, enable or
# disable, lock the cable, smart charging. The charger answers with a **command response** on the
# operator queue (`{serial}.CR.{id}.{ticks}`, matched by the ticks of the command) and then reports
# the new setting as an **observation** (the read-back). evkit validates every command before it is
# sent, waits for both, and audits what it did.
#
# This notebook runs against the **simulator**: a fleet streaming observations into a throw-away
# queue on the local RabbitMQ and answering commands like the cloud does. The panel rides on a
# running recorder: every message — observations and command responses — still lands in the store.
# Without RabbitMQ it uses an in-process simulated cloud and says so. Writes stay **off** until you
# switch them on.

# %% tags=["parameters"]
from evkit.demo import LOCAL_AMQP_URL, env_or, output_dir, unique_suffix

LOCAL_BROKER = env_or("EVKIT_LOCAL_AMQP", LOCAL_AMQP_URL)
CHARGERS = 3  # simulated chargers
SPEED = 10.0  # simulated seconds per wall second
NAME = f"evkit-demo-{unique_suffix()}"
QUEUE, EXCHANGE = f"{NAME}.Q", f"{NAME}.C.X"  # like Operator_<id>.Q and Operator_<id>.C.X
OUT = output_dir("easee-control")  # captured messages + OUT/audit/

# %%
import evkit
from evkit.demo import amqp_reachable, mask_url, stop_at_exit
from evkit.sim.easee_cloud import FleetSim, MemoryEaseeCloud
from evkit.sim.easee_commands import CommandHandler
from evkit.widgets import EaseePanel

if amqp_reachable(LOCAL_BROKER):
    sim = stop_at_exit(FleetSim(LOCAL_BROKER, QUEUE, command_exchange=EXCHANGE, chargers=CHARGERS,
                                speed=SPEED).start())  # fmt: skip
    serials = list(sim.serials)
    rec = stop_at_exit(evkit.record_amqp(LOCAL_BROKER, out=OUT, queue=QUEUE, flush_interval=1.0))
    panel = EaseePanel(recorder=rec, exchange=EXCHANGE, audit=OUT, chargers=serials)
    print(f"simulated fleet {', '.join(serials)} on {mask_url(LOCAL_BROKER)}, queue {QUEUE}")
else:
    serials = [f"EH00000{i}" for i in range(1, CHARGERS + 1)]
    panel = EaseePanel(transport=MemoryEaseeCloud(CommandHandler(serials)), audit=OUT, chargers=serials)
    print(f"no RabbitMQ at {mask_url(LOCAL_BROKER)}: using an in-process simulated cloud instead")

# %% [markdown]
# ## The panel
# The table fills in as observations arrive (op mode, power, dynamic current, enabled). Select one
# or more chargers, pick an action, check the preview (the exact routing keys and JSON bodies),
# switch **Writes enabled** on and click **Apply**. "confirmed" = the charger accepted the command
# and its read-back observation showed the value; "accepted" = accepted, no read-back in time.

# %%
panel

# %% [markdown]
# ## The same from code
# The panel's controller is an `EaseeController`: `prepare` validates (a current must be 0 or
# 6–32 A, a TTL 1–1440 minutes) and builds the command, `send` publishes it and waits for the outcome.
# Here the first charger is paused for five minutes; when the TTL runs out it falls back to its
# prior limit.

# %%
easee = panel.easee
command = easee.prepare(serials[0], "pause", ttl=5)
print(command.routing_key)
print(command.body.decode())
result = easee.send(command)
print(result.outcome.label, "-", result.detail)

# %% [markdown]
# ## From a terminal
# `evkit set easee --details streams.json EH123456 SetDynamicChargerCurrent 13 5` sends the
# documented command (13 A for 5 minutes); `pause --ttl 30`, `current 13 --ttl 5`, `disable` are
# aliases; `--dry-run` prints the routing key and body; `--list` shows every documented command.
# Several chargers (or a file of serials) need `--yes`. Every command is in the audit log:

# %%
evkit.scan(OUT / "audit").select("received_at", "setting", "outcome", "detail", "latency_s").collect()
