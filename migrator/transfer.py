"""One task's work: scan its segments and write every item to the target, counting as it goes.

Plain Python with no Spark in it: `jobs/migrate.py` calls `transfer_segments` inside each partition.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import ItemRejected, MigratorError, TransferError
from migrator.progress import ProgressAddress
from migrator.readers.scan import prefetch, scan_pages
from migrator.dynamo.throttle import shared_limiter
from migrator.writers.batch_writer import BatchWriter, Refused

logger = logging.getLogger("migrator.task")

# With a dead-letter file, a task sends at most this many refused items (and bytes of them) back to the driver;
# one more fails the task: so many refusals mean a wrong target, not a few odd items.
MAX_REJECTED_ITEMS = 1000
MAX_REJECTED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TransferSettings:
    """Everything a task needs, picklable; built once on the driver."""

    source: Database
    source_table: str
    target: Database
    target_table: str
    total_segments: int
    batch_size: int = 25
    writes_in_flight: int = 4
    retry: RetryPolicy = RetryPolicy()
    read_units_per_second: float = 0.0  # the job's budget, shared by the tasks running at once; 0: no limit
    write_units_per_second: float = 0.0
    scan_limit: int | None = None  # items per Scan page, so that a page is a small bite of the read budget
    progress: ProgressAddress | None = None  # where to report finished segments (when savepoints are on)
    target_key_names: tuple[str, ...] = ()  # named in the error about an item the target refuses
    keep_rejected: bool = False  # send items the target refuses back in the TaskResult (a dead-letter file is set)
    shares: ProgressAddress | None = None  # where to ask how many tasks run now (see progress/share.py)
    tasks_at_once: int = 1  # the static estimate of that number, used when the driver cannot be asked


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back to the driver: counters, and the items the target refused when they are kept for a
    dead-letter file (at most MAX_REJECTED_ITEMS). scanned = written + rejected."""

    task: int
    segments: tuple[int, ...]
    scanned: int
    written: int
    seconds: float
    cpu_seconds: float  # of the Python worker process while it ran this task (its threads included)
    rejected: int = 0
    rejected_items: tuple[bytes, ...] = ()  # each one DynamoDB JSON object, as scanned
    throttled_retries: int = 0  # requests retried after throttling, on either side
    other_retries: int = 0  # requests retried after other transient failures
    unprocessed_resent: int = 0  # items the target left in UnprocessedItems and the writer sent again


def transfer_segments(settings: TransferSettings, segments: Iterable[int], task: int,
                      on_segment_done: Callable[[int, int], None] | None = None,
                      running_tasks: Callable[[], int] | None = None) -> TaskResult:
    """Copy `segments` and log one line per segment and a summary line (the format README documents).

    Returns only once every item is acknowledged by the target. Failures raise TransferError naming the
    table, the segment and the cause, so that Spark retries the task (puts are idempotent). An item the target
    refuses (ItemRejected) fails the task too, unless `settings.keep_rejected`: it is then returned in the result.
    `on_segment_done(segment, items)` is called once a segment's items are all written and acknowledged (not for
    a segment with refused items, so that a resume copies it again).
    `running_tasks()` says how many tasks share the budgets now (default: `settings.tasks_at_once`).
    """
    started, cpu_started = time.monotonic(), time.process_time()
    segments = list(segments)
    where = (f"task {task}, segments {_segment_list(segments)} of source table {settings.source_table!r} "
             f"-> target table {settings.target_table!r}")
    with _client(lambda: settings.source.api(retry=settings.retry), where) as source_api, \
            _client(lambda: settings.target.api(max_connections=settings.writes_in_flight, retry=settings.retry),
                    where) as target_api:
        writers: list[BatchWriter] = []  # _transfer's, so that a failed task's re-sends are counted too
        try:
            result = _transfer(settings, segments, task, source_api, target_api, started, cpu_started,
                               on_segment_done, writers, running_tasks or (lambda: settings.tasks_at_once))
        finally:
            retried = (source_api.throttled_retries + target_api.throttled_retries,
                       source_api.other_retries + target_api.other_retries,
                       sum(w.unprocessed_resent for w in writers))
            if any(retried):  # failed tasks too: their retries often explain the failure
                logger.info("migrator task %d: %d throttled requests retried, %d other retries, "
                            "%d unprocessed items re-sent", task, *retried)
        return dataclasses.replace(result, throttled_retries=retried[0], other_retries=retried[1],
                                   unprocessed_resent=retried[2])


