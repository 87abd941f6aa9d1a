"""evkit.goe."""
