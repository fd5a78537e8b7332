"""A DynamoDB or Alternator table as a source: its units are parallel-scan segments.

The driver side (`TableScan`) describes the table, plans the segments (readers/segments.py) and sets the read
budget; the executor side (`ScanSource`, picklable) scans one segment at a time with `scan_answers(raw=True)`,
the next page read ahead while the current one is written (`prefetch`). With source.filterExpression the server
returns only the matching items, and each answer's ScannedCount says how many it read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from migrator import schema
from migrator.config import DynamoSource, MigratorConfig
from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database, database_for, log_database
from migrator.dynamo.throttle import Budget, RateLimiter, Unlimited, job_budget, scan_limit
from migrator.errors import SchemaError
from migrator.progress.live import Expected
from migrator.codec import ScanPage
from migrator.readers.scan import prefetch, scan_answers
from migrator.readers.segments import plan_segments, segment_ranges, segments_record
from migrator.readers.source import UnitPlan
from migrator.transforms import ttl
from migrator.transforms.filters import ScanFilter, probe

logger = logging.getLogger("migrator.jobs.migrate")  # these lines were the job's and keep its logger name


@dataclass(frozen=True)
class ScanSegment:
    """Segment `segment` of a parallel scan in `total` segments; its id is the segment number."""

    kind: ClassVar[str] = "segment"
    segment: int
    total: int

    @property
    def id(self) -> int:
        return self.segment

    @property
    def label(self) -> str:
        return f"segment {self.segment}/{self.total}"


def segment_id(text: str, total: int) -> int:
    """The segment number a progress line names; ValueError when it is not one, LookupError when out of range."""
    segment = int(text)
    if segment < 0:
        raise ValueError("segment and items must not be negative")
    if segment >= total:
        raise LookupError(f"segment {segment} is not below the run's {total} segments")
    return segment


@dataclass(frozen=True)
class ScanSource:
    """The executor side: what a task needs to scan segments of `table`, built once on the driver."""

    database: Database
    table: str
    retry: RetryPolicy = RetryPolicy()
    scan_limit: int | None = None  # items per Scan page, so that a page is a small bite of the read budget
    units_per_second: float = 0.0  # the job's read budget, shared by the tasks running at once; 0: no limit
    scan_filter: ScanFilter | None = None  # source.filterExpression, evaluated by the server
    unit_kind: ClassVar[str] = ScanSegment.kind
    budget_unit: ClassVar[str] = "RCU"

    @property
    def description(self) -> str:
        return f"source table {self.table!r}"

    def open(self, limiter: RateLimiter | Unlimited) -> _Scanner:
        return _Scanner(self, self.database.api(retry=self.retry), limiter)


class _Scanner:
    """A ScanSource opened inside a task: its client, closed with it."""

    def __init__(self, source: ScanSource, api, limiter: RateLimiter | Unlimited) -> None:
        self.source = source
        self.api = api
        self.limiter = limiter
        self.filtered_out = 0  # ScannedCount - Count of the pages read (source.filterExpression)

    def pages(self, unit: ScanSegment) -> Iterator[list]:
        s = self.source
        return prefetch(self._counted(scan_answers(
            self.api, s.table, unit.segment, unit.total, limit=s.scan_limit, scan_filter=s.scan_filter,
            limiter=self.limiter, report_capacity=s.database.report_capacity, raw=True)))

    def _counted(self, answers: Iterator[ScanPage]) -> Iterator[list]:
        """The answers' items; what the filter left out of each (ScannedCount - Count) added to `filtered_out`."""
        with contextlib.closing(answers):
            for page in answers:
                if page.scanned_count is not None:
                    self.filtered_out += page.scanned_count - len(page.items)
                yield page.items

    @property
    def retried(self) -> tuple[int, int, int]:
        return self.api.throttled_retries, self.api.other_retries, 0

    def __enter__(self) -> _Scanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.api.__exit__(*exc_info)  # the client as a context manager, as `with` would close it


