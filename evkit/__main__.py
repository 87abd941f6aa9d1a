"""``python -m evkit``."""

import sys

from evkit.cli import main

sys.exit(main())
