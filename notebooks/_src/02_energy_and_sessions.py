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
CHARGER = os.environ.get("EVKIT_CHARGER") or None  # a charger id to focus on; None = all of them
ZONE = os.environ.get("EVKIT_ZONE", "Europe/Oslo")  # times in the tables are shown in this zone

# %%
import polars as pl

import evkit
from evkit import analysis, figures
from evkit.explore import ExploreController, session_table, show

data = ExploreController(DATASET, zone=ZONE)  # checks the parameters: a typo gets a sentence
selection = data.select(CHARGER)  # e.g. "no charger EHXXXX in ...; chargers are: ..."
lf = data.rows(selection)
sessions = data.sessions(selection)

# %% [markdown]
# ## The sessions table
# Every session, in your time zone, durations as h:mm. **flags** says in words what the `complete`,
# `gap` and `started_mid_session` columns mean: "incomplete" (the car is still plugged in), "hole in
# the data", "began before the data"; **energy check** says when the three energy estimates
# disagreed. Sort by any column; type in the search box to filter.

# %%
show(session_table(sessions, ZONE).drop("session_id"))

# %% [markdown]
# ## One session up close
# Total power (kW) with the phase currents on the right axis; the shaded bands are the charger's
# op modes (awaiting start, charging, paused, completed ...).

# %%
biggest = sessions.sort("energy_kwh", descending=True, nulls_last=True).row(0, named=True)
print(f"{biggest['charger_id']}: {biggest['energy_kwh']:.2f} kWh")
data.session_curve(selection, biggest["session_id"])  # in ZONE, the charger in its own colour

# %% [markdown]
# ## Energy per day
# Stacked per charger, UTC days; each charger keeps its colour in every figure.

# %%
figures.energy_per_day(analysis.energy_per_day(lf), colours=data.colours)

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
