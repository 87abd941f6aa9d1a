"""evkit.easee."""
