# %% [markdown]
# # Energy and sessions
#
# Real chargers are messy: session energy (obs 121) sometimes drops to a spurious zero, sessions
# pause (op modes 4/6), the lifetime meter (124) only reports about once an hour. evkit's sessions
# cross-check three energy sources — session energy, lifetime meter, and the integral of power —
# and say which one they used. This notebook walks through one dataset.

# %% tags=["parameters"]
import os

DATASET = os.environ.get("EVKIT_DATASET", "../data/sample-session")
CHARGER = None  # a charger id to focus on; None = the one with the largest session

# %%
import polars as pl

import evkit
from evkit import analysis, figures

lf = evkit.scan(DATASET)
sessions = analysis.sessions(lf).collect()

# %% [markdown]
# ## The sessions table
# `energy_source` says which meter the energy came from; `gap` marks a capture hole inside the
# session, `complete` is false while the car is still plugged in.

# %%
sessions.select(
    "charger_id", "started_at", "ended_at", "energy_kwh", "energy_source",
    "charge_duration_s", "peak_power_kw", "phases", "complete", "gap",
).sort("started_at")

# %% [markdown]
# ## One session up close
# Total power (kW) with the phase currents on the right axis; the shaded bands are the charger's
# op modes (awaiting start, charging, paused, completed ...).

# %%
candidates = sessions if CHARGER is None else sessions.filter(pl.col("charger_id") == CHARGER)
biggest = candidates.sort("energy_kwh", descending=True, nulls_last=True).row(0, named=True)
print(f"{biggest['charger_id']}: {biggest['energy_kwh']:.2f} kWh from {biggest['started_at']:%Y-%m-%d %H:%M} UTC")
figures.session_power_curve(lf, biggest["charger_id"], biggest["started_at"], biggest["ended_at"])

# %% [markdown]
# ## Energy per day
# Stacked per charger, UTC days.

# %%
figures.energy_per_day(analysis.energy_per_day(lf))

# %% [markdown]
# ## Is the lifetime meter trustworthy?
# The lifetime meter must only go up. Resets and glitches are flagged here rather than silently
# bending the energy figures.

# %%
meter = analysis.lifetime_meter_check(lf).collect()
display(
    meter.group_by("charger_id")
    .agg(
        readings=pl.len(),
        first_kwh=pl.col("value_kwh").first(),
        last_kwh=pl.col("value_kwh").last(),
        max_implied_kw=pl.col("implied_kw").max(),
        issues=pl.col("issue").count(),
    )
    .sort("charger_id")
)
issues = meter.filter(pl.col("issue").is_not_null())
issues if issues.height else print("No resets or glitches: every meter only went up.")
