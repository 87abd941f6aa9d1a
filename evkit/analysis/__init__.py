"""evkit.analysis: pure functions on ``pl.LazyFrame`` (sessions, energy, latency, data quality)."""

from __future__ import annotations

from evkit.analysis.schema import ENERGY_SCHEMA, HOPS, SESSION_SCHEMA

__all__ = ["ENERGY_SCHEMA", "HOPS", "SESSION_SCHEMA"]
