# %% [markdown]
# # Record your Easee chargers over AMQP
#
# Easee partners can stream every observation of their chargers over AMQP. evkit records that
# stream losslessly into a Parquet folder: a message is acknowledged only after it is in a
# fsynced file, so a crash or a network drop loses nothing.
#
# **Connect** in one of three ways (set one in the parameters cell):
# 1. `DETAILS_FILE`: the streams details JSON Easee gives you (server, vhost, queue, user, password);
# 2. an Easee API token in the environment variable named by `TOKEN_ENV` (evkit fetches the details);
# 3. `AMQP_URL` — best read from an environment variable, so the password never sits in the notebook.
#
# With none of these, the notebook records a **simulated fleet** through the local RabbitMQ instead,
# and says so. Without any broker it falls back to the bundled sample.

# %% tags=["parameters"]
import os

from evkit.demo import LOCAL_AMQP_URL, env_or, output_dir

AMQP_URL = os.environ.get("EVKIT_AMQP_URL")  # e.g. export EVKIT_AMQP_URL=amqps://user:pass@host/vhost
DETAILS_FILE = None  # e.g. "easee-streams.json"
TOKEN_ENV = "EASEE_TOKEN"  # name of the environment variable holding an Easee API token
QUEUE = None  # default: the queue named in the details
RECORD_SECONDS = 60  # how long to record a real stream
LOCAL_BROKER = env_or("EVKIT_LOCAL_AMQP", LOCAL_AMQP_URL)  # for the simulated fleet
SIM_HOURS = 6  # simulated hours of a 3-charger fleet
OUT = output_dir("easee-capture")

# %%
from contextlib import ExitStack

import evkit
from evkit.demo import SAMPLE, amqp_reachable, mask_url, publish_fleet, temporary_queue

real = bool(AMQP_URL or DETAILS_FILE or os.environ.get(TOKEN_ENV))
if real:
    mode = "real"
    print("Recording your Easee stream" + (f" from {mask_url(AMQP_URL)}" if AMQP_URL else ""))
elif amqp_reachable(LOCAL_BROKER):
    mode = "simulator"
    print(f"No Easee connection configured: recording a SIMULATED fleet via {mask_url(LOCAL_BROKER)}")
else:
    mode = "sample"
    print(f"No Easee connection configured and no RabbitMQ at {mask_url(LOCAL_BROKER)}: "
          f"showing the bundled sample ({SAMPLE}) instead of recording")

# %% [markdown]
# ## Record
# The recorder runs in the background; its panel shows messages, messages per second, the age of
# the last message, reconnects and decode errors while it works.

# %%
import shutil

stack = ExitStack()
recorder = None
if mode == "real":
    recorder = evkit.record_amqp(
        AMQP_URL, details=DETAILS_FILE, token_env=TOKEN_ENV if os.environ.get(TOKEN_ENV) else None,
        queue=QUEUE, out=OUT, duration=RECORD_SECONDS,
    )
elif mode == "simulator":
    queue = stack.enter_context(temporary_queue(LOCAL_BROKER))  # deleted again at the end
    OUT = OUT.with_name(OUT.name + "-simulated")
    shutil.rmtree(OUT, ignore_errors=True)  # only the previous simulated run: start afresh
    recorder = evkit.record_amqp(LOCAL_BROKER, queue=queue, out=OUT, idle_exit=5)
    published = publish_fleet(LOCAL_BROKER, queue, hours=SIM_HOURS)
    print(f"simulator published {published.messages:,} messages")
recorder

# %% [markdown]
# ## Stop
# `stop()` flushes the last batch, acknowledges it and closes the connection (the simulated
# recording also stops on its own after 5 quiet seconds). Its summary says what was written.

# %%
if recorder is not None:
    summary = recorder.wait(timeout=max(RECORD_SECONDS, 30) + 30) or recorder.stop()
    stack.close()
    dataset = OUT
    print({key: summary.get(key) for key in ("messages", "decode_errors", "reconnects")}, "->", OUT)
else:
    dataset = SAMPLE

# %% [markdown]
# ## What arrived
# Messages per observation, and the newest rows. Messages that did not decode are kept with their
# raw body and an `error` text — nothing is dropped silently.

# %%
import polars as pl

lf = evkit.scan(dataset)
display(
    lf.group_by("observation_id", "observation")
    .agg(messages=pl.len(), chargers=pl.col("charger_id").n_unique(), errors=pl.col("error").count())
    .sort("messages", descending=True)
    .collect()
)
lf.sort("received_at", descending=True).select(
    "received_at", "charger_id", "observation", "value", "label", "error"
).head(10).collect()

# %% [markdown]
# **Next:** open `02_energy_and_sessions.ipynb` with `DATASET` set to this folder
# (`print(dataset)` shows it) to see its sessions.