def _client(make: Callable, where: str):
    """A data-path client from `make()`; a failure to build it (credentials, node discovery) names the task."""
    try:
        return make()
    except MigratorError as exc:
        raise TransferError(f"{where}: {exc}") from exc


def _transfer(settings: TransferSettings, segments: Iterable[int], task: int, source_api, target_api,
              started: float, cpu_started: float, on_segment_done: Callable[[int, int], None] | None,
              writers: list, running_tasks: Callable[[], int]) -> TaskResult:
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
    rejects = _Rejects(task, settings) if settings.keep_rejected else None
    with BatchWriter(
        target_api,
        settings.target_table,
        batch_size=settings.batch_size,
        max_in_flight=settings.writes_in_flight,
        retry=settings.retry,
        limiter=write_limiter,
        report_capacity=settings.target.report_capacity,
        key_names=settings.target_key_names,
        on_refused=rejects.add if rejects is not None else None,
    ) as writer:
        writers.append(writer)
        for segment in segments:
            rejected_before = writer.rejected
            if rejects is not None:
                rejects.segment = segment
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
                with contextlib.closing(prefetch(pages)) as read_ahead:  # stops the reader if the writer fails
                    for page in read_ahead:
                        writer.put_raw_many(page)
                        count += len(page)
                writer.flush()
            except ItemRejected as exc:
                raise TransferError(f"{where}: {exc}; fix the item, or set target.deadLetterPath to write the items "
                                    "the target refuses to a file and copy the rest") from exc
            except MigratorError as exc:
                raise TransferError(f"{where}: {exc}") from exc
            scanned += count
            done.append(segment)
            rejected = writer.rejected - rejected_before
            logger.info(
                "migrator task %d: segment %d/%d transferred %d items%s", task, segment, settings.total_segments,
                count - rejected,
                f", {rejected} refused by the target (kept for the dead-letter file)" if rejected else "",
            )
            if on_segment_done is not None and not rejected:
                on_segment_done(segment, count)
    if writer.written + writer.rejected != scanned:  # the writer raises before this can happen; a last guard
        raise TransferError(
            f"task {task}, segments {done} of {settings.source_table!r}: scanned {scanned} items "
            f"but the target acknowledged {writer.written} and refused {writer.rejected}"
        )
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    logger.info("migrator task %d: segments %s transferred %d items in %.1f s (%s)%s", task, _segment_list(done),
                writer.written, seconds, cpu_summary(cpu, scanned),
                f"; {writer.rejected} refused by the target" if writer.rejected else "")
    return TaskResult(task=task, segments=tuple(done), scanned=scanned, written=writer.written, seconds=seconds,
                      cpu_seconds=cpu, rejected=writer.rejected,
                      rejected_items=tuple(rejects.items) if rejects is not None else ())


class _Rejects:
    """Collects the items the target refuses, for the driver's dead-letter file; past the bound, fails the task."""

    def __init__(self, task: int, settings: TransferSettings) -> None:
        self.task = task
        self.settings = settings
        self.segment = -1  # the segment being copied: a segment's batches are all written before the next starts
        self.items: list[bytes] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, refused: Refused) -> None:
        s, item = self.settings, bytes(refused.item)
        key = refused.key(s.target_key_names)
        with self._lock:
            if len(self.items) >= MAX_REJECTED_ITEMS or self._bytes + len(item) > MAX_REJECTED_BYTES:
                raise TransferError(
                    f"target table {s.target_table!r} refused more than {len(self.items)} items of this task "
                    f"({self._bytes // 1024} KB; the last with key {key}: {refused.reason}); a task keeps at most "
                    f"{MAX_REJECTED_ITEMS} items or {MAX_REJECTED_BYTES // 2 ** 20} MB for the dead-letter file"
                )
            self.items.append(item)
            self._bytes += len(item)
        logger.warning("migrator task %d: segment %d/%d: target table %r refused the item with key %s: %s; kept for "
                       "the dead-letter file", self.task, self.segment, s.total_segments, s.target_table, key,
                       refused.reason)


def cpu_summary(cpu_seconds: float, items: int) -> str:
    """`CPU 0.22 s, 17.4 us per item`, as the task and total lines print it."""
    return f"CPU {cpu_seconds:.2f} s" + (f", {cpu_seconds / items * 1e6:.1f} us per item" if items else "")


def _rate(units_per_second: float, unit: str) -> str:
    return f"{units_per_second:.1f} {unit}/s" if units_per_second > 0 else "unlimited"


def _segment_list(segments: list[int]) -> str:
    return "[" + ", ".join(str(s) for s in segments) + "]"
