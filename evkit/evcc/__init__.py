"""evkit.evcc."""
