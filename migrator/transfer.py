"""One task's work: the units of a source, through the transform, into a sink, counted as it goes.

Plain Python with no Spark in it: `jobs/migrate.py` calls `transfer` inside each partition. What is read and
written (Scan, BatchWriteItem) is the source's and the sink's business (readers/source.py, writers/sink.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from migrator.dynamo.throttle import shared_limiter
from migrator.errors import ItemRejected, MigratorError, TransferError
from migrator.progress import ProgressAddress
from migrator.progress.sender import SEND_SECONDS, Tally
from migrator.readers.source import Changes, Source, Unit, UnitId, unit_list
from migrator.transforms import IDENTITY, Transform
from migrator.writers.sink import Refusal, Sink

logger = logging.getLogger("migrator.task")

# With a dead-letter file, a task sends at most this many refused items (and bytes of them) back to the driver;
# one more fails the task: so many refusals mean a wrong target, not a few odd items.
MAX_REJECTED_ITEMS = 1000
MAX_REJECTED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TransferSettings:
    """Everything a task needs, picklable; built once on the driver."""

    source: Source
    sink: Sink
    transform: Transform = IDENTITY
    progress: ProgressAddress | None = None  # where to report finished units (when savepoints are on)
    keep_rejected: bool = False  # send items the target refuses back in the TaskResult (a dead-letter file is set)
    shares: ProgressAddress | None = None  # where to ask how many tasks run now (see progress/share.py)
    tasks_at_once: int = 1  # the static estimate of that number, used when the driver cannot be asked
    counts: ProgressAddress | None = None  # where to send the task's live counts (progress.intervalSeconds > 0)
    counts_seconds: float = SEND_SECONDS  # how often


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back to the driver: counters, and the items the target refused when they are kept for a
    dead-letter file (at most MAX_REJECTED_ITEMS). scanned = written + deleted + rejected + expired."""

    task: int
    segments: tuple[UnitId, ...]  # the ids of the units copied (a table scan's: segment numbers)
    scanned: int  # items the source returned (a Changes page: its puts and deletes); with a filter, those it matched
    written: int
    seconds: float
    cpu_seconds: float  # of the Python worker process while it ran this task (its threads included)
    rejected: int = 0
    rejected_items: tuple[bytes, ...] = ()  # each one DynamoDB JSON object, as scanned
    throttled_retries: int = 0  # requests retried after throttling, on either side
    other_retries: int = 0  # requests retried after other transient failures
    unprocessed_resent: int = 0  # items the target left in UnprocessedItems and the writer sent again
    deleted: int = 0  # deletes acknowledged (Changes pages)
    expired: int = 0  # items skipped because their TTL had passed (transforms/transform.py)
    filtered_out: int = 0  # items the source server read but source.filterExpression left out (ScannedCount - Count)
    unit_items: tuple[int, ...] = ()  # items copied of each unit, in the order of `segments`
    bytes_read: int = 0  # DynamoDB JSON bytes of the items read
    bytes_written: int = 0  # DynamoDB JSON bytes of the items written


