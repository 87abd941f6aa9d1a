"""evkit.widgets."""
