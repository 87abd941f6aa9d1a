"""evkit.sim."""