def transfer(settings: TransferSettings, units: Iterable[Unit], task: int,
             on_unit_done: Callable[[UnitId, int], None] | None = None,
             running_tasks: Callable[[], int] | None = None, tally: Tally | None = None) -> TaskResult:
    """Copy `units` and log one line per unit and a summary line (the format README documents).

    Returns only once every item is acknowledged by the target. Failures raise TransferError naming the
    source, the sink, the unit and the cause, so that Spark retries the task (puts are idempotent). An item the
    target refuses (ItemRejected) fails the task too, unless `settings.keep_rejected`: it is then returned in the
    result. `on_unit_done(unit_id, items)` is called once a unit's items are all written and acknowledged (not for
    a unit with refused items, so that a resume copies it again).
    `running_tasks()` says how many tasks share the budgets now (default: `settings.tasks_at_once`). `tally`
    gets the counts as they grow, page by page, for the live progress (progress/sender.py).
    """
    started, cpu_started = time.monotonic(), time.process_time()
    units = list(units)
    source, sink = settings.source, settings.sink
    where = (f"task {task}, {unit_list(source.unit_kind, [u.id for u in units])} of {source.description} "
             f"-> {sink.description}")
    running = running_tasks or (lambda: settings.tasks_at_once)
    read_limiter = shared_limiter(source.units_per_second, running)
    write_limiter = shared_limiter(sink.units_per_second, running)
    rejects = _Rejects(task, sink.description) if settings.keep_rejected else None
    opened: list = []  # so that a failed task's retries are counted too
    tally = tally if tally is not None else Tally()
    try:
        with _open(lambda: source.open(read_limiter), where) as reader, \
                _open(lambda: sink.open(write_limiter, rejects.add if rejects is not None else None), where) as writer:
            opened += (reader, writer)
            tally.sides = (reader, writer)
            result = _transfer(settings, units, task, reader, writer, rejects, started, cpu_started,
                               on_unit_done, running, (read_limiter, write_limiter), tally)
    finally:
        if tally.sides:
            tally.close_sides()
        retried = tuple(map(sum, zip((0, 0, 0), *(side.retried for side in opened))))
        if any(retried):  # failed tasks too: their retries often explain the failure
            logger.info("migrator task %d: %d throttled requests retried, %d other retries, "
                        "%d unprocessed items re-sent", task, *retried)
    return dataclasses.replace(result, throttled_retries=retried[0], other_retries=retried[1],
                               unprocessed_resent=retried[2])


def _open(make: Callable, where: str):
    """A source or sink opened with `make()`; a failure to build its client (credentials, node discovery) names
    the task."""
    try:
        return make()
    except MigratorError as exc:
        raise TransferError(f"{where}: {exc}") from exc


def _transfer(settings: TransferSettings, units: list[Unit], task: int, reader, writer, rejects: _Rejects | None,
              started: float, cpu_started: float, on_unit_done: Callable[[UnitId, int], None] | None,
              running_tasks: Callable[[], int], limiters: tuple, tally: Tally) -> TaskResult:
    source, sink = settings.source, settings.sink
    if source.units_per_second or sink.units_per_second:
        logger.info(
            "migrator task %d: budget %s read, %s write for the job; %d tasks run now, this one's share: %s read, "
            "%s write", task, _rate(source.units_per_second, source.budget_unit),
            _rate(sink.units_per_second, sink.budget_unit), running_tasks(),
            _rate(limiters[0].rate, source.budget_unit), _rate(limiters[1].rate, sink.budget_unit),
        )
    apply, apply_keys = settings.transform.apply, settings.transform.apply_keys
    done: list[UnitId] = []
    unit_items: list[int] = []
    scanned = expired = 0
    bytes_before = (tally.bytes_read, tally.bytes_written)
    for unit in units:
        rejected_before = writer.rejected
        filtered_before = reader.filtered_out
        if rejects is not None:
            rejects.unit = unit
        count = skipped = 0
        try:
            writer.start_unit(unit)
            with contextlib.closing(reader.pages(unit)) as pages:  # closing stops the reader if the writer fails
                for page in pages:
                    puts, deletes = (page.puts, page.deletes) if isinstance(page, Changes) else (page, ())
                    read = len(puts) + len(deletes)
                    count += read
                    kept = apply(puts)
                    dropped = len(puts) - len(kept)
                    skipped += dropped
                    tally.scanned += read
                    tally.expired += dropped
                    read_bytes = sum(map(len, puts))
                    tally.bytes_read += read_bytes
                    tally.bytes_written += read_bytes if kept is puts else sum(map(len, kept))  # the identity
                    writer.put_raw(kept)
                    if deletes:
                        keys = apply_keys(deletes)
                        tally.bytes_read += sum(map(len, deletes))
                        tally.bytes_written += sum(map(len, keys))
                        writer.delete_raw(keys)
            writer.flush()
        except ItemRejected as exc:
            raise TransferError(f"{_where(unit, settings)}: {exc}; fix the item, or set target.deadLetterPath to "
                                "write the items the target refuses to a file and copy the rest") from exc
        except MigratorError as exc:
            raise TransferError(f"{_where(unit, settings)}: {exc}") from exc
        scanned += count
        expired += skipped
        done.append(unit.id)
        rejected = writer.rejected - rejected_before
        unit_items.append(count - rejected - skipped)
        tally.unit_done()
        logger.info(
            "migrator task %d: %s transferred %d items%s", task, unit.label, count - rejected - skipped,
            skipped_text(rejected, skipped, reader.filtered_out - filtered_before, unit=True),
        )
        if on_unit_done is not None and not rejected:
            on_unit_done(unit.id, count)
    if writer.written + writer.deleted + writer.rejected + expired != scanned:  # the writer raises before
        raise TransferError(
            f"task {task}, {unit_list(source.unit_kind, done)} of {source.description}: read {scanned} items "
            f"and skipped {expired} expired, but the target acknowledged {writer.written} puts and "
            f"{writer.deleted} deletes and refused {writer.rejected}"
        )
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    logger.info("migrator task %d: %s transferred %d items in %.1f s (%s)%s", task,
                unit_list(source.unit_kind, done), writer.written + writer.deleted, seconds, cpu_summary(cpu, scanned),
                skipped_text(writer.rejected, expired, reader.filtered_out).replace(", ", "; ", 1))
    return TaskResult(task=task, segments=tuple(done), scanned=scanned, written=writer.written, seconds=seconds,
                      cpu_seconds=cpu, rejected=writer.rejected, deleted=writer.deleted, expired=expired,
                      filtered_out=reader.filtered_out, unit_items=tuple(unit_items),
                      bytes_read=tally.bytes_read - bytes_before[0],
                      bytes_written=tally.bytes_written - bytes_before[1],
                      rejected_items=tuple(rejects.items) if rejects is not None else ())


