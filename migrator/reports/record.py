"""RunRecord: what a migration did, filled in by the job as it goes and written by the CLI when it ends."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from migrator.config import MigratorConfig


@dataclass
class RunRecord:
    """Filled in by jobs/migrate.py while the run goes on; written by the CLI at the end, whatever the outcome.

    Every field but `config` and `started` may still be unset when the run fails early: the report says what is
    known."""

    config: MigratorConfig
    started: float = field(default_factory=time.time)  # epoch seconds
    source: str | None = None  # the source's title: `source table 'T'`
    target: str | None = None  # the sink's title
    source_info: Any = None  # the source's TableInfo (schema, ItemCount, TableSizeBytes) when it has one
    unit_kind: str = "segment"
    units_total: int | None = None  # units of the source
    units_planned: int | None = None  # units this run copies (the others were done by an earlier run)
    partitions: int | None = None  # Spark tasks
    live: Any = None  # progress/live.py's LiveProgress of the copy: per-task counts and the items/s samples
    results: list | None = None  # the TaskResults, when the Spark job ended
    seconds: float | None = None  # the copy's duration
    verdict: str | None = None  # the verdict line's text: `OK - all 2000 scanned items were written`
    phases: list[str] = field(default_factory=list)  # what ran: snapshot, stream replay
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)  # one writer at once
