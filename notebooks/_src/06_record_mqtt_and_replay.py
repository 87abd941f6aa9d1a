# %% [markdown]
# # Record evcc and go-e over MQTT, then replay the recording
#
# Home users with evcc or a go-e Charger already have everything on an MQTT broker. evkit records
# it into the same Parquet store as the Easee capture (QoS 1, a persistent session, acknowledged
# only once written), decodes evcc's plain-text values and go-e's JSON (the `nrg` array becomes
# named fields), and keeps anything it cannot decode with its raw payload.
#
# A recording can be **replayed** onto a broker with its original timing, topics and retained
# flags — handy to test a dashboard or an automation against last night's real traffic.
#
# By default, this notebook starts an evcc and a go-e simulator on the local Mosquitto under a
# private topic prefix. For your own devices: `TOPICS = ["evcc/#", "go-eCharger/#"]`,
# `USE_SIMULATORS = False` and your broker's `HOST`.

# %% tags=["parameters"]
from evkit.demo import env_or, output_dir, unique_suffix

HOST = env_or("EVKIT_MQTT_HOST", "127.0.0.1")
PORT = int(env_or("EVKIT_MQTT_PORT", "1883"))
PREFIX = env_or("EVKIT_MQTT_PREFIX", f"evkit-sim-{unique_suffix()}")  # the simulators' topic prefix
USE_SIMULATORS = True
TOPICS = None  # None = everything below PREFIX; real devices: ["evcc/#", "go-eCharger/#"]
RECORD_SECONDS = 15
OUT = output_dir(f"home-capture-{PREFIX.replace('/', '-')}")

# %%
import evkit
from evkit.demo import reachable, stop_at_exit
from evkit.sim.evcc import EvccSimulator
from evkit.sim.goe import GoeSimulator
from evkit.sources.mqtt import TopicRules

mqtt_up = reachable(HOST, PORT)
if not mqtt_up:
    print(f"No MQTT broker at {HOST}:{PORT}: nothing to record. Start Mosquitto (or point HOST at "
          "yours) and run the notebook again; the cells below only describe what they would do.")
elif USE_SIMULATORS:
    stop_at_exit(EvccSimulator(host=HOST, port=PORT, prefix=f"{PREFIX}/evcc", interval_s=0.5).start(),
                 clear_status=True)
    stop_at_exit(GoeSimulator(mqtt_host=HOST, mqtt_port=PORT, prefix=f"{PREFIX}/go-eCharger",
                              http_port=None, tick_s=0.5).start())
    print(f"evcc and go-e simulators publishing below {PREFIX}/")
topics = TOPICS or [f"{PREFIX}/#"]
# Which topic trees are evcc's and which go-e's (the simulators live below PREFIX; the replay below
# REPLAY_PREFIX).
REPLAY_PREFIX = f"{PREFIX}-replay"
rules = TopicRules(
    evcc_roots=("evcc", f"{PREFIX}/evcc", f"{REPLAY_PREFIX}/evcc"),
    goe_prefixes=("go-eCharger", f"{PREFIX}/go-eCharger", f"{REPLAY_PREFIX}/go-eCharger"),
)

# %% [markdown]
# ## Record
# The panel shows live counters; the recording stops after `RECORD_SECONDS` (or call
# `recorder.stop()` any time — it flushes and acknowledges what it has).

# %%
recorder = evkit.record_mqtt(HOST, topics, OUT, port=PORT, duration=RECORD_SECONDS, rules=rules) if mqtt_up else None
recorder

# %%
if recorder is not None:
    summary = recorder.wait(timeout=RECORD_SECONDS + 60)
    print(f"recorded into {OUT}")
else:
    print(f"would record {topics} from {HOST}:{PORT} into {OUT}")

# %% [markdown]
# ## What arrived
# One row per message (per field for go-e's `nrg`), with the device, the key, the decoded value
# and its unit. Retained messages (the broker's snapshot on subscribe) are flagged. Below: the
# newest power and car-state readings of each device (evcc `chargePower`, go-e `nrg.power_total`
# as the decoder names the `nrg` field, go-e `car`), full topics, in a table you can search.

# %%
import polars as pl

from evkit.explore import show

if recorder is not None:
    lf = evkit.scan(OUT)
    display(lf.group_by("source", "device_id").agg(messages=pl.len(), keys=pl.col("key").n_unique(),
                                                 retained=pl.col("retained").sum()).collect())
    newest = lf.filter(pl.col("key").is_in(["chargePower", "nrg.power_total", "car", "amp"])).sort(
        "received_at", descending=True).select("received_at", "source", "topic", "value", "unit", "label")
    display(show(newest.head(40).collect()))

# %% [markdown]
# ## Replay
# Publish the recording again under another prefix, as fast as possible (`speed=0`; `speed=1`
# keeps the original spacing), and record the replay to check nothing changed on the way.

# %%
from evkit.replay import MqttTarget, Rewrite, replay_dataset

if recorder is not None:
    again = output_dir(f"replayed-{REPLAY_PREFIX.replace('/', '-')}")
    check = evkit.record_mqtt(HOST, [f"{REPLAY_PREFIX}/#"], again, port=PORT, idle_exit=3, rules=rules)
    result = replay_dataset(OUT, MqttTarget(HOST, PORT), speed=0, retain="none",
                            rewrites=[Rewrite(PREFIX, REPLAY_PREFIX)])
    check.wait(timeout=60)
    original = evkit.scan(OUT).select(pl.len()).collect().item()
    replayed = evkit.scan(again).select(pl.len()).collect().item()
    print(f"replayed {result.published:,} messages of {result.recorded_span_s:.0f} s in {result.elapsed_s:.1f} s")
    print(f"rows recorded: {original:,}; rows recorded from the replay: {replayed:,}")
    display(check)
