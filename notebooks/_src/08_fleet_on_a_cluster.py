# %% [markdown]
# # A fleet on a cluster
#
# When a fleet outgrows one machine, evkit runs the same analyses on a **Dask** cluster: a
# `LocalCluster` on this laptop, or a scheduler on Kubernetes, an HPC batch system or a hosted
# service. The work is split by charger (a session never spans chargers); each task reads only its
# chargers' rows straight from the store and runs the same Polars functions as a local run. Only the
# finished tables come back here.
#
# The store must be readable by every worker: a path all of them see, or S3-compatible object
# storage (`s3://bucket/prefix`; endpoint and keys from the workers' own `AWS_*` variables).

# %% tags=["parameters"]
import os

DATASET = os.environ.get("EVKIT_DATASET", "../data/sample-session")  # a path or s3://bucket/prefix
# "local:2" starts two single-thread worker processes here; a scheduler looks like tcp://10.0.0.5:8786
DASK = os.environ.get("EVKIT_DASK", "local:2")

# %% [markdown]
# ## Connect
# `evkit.cluster.connect` starts the `LocalCluster` (or connects to the scheduler). The dashboard
# link shows every task, worker memory and the data each worker read while the cells below run.

# %%
import polars as pl
from polars.testing import assert_frame_equal

import evkit
from evkit import analysis, cluster, figures

client = cluster.connect(DASK)
workers = client.scheduler_info()["workers"]
print(f"{len(workers)} worker(s), dashboard: {client.dashboard_link}")

# %% [markdown]
# ## Sessions of the whole fleet, on the cluster
# The analyses of `evkit.analysis` take `client=`: given the dataset's path (or `s3://` URL) instead of
# a frame, they run on the cluster and return the finished table. One task lists and checks the
# Parquet parts, a few read only the `charger_id` column to find the chargers, then one task per group
# of chargers computes their sessions.

# %%
fleet_sessions = analysis.sessions(DATASET, client=client)
fleet_sessions.select(
    "charger_id", "started_at", "ended_at", "energy_kwh", "energy_source", "complete", "gap"
).sort("started_at")

# %% [markdown]
# ## Energy per day, on the cluster

# %%
per_day = analysis.energy_per_day(DATASET, client=client)
figures.energy_per_day(per_day)

# %% [markdown]
# ## Same answer as a local run
# The same calls without `client=` take a frame and run here. The cluster ran evkit's own functions on
# the same rows, so the tables are equal (floating-point sums may differ in the last bit, as two local
# runs on many threads do).

# %%
lf = evkit.scan(DATASET, dedupe=False)
assert_frame_equal(fleet_sessions, analysis.sessions(lf).collect(), check_exact=False, rel_tol=1e-9)
assert_frame_equal(per_day, analysis.energy_per_day(lf).collect(), check_exact=False, rel_tol=1e-9)
total = fleet_sessions["energy_kwh"].sum()
print(f"identical to the local run: {fleet_sessions.height} sessions, {total:.2f} kWh")

# %% [markdown]
# ## From the command line
# The commands take the same address: `evkit sessions DATASET --dask tcp://HOST:PORT`,
# `evkit latency ... --dask ...`, `evkit report ... --dask ...`. Latency percentiles are exact without
# gathering every value: each task returns histograms, then only the few values a percentile needs.

# %%
analysis.latency_stats(DATASET, client=client).select("hop", "n", "p50_s", "p95_s", "p99_s")

# %% [markdown]
# Close the client (a `LocalCluster` started here stops with it).

# %%
local_cluster = client.cluster
client.close()
if local_cluster is not None:
    local_cluster.close()
