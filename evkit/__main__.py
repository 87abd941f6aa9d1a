"""``python -m evkit``."""

from evkit.cli import entry

entry()
