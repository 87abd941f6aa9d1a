"""evkit.control."""
