# %% [markdown]
# # Quickstart: a day of chargers in five cells
#
# evkit ships a small recording of four simulated Easee chargers (`data/sample-session/`), captured
# through the real AMQP capture path. This notebook reads it and answers the three questions an
# operator asks first: **which sessions happened, how much energy went out, and how late did the
# data arrive?** Point `DATASET` at your own capture folder to ask the same of your fleet.

# %% tags=["parameters"]
import os

DATASET = os.environ.get("EVKIT_DATASET", "../data/sample-session")  # any folder `evkit capture` wrote
TZ = os.environ.get("EVKIT_ZONE") or None  # times shown in this zone, e.g. "Europe/Oslo"; None = this machine's

# %% [markdown]
# ## 1. Open the dataset
# `evkit.scan` reads the Parquet parts lazily and drops the duplicates at-least-once delivery can leave.

# %%
import polars as pl

import evkit
from evkit import analysis, figures
from evkit.figures.localtime import in_zone
from evkit.timeutil import resolve_zone

ZONE = resolve_zone(TZ)  # the data stays UTC; what is shown here is in ZONE, and says so
lf = evkit.scan(DATASET)
lf.select(
    messages=pl.len(),
    chargers=pl.col("charger_id").n_unique(),
    first=pl.col("observed_at").min().dt.convert_time_zone(ZONE).alias(f"first ({ZONE})"),
    last=pl.col("observed_at").max().dt.convert_time_zone(ZONE).alias(f"last ({ZONE})"),
).collect()

# %% [markdown]
# ## 2. Charging sessions
# One bar per session, plug-in to unplug, per charger; hover for energy, duration and RFID.

# %%
sessions = analysis.sessions(lf).collect()
in_zone(figures.session_timeline(sessions), ZONE)

# %% [markdown]
# ## 3. Energy per day
# Taken from the charger's own meters (the `source` column says which one was used).

# %%
figures.energy_per_day(analysis.energy_per_day(lf, zone=ZONE), title=f"Energy per day ({ZONE} days)")

# %% [markdown]
# ## 4. How late does the data arrive?
# Three hops: charger → Easee cloud, cloud → our capture, and end to end. Negative values (clock
# skew) are counted, never dropped.

# %%
display(analysis.latency_stats(lf).collect())
figures.latency_ecdf(analysis.latency(lf))

# %% [markdown]
# **Next:** `02_energy_and_sessions.ipynb` digs into one session's power curve and the lifetime
# meter; `03_latency_and_quality.ipynb` looks for gaps, duplicates and decode errors;
# `01_record_easee_amqp.ipynb` records your own chargers.
