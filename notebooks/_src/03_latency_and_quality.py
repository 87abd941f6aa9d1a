# %% [markdown]
# # Latency and data quality
#
# Before trusting an analysis, check the data: how late does it arrive, are there holes, and did
# anything arrive twice or fail to decode? evkit keeps every message — bad ones carry their raw
# body and an `error` — so these questions have exact answers.

# %% tags=["parameters"]
import os

DATASET = os.environ.get("EVKIT_DATASET", "../data/sample-session")
HEATMAP_HOP = "end_to_end"  # device_to_cloud, cloud_to_capture or end_to_end

# %%
import evkit
from evkit import analysis, figures

lf = evkit.scan(DATASET, dedupe=False)  # keep duplicates: counting them is part of the check
latency = analysis.latency(lf).collect()

# %% [markdown]
# ## Latency per hop
# Percentiles use numpy's default (linear) interpolation. `negative_n` counts clock skew.
# Easee stamps 122 EnergyPerHour and 124 LifetimeEnergy on the hour and sends them minutes later;
# their delay is a schedule, not the network, so they have their own `scheduled_*` rows (and dotted
# curves) and `device_to_cloud` / `end_to_end` measure transport only.

# %%
analysis.latency_stats(lf).collect()

# %%
figures.latency_ecdf(latency)

# %% [markdown]
# ## When is it slow?
# p95 latency by hour of day and day: a slow hour every night points at a backup job, a slow
# charger at its Wi-Fi.

# %%
figures.latency_heatmap(latency, hop=HEATMAP_HOP)

# %% [markdown]
# ## Gaps, duplicates and errors
# A gap is a silence longer than a charger normally stays quiet (idle chargers report about every
# 15 minutes).

# %%
gaps = analysis.telemetry_gaps(lf).collect()
summary = analysis.quality_summary(lf).collect()
figures.data_quality_overview(summary, gaps)

# %%
from evkit.explore import quality_table, show

display(show(quality_table(summary)))  # every charger, every check, sortable
duplicated = analysis.duplicates(lf).collect()
errors = analysis.decode_errors(lf).collect()
print(f"{duplicated.height} messages arrived more than once (at-least-once delivery; scan() dedupes them), "
      f"{errors.height} messages did not decode (kept with raw body and error)")
errors.head(5) if errors.height else None
