"""Log format and levels, set in one place, for the driver and for the Python workers."""

from __future__ import annotations

import logging
import re
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False

# The documented per-task summary line, e.g. "migrator task 3: segments [3, 11] transferred 12345 items in 2.0 s".
# Adding up its item counts over a job's logs gives the number of items the job copied.
TASK_SUMMARY = re.compile(r"migrator task (\d+): (?:segments|files) \[([\d, ]*)\] transferred (\d+) items")
# The validator's per-task summary line, e.g.
# "validator task 3: source segments [3, 11] checked 12345 items in 2.0 s: 0 missing, 1 differing".
VALIDATOR_SUMMARY = re.compile(
    r"validator task (\d+): (source|target) (?:segments \[([\d, ]*)\]|sample of \d+ segments) checked (\d+) items"
    r" in [\d.]+ s: (.*)"
)


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
    # alternator-client warns on every failed /localnodes poll (each second, in every task) against a server
    # that is not ScyllaDB; the driver says once what discovery found instead.
    logging.getLogger("alternator").setLevel(logging.ERROR)
    _configured = True
