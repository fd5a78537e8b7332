"""Log format and levels, set in one place, for the driver and for the Python workers."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False


def setup(level: int = logging.INFO) -> None:
    """Send the `migrator` loggers to stderr (the driver's console, or the executor's stderr log). Idempotent."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger("migrator")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _configured = True
