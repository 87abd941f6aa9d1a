# %% [markdown]
# # Explore a fleet
#
# One cell, one app: pick chargers (type to search, or keep "All chargers"), the days and your time
# zone; the views below follow. Select a session in the table to draw its power curve with the phase
# currents and the charger's op modes as bands. The other tabs show energy per day per charger, the
# latency per hop and a data-quality summary. Each charger keeps one colour in every figure.
#
# The explorer reads only what you selected (the chargers and days become a filter the Parquet scan
# applies), so clicks stay quick on a large fleet.

# %% tags=["parameters"]
import os

DATASET = os.environ.get("EVKIT_DATASET", "../data/sample-session")
ZONE = os.environ.get("EVKIT_ZONE", "Europe/Oslo")  # any IANA zone; the picker offers all of them

# %%
import evkit

app = evkit.explore(DATASET, zone=ZONE)
app

# %% [markdown]
# ## The same from code
# Everything the pickers do has a method, so a notebook can set the view and a reader can change it.
# A mistake is answered in a sentence: try `app.choose("EHXXXX")`.

# %%
first = app.controller.chargers[0]
app.choose(first)
app.show_session(app.session_ids[0])
print(f"{first}: {len(app.session_ids)} sessions; showing {app.shown_session}")

# %% [markdown]
# ## While a recording runs
# Point the explorer at the store a recording writes to and let it follow: it re-reads the store
# every few seconds (`app.follow(10)`; `app.stop_following()` ends it). The recording's own live
# view is what `evkit.record_amqp(...)` or `evkit.record_mqtt(...)` shows when displayed — see
# `01_record_easee_amqp` and `06_record_mqtt_and_replay`.
