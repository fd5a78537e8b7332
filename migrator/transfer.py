"""One task's work: scan its segments and write every item to the target, counting as it goes.

Plain Python with no Spark in it: `jobs/migrate.py` calls `transfer_segments` inside each partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from migrator.api_client import RetryPolicy
from migrator.aws import Connection
from migrator.errors import MigratorError, TransferError
from migrator.progress import ProgressAddress
from migrator.readers.scan import prefetch, scan_pages
from migrator.throttle import shared_limiter
from migrator.writers.batch_writer import BatchWriter

logger = logging.getLogger("migrator.task")


@dataclass(frozen=True)
class TransferSettings:
    """Everything a task needs, picklable; built once on the driver."""

    source: Connection
    source_table: str
    target: Connection
    target_table: str
    total_segments: int
    batch_size: int = 25
    writes_in_flight: int = 4
    retry: RetryPolicy = RetryPolicy()
    read_units_per_second: float = 0.0  # the job's budget, shared by the tasks running at once; 0: no limit
    write_units_per_second: float = 0.0
    scan_limit: int | None = None  # items per Scan page, so that a page is a small bite of the read budget
    progress: ProgressAddress | None = None  # where to report finished segments (when savepoints are on)
    shares: ProgressAddress | None = None  # where to ask how many tasks run now (see progress/share.py)
    tasks_at_once: int = 1  # the static estimate of that number, used when the driver cannot be asked


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back to the driver: counters only, never items."""

    task: int
    segments: tuple[int, ...]
    scanned: int
    written: int
    seconds: float
    cpu_seconds: float  # of the Python worker process while it ran this task (its threads included)


def transfer_segments(settings: TransferSettings, segments: Iterable[int], task: int,
                      on_segment_done: Callable[[int, int], None] | None = None,
                      running_tasks: Callable[[], int] | None = None) -> TaskResult:
    """Copy `segments` and log one line per segment and a summary line (the format README documents).

    Returns only once every item is acknowledged by the target. Failures raise TransferError naming the
    table, the segment and the cause, so that Spark retries the task (puts are idempotent).
    `on_segment_done(segment, items)` is called once a segment's items are all written and acknowledged.
    `running_tasks()` says how many tasks share the budgets now (default: `settings.tasks_at_once`).
    """
    started, cpu_started = time.monotonic(), time.process_time()
    with settings.source.api(retry=settings.retry) as source_api, \
            settings.target.api(max_connections=settings.writes_in_flight, retry=settings.retry) as target_api:
        return _transfer(settings, segments, task, source_api, target_api, started, cpu_started, on_segment_done,
                         running_tasks or (lambda: settings.tasks_at_once))


def _transfer(settings: TransferSettings, segments: Iterable[int], task: int, source_api, target_api,
              started: float, cpu_started: float, on_segment_done: Callable[[int, int], None] | None,
              running_tasks: Callable[[], int]) -> TaskResult:
    read_limiter = shared_limiter(settings.read_units_per_second, running_tasks)
    write_limiter = shared_limiter(settings.write_units_per_second, running_tasks)
    if settings.read_units_per_second or settings.write_units_per_second:
        logger.info(
            "migrator task %d: budget %s read, %s write for the job; %d tasks run now, this one's share: %s read, "
            "%s write", task, _rate(settings.read_units_per_second, "RCU"),
            _rate(settings.write_units_per_second, "WCU"), running_tasks(), _rate(read_limiter.rate, "RCU"),
            _rate(write_limiter.rate, "WCU"),
        )
    done: list[int] = []
    scanned = 0
    with BatchWriter(
        target_api,
        settings.target_table,
        batch_size=settings.batch_size,
        max_in_flight=settings.writes_in_flight,
        retry=settings.retry,
        limiter=write_limiter,
        report_capacity=settings.target.report_capacity,
    ) as writer:
        for segment in segments:
            where = (
                f"segment {segment}/{settings.total_segments} of source table {settings.source_table!r} "
                f"-> target table {settings.target_table!r}"
            )
            count = 0
            try:
                pages = scan_pages(
                    source_api, settings.source_table, segment, settings.total_segments,
                    limit=settings.scan_limit, limiter=read_limiter, report_capacity=settings.source.report_capacity,
                    raw=True,
                )
                for page in prefetch(pages):
                    writer.put_raw_many(page)
                    count += len(page)
                writer.flush()
            except MigratorError as exc:
                raise TransferError(f"{where}: {exc}") from exc
            scanned += count
            done.append(segment)
            logger.info(
                "migrator task %d: segment %d/%d transferred %d items", task, segment, settings.total_segments, count
            )
            if on_segment_done is not None:
                on_segment_done(segment, count)
    if writer.written != scanned:  # the writer raises before this can happen; a last guard against loss
        raise TransferError(
            f"task {task}, segments {done} of {settings.source_table!r}: scanned {scanned} items "
            f"but the target acknowledged {writer.written}"
        )
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    logger.info("migrator task %d: segments %s transferred %d items in %.1f s (%s)", task, _segment_list(done),
                scanned, seconds, cpu_summary(cpu, scanned))
    return TaskResult(task=task, segments=tuple(done), scanned=scanned, written=writer.written, seconds=seconds,
                      cpu_seconds=cpu)


def cpu_summary(cpu_seconds: float, items: int) -> str:
    """`CPU 0.22 s, 17.4 us per item`, as the task and total lines print it."""
    return f"CPU {cpu_seconds:.2f} s" + (f", {cpu_seconds / items * 1e6:.1f} us per item" if items else "")


def _rate(units_per_second: float, unit: str) -> str:
    return f"{units_per_second:.1f} {unit}/s" if units_per_second > 0 else "unlimited"


def _segment_list(segments: list[int]) -> str:
    return "[" + ", ".join(str(s) for s in segments) + "]"
