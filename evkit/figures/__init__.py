"""evkit.figures."""
