"""evkit.sources."""