def skipped_text(rejected: int, expired: int, filtered_out: int, unit: bool = False) -> str:
    """What a unit's line (`unit`), a task's line or the driver's line for a task adds to its count: `, 3 expired
    (TTL) skipped, 120 left out by source.filterExpression`."""
    parts = []
    if rejected:
        parts.append(f"{rejected} refused by the target" + (" (kept for the dead-letter file)" if unit else ""))
    if expired:
        parts.append(f"{expired} expired (TTL) skipped")
    if filtered_out:
        parts.append(f"{filtered_out} left out by source.filterExpression")
    return "".join(f", {part}" for part in parts)


def _where(unit: Unit, settings: TransferSettings) -> str:
    return f"{unit.label} of {settings.source.description} -> {settings.sink.description}"


class _Rejects:
    """Collects the items the target refuses, for the driver's dead-letter file; past the bound, fails the task."""

    def __init__(self, task: int, sink: str) -> None:
        self.task = task
        self.sink = sink  # the sink's description: `target table 't'`
        self.unit: Unit | None = None  # the unit being copied: a unit's writes are all done before the next starts
        self.items: list[bytes] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, refused: Refusal) -> None:
        item, key = refused.item, refused.key
        with self._lock:
            if len(self.items) >= MAX_REJECTED_ITEMS or self._bytes + len(item) > MAX_REJECTED_BYTES:
                raise TransferError(
                    f"{self.sink} refused more than {len(self.items)} items of this task "
                    f"({self._bytes // 1024} KB; the last with key {key}: {refused.reason}); a task keeps at most "
                    f"{MAX_REJECTED_ITEMS} items or {MAX_REJECTED_BYTES // 2 ** 20} MB for the dead-letter file"
                )
            self.items.append(item)
            self._bytes += len(item)
        logger.warning("migrator task %d: %s: %s refused the item with key %s: %s; kept for the dead-letter file",
                       self.task, self.unit.label, self.sink, key, refused.reason)


def cpu_summary(cpu_seconds: float, items: int) -> str:
    """`CPU 0.22 s, 17.4 us per item`, as the task and total lines print it."""
    return f"CPU {cpu_seconds:.2f} s" + (f", {cpu_seconds / items * 1e6:.1f} us per item" if items else "")


def _rate(units_per_second: float, unit: str) -> str:
    return f"{units_per_second:.1f} {unit}/s" if units_per_second > 0 else "unlimited"

