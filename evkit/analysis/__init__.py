"""evkit.analysis."""
