"""`target.verifyCount`: after the copy, count the target with a parallel Scan (Select COUNT) as a Spark job.

It catches a target that acknowledged writes and then lost them (moto_server does, see tests/tools/moto_race.py).
When this run created the table and copied every segment, the count must equal the items written; otherwise the
table may hold items of its own or of an earlier run, so the count must only be at least that.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

from migrator import logs
from migrator.dynamo.database import Database
from migrator.readers.scan import count_segment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountCheck:
    """How to count the target, and whether the count must be exact (this run created the table, no resume)."""

    connection: Database
    table: str
    total_segments: int
    partitions: int
    exact: bool

    def shortfall(self, sc, written: int) -> str | None:
        """Count the target; None when the count fits `written`, else the verdict's reason (it names the table)."""
        sc.setJobDescription(f"count target table {self.table!r}: Scan Select COUNT over {self.total_segments} "
                             f"segments in {self.partitions} tasks")
        started = time.monotonic()
        found = sum(
            sc.parallelize(range(self.total_segments), self.partitions)
            .mapPartitions(partial(_count_partition, self.connection, self.table, self.total_segments))
            .collect()
        )
        logger.info("migrator target count: table %r holds %d items (Scan Select COUNT over %d segments, %.1f s); "
                    "this run wrote %d", self.table, found, self.total_segments, time.monotonic() - started, written)
        if self.exact:
            if found == written:
                return None
            return (f"target table {self.table!r} holds {found} items after the copy, expected exactly {written} "
                    f"(this run created it and wrote {written}); the target acknowledged writes it did not keep")
        logger.info("target table %r existed before this run, or the run resumed from a savepoint: its count can "
                    "only be checked to be at least the %d items written; an exact check needs --validate",
                    self.table, written)
        if found >= written:
            return None
        return (f"target table {self.table!r} holds {found} items after the copy, expected at least {written} "
                "(the items this run wrote); the target acknowledged writes it did not keep")


def _count_partition(connection: Database, table: str, total_segments: int, segments):
    """Runs on an executor: the items of its segments, as one number."""
    logs.setup()
    with connection.api() as api:
        yield sum(count_segment(api, table, segment, total_segments) for segment in segments)
