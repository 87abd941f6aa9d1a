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
TZ = os.environ.get("EVKIT_ZONE") or None  # the zone times are shown in, e.g. "Europe/Oslo"; None = this machine's
TARIFF = "0.30"  # price per kWh (flat, dot decimal) or a CSV file from,price[,co2]; None = no cost
CURRENCY = "EUR"

# %%
import polars as pl

import evkit
from evkit import analysis, figures
from evkit.explore import ExploreController, session_table, show
from evkit.timeutil import resolve_zone

ZONE = resolve_zone(TZ)  # stored data stays UTC; only what is shown here is in ZONE
data = ExploreController(DATASET, zone=ZONE)  # checks the parameters: a typo gets a sentence
selection = data.select(CHARGER)  # e.g. "no charger EHXXXX in ...; chargers are: ..."
lf = data.rows(selection)
sessions = data.sessions(selection)
print(f"{sessions.height} sessions; times below are in {ZONE}")

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

# %% [markdown]
# ## What did it cost?
# Each session's energy is priced by **when it flowed** (the session counter's increments split at
# the tariff's price changes), not at one price for the session. `TARIFF` may be a flat price or a
# CSV file `from,price` (UTC times; a price holds until the next row), such as hourly day-ahead
# prices. `cost_error_bound` is how far the cost could move where two readings straddle a change.
# The same figures per card: `evkit statement DIR --tariff ... --by token`.

# %%
if TARIFF is None:
    print("No TARIFF: no cost.")
else:
    from evkit.analysis.cost import session_costs
    from evkit.analysis.tariff import parse_tariff
    from evkit.figures.cost import cost_per_day

    tariff = parse_tariff(str(TARIFF), CURRENCY)
    priced = session_costs(sessions, tariff, lf).collect()
    display(
        priced.sort("started_at").select(
            "charger_id",
            pl.col("started_at").dt.convert_time_zone(ZONE).alias(f"started_at ({ZONE})"),
            "energy_kwh", "cost", "price_per_kwh", "cost_error_bound", "cost_profile", "cost_note",
        )
    )
    print(f"total {priced['cost'].sum():.2f} {tariff.label()} for {priced['energy_kwh'].sum():.2f} kWh")
    display(cost_per_day(priced, zone=ZONE, currency=tariff.currency))