class TableScan:
    """The driver side: describe the source table, plan its segments, set the read budget."""

    def __init__(self, settings: DynamoSource, config: MigratorConfig) -> None:
        self.settings = settings
        self.skip_segments = config.skip_segments
        self.database = database_for("source", settings)
        self.info: schema.TableInfo | None = None
        self.scan_filter = ScanFilter.of(settings)

    @property
    def title(self) -> str:
        return f"{self.settings.type} table {self.settings.table!r}"

    @property
    def label(self) -> str:
        return self.settings.table

    def announce(self) -> None:
        log_database("source", self.settings, self.database)

    def describe(self) -> schema.TableInfo:
        """The table's schema, size and TTL attribute (SchemaError when it does not exist); logs what happens to
        its expired items."""
        table = self.settings.table
        client = self.database.boto3_client()
        info = schema.describe(client, table, "source")
        if info is None:
            raise SchemaError(f"source table {table!r} does not exist at {self.database.name}; check source.table "
                              "and source.endpoint")
        attribute = ttl.source_attribute(client, table, self.database.name, self.settings.skip_expired_items)
        self.info = dataclasses.replace(info, ttl_attribute=attribute)
        return self.info

    def plan(self, default_parallelism: int) -> UnitPlan:
        """The segments of this run, logged: their count, where it came from, those skipped. A filter is probed
        first (`check_filter`), so that a wrong one stops the job before the target is touched."""
        self.check_filter()
        src = self.settings
        plan = plan_segments(scan_segments=src.scan_segments, table_size_bytes=self.info.size_bytes,
                             default_parallelism=default_parallelism, max_map_tasks=src.max_map_tasks,
                             skip_segments=self.skip_segments)
        if plan.skipped:
            logger.info("skipping %d of %d segments already done (skipSegments): %s; %d remain",
                        plan.skipped, plan.total, segment_ranges(self.skip_segments), len(plan.segments))
        if plan.segments:
            logger.info("scanning %d of %d segments (%s; %d skipped) in %d Spark tasks", len(plan.segments),
                        plan.total, "derived from the table size" if plan.derived else "from source.scanSegments",
                        plan.skipped, plan.partitions)
        return UnitPlan(kind=ScanSegment.kind, total=plan.total,
                        units=tuple(ScanSegment(s, plan.total) for s in plan.segments),
                        done=frozenset(self.skip_segments), partitions=plan.partitions,
                        unit_id=partial(segment_id, total=plan.total), record=partial(segments_record, plan.total))

    def expected(self, plan: UnitPlan) -> Expected:
        """What this run should read, for the progress lines: DescribeTable's ItemCount (or, when the server says
        0, its TableSizeBytes), in the share of the segments this run scans."""
        info, share = self.info, len(plan.units) / plan.total if plan.total else 1.0
        if info.item_count > 0:
            return Expected(round(info.item_count * share), "DescribeTable ItemCount, about")
        if info.size_bytes > 0:
            return Expected(None, "DescribeTable TableSizeBytes, about", round(info.size_bytes * share))
        return Expected(None)

    def check_filter(self) -> None:
        """source.filterExpression, if any, tried on the table: one Scan of one item (filters.probe)."""
        if self.scan_filter is None:
            return
        with self.database.api() as api:
            probe(api, self.settings.table, self.scan_filter)
        logger.info("filter: only the items matching source.filterExpression %r are copied (the source server "
                    "evaluates it in each Scan)", self.scan_filter.expression)

    def count_line(self, scanned: int, skipped: int) -> str:
        """What the total lines say of the source's count: the items scanned (with a filter: those it matched; the
        job's filter line says how many were read), and DescribeTable's figure."""
        what = "matched source.filterExpression" if self.scan_filter is not None else "scanned"
        if skipped:
            return (f"{scanned} items {what} in the segments of this run (exact); the {skipped} skipped segments "
                    "were copied by an earlier run")
        return (f"{scanned} items {what} (exact); DescribeTable ItemCount {self.info.item_count} (approximate: AWS "
                "refreshes it about every six hours; some local servers always say 0)")

    def budget(self, concurrent: int) -> Budget:
        src = self.settings
        return job_budget(src.read_throughput, src.throughput_read_percent, self.info.capacity("ReadCapacityUnits"),
                          self.info.billing_mode, concurrent, "source.readThroughput")

    def source(self, budget: Budget) -> ScanSource:
        return ScanSource(self.database, self.settings.table, scan_limit=scan_limit(budget.per_task,
                                                                                    self.info.average_item_bytes),
                          units_per_second=budget.units_per_second, scan_filter=self.scan_filter)

