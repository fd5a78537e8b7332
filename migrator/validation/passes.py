"""One validator task: check its segments of one table against the other table, count, keep examples, repair.

Plain Python with no Spark in it: `jobs/validate.py` calls these inside each partition. Two passes, each about
one parallel scan of one side plus batched point reads (BatchGetItem) on the other:

    source pass  scan source segments; look every item up on the target; count missing and differing items,
                 copy them to the target when asked (copyMissingRows, copyDifferingRows)
    target pass  scan target segments, key attributes only; look the keys up on the source, key attributes only;
                 count extra items, delete them from the target when asked (deleteExtraRows)

With source.filterExpression the source pass scans only the matching source items, and the target pass scans each
target segment twice: with the filter under the target's names (keys looked up on the source as above), and with
its negation (every such item is extra: the migration would not have copied it).

Each table is read within its read budget (its scan in one pass, its lookups in the other) and repairs write within
the target's write budget, each task taking its share as `running_tasks()` says (see throttle.py).

Only counters and at most `examples_per_task` examples go back to the driver, never the items.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal

from migrator.dynamo.api import DynamoApi, RetryPolicy
from migrator.dynamo.database import Database
from migrator.validation.compare import diff_items
from migrator.errors import MigratorError, TransferError
from migrator.items import key_id, key_of, key_projection, renamed
from migrator.readers.batch_get import BatchGetter
from migrator.readers.scan import first_items, prefetch, scan_pages
from migrator.transforms.filters import UNMATCHED, ScanFilter
from migrator.transforms.transform import expired
from migrator.progress import ProgressAddress
from migrator.validation.sampling import SampleLimit
from migrator.dynamo.throttle import shared_limiter
from migrator.writers.batch_writer import BatchWriter

logger = logging.getLogger("migrator.task")

MISSING, DIFFERING, EXTRA = "missing", "differing", "extra"
EXPIRED = "expired"
Reader = Callable[..., Iterator[list[dict]]]  # pages(segment, quota[, scan_filter]) of one table, see _reader


@dataclass(frozen=True)
class ValidationSettings:
    """Everything a task needs, picklable; built once on the driver."""

    source: Database
    source_table: str
    target: Database
    target_table: str
    key_names: tuple[str, ...]  # the source's key attributes
    tolerance: str = "0"  # floatingPointTolerance, as exact decimal text
    examples_per_task: int = 100
    copy_missing: bool = False
    copy_differing: bool = False
    delete_extra: bool = False
    renames: tuple[tuple[str, str], ...] = ()  # (source name, target name)
    ttl_attribute: str | None = None  # the source's TTL attribute: expired source items are not expected (TTL)
    scan_filter: ScanFilter | None = None  # source.filterExpression: only matching source items are expected
    batch_size: int = 25
    in_flight: int = 4  # BatchGetItem and BatchWriteItem requests at once, each
    retry: RetryPolicy = RetryPolicy()
    # The job's budgets in units per second (0: no limit), shared by the tasks running at once: reads of each
    # table (its scan in one pass, its lookups in the other) and the repairs' writes to the target.
    source_read_units: float = 0.0
    target_read_units: float = 0.0
    target_write_units: float = 0.0
    source_page_limit: int | None = None  # items per Scan page, so that a page is a small bite of the budget
    target_page_limit: int | None = None
    shares: ProgressAddress | None = None  # where to ask how many tasks run now (see progress/share.py)
    tasks_at_once: int = 1  # the static estimate of that number, used when the driver cannot be asked

    @property
    def target_key_names(self) -> tuple[str, ...]:
        names = dict(self.renames)
        return tuple(names.get(name, name) for name in self.key_names)


@dataclass(frozen=True)
class Example:
    """One difference found: the item's key in wire format and, for a differing item, `path: source != target`."""

    kind: str  # MISSING, DIFFERING or EXTRA
    key: dict
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class PassResult:
    """What a task sends back to the driver: counters and a few examples."""

    side: str  # "source" or "target": the table this pass scanned
    task: int
    segments: tuple[int, ...]
    checked: int = 0
    missing: int = 0
    differing: int = 0
    extra: int = 0
    copied: int = 0
    rewritten: int = 0
    deleted: int = 0
    expired: int = 0  # source items not checked: their TTL has passed, so the copy skipped them
    seconds: float = 0.0
    examples: tuple[Example, ...] = field(default=())


def check_source_segments(settings: ValidationSettings, segments: Iterable[int], task: int, total_segments: int,
                          limit: SampleLimit | None = None,
                          running_tasks: Callable[[], int] | None = None) -> PassResult:
    """Look every item of the source `segments` up on the target; a sample reads only as much as `limit` says.
    `running_tasks()` says how many tasks share the budgets now (default: `settings.tasks_at_once`)."""
    started = time.monotonic()
    s = settings
    running = running_tasks or (lambda: s.tasks_at_once)
    tolerance = Decimal(s.tolerance)
    renames = dict(s.renames)
    target_keys = s.target_key_names
    source_api = s.source.api(retry=s.retry)
    target_api = s.target.api(max_connections=2 * s.in_flight, retry=s.retry)
    counts = dict.fromkeys(("checked", MISSING, DIFFERING, "copied", "rewritten", EXPIRED), 0)
    examples: list[Example] = []
    repairing = s.copy_missing or s.copy_differing
    with source_api, target_api, \
            BatchGetter(target_api, s.target_table, target_keys, max_in_flight=s.in_flight, retry=s.retry,
                        limiter=shared_limiter(s.target_read_units, running),
                        report_capacity=s.target.report_capacity) as getter, \
            _writer(target_api, s, repairing, running) as writer:

        def check(page: list[dict]) -> None:
            if s.ttl_attribute is not None:
                live = _unexpired(page, s.ttl_attribute)
                counts[EXPIRED] += len(page) - len(live)
                page = live
            expected = [renamed(item, renames, s.key_names) for item in page]  # what the target should hold
            found = getter.get([key_of(item, target_keys) for item in expected])
            for item in expected:
                counts["checked"] += 1
                actual = found.get(key_id(item, target_keys))
                if actual is None:
                    counts[MISSING] += 1
                    _keep(examples, s, Example(MISSING, key_of(item, target_keys)))
                    if s.copy_missing:
                        writer.put(item)
                        counts["copied"] += 1
                    continue
                differences = diff_items(item, actual, tolerance)
                if differences:
                    counts[DIFFERING] += 1
                    _keep(examples, s, Example(DIFFERING, key_of(item, target_keys),
                                               tuple(str(d) for d in differences)))
                    if s.copy_differing:
                        writer.put(item)
                        counts["rewritten"] += 1

        done = _check_segments(
            "source", task, segments, total_segments, limit, counts, writer, check,
            _reader(source_api, s.source_table, total_segments, shared_limiter(s.source_read_units, running),
                    s.source.report_capacity, s.source_page_limit, scan_filter=s.scan_filter),
            f"source table {s.source_table!r} checked against target table {s.target_table!r}",
        )
    result = PassResult("source", task, tuple(done), counts["checked"], missing=counts[MISSING],
                        differing=counts[DIFFERING], copied=counts["copied"], rewritten=counts["rewritten"],
                        expired=counts[EXPIRED], seconds=time.monotonic() - started, examples=tuple(examples))
    log_summary(result, sample=limit is not None)
    return result


def check_target_segments(settings: ValidationSettings, segments: Iterable[int], task: int, total_segments: int,
                          limit: SampleLimit | None = None,
                          running_tasks: Callable[[], int] | None = None) -> PassResult:
    """Check that every item of the target `segments` exists on the source; a sample reads as `limit` says."""
    started = time.monotonic()
    s = settings
    running = running_tasks or (lambda: s.tasks_at_once)
    source_names = dict(zip(s.target_key_names, s.key_names))
    source_api = s.source.api(max_connections=s.in_flight, retry=s.retry)
    target_api = s.target.api(max_connections=s.in_flight + 1, retry=s.retry)
    counts = dict.fromkeys(("checked", EXTRA, "deleted"), 0)
    examples: list[Example] = []
    projection = key_projection(s.target_key_names)
    with source_api, target_api, \
            BatchGetter(source_api, s.source_table, s.key_names, keys_only=True, max_in_flight=s.in_flight,
                        retry=s.retry, limiter=shared_limiter(s.source_read_units, running),
                        report_capacity=s.source.report_capacity) as getter, \
            _writer(target_api, s, s.delete_extra, running) as writer:

        def check(page: list[dict]) -> None:
            if isinstance(page, _Unmatched):  # the source's filter leaves these out: the target should not hold them
                for key in page:
                    counts["checked"] += 1
                    extra(key, (UNMATCHED,))
                return
            source_keys = [{source_names[n]: key[n] for n in s.target_key_names} for key in page]
            found = getter.get(source_keys)
            for key, source_key in zip(page, source_keys):
                counts["checked"] += 1
                if key_id(source_key, s.key_names) not in found:
                    extra(key, ())

        def extra(key: dict, why: tuple[str, ...]) -> None:
            counts[EXTRA] += 1
            target_key = key_of(key, s.target_key_names)
            _keep(examples, s, Example(EXTRA, target_key, why))
            if s.delete_extra:
                writer.delete(target_key)
                counts["deleted"] += 1

        reader = _reader(target_api, s.target_table, total_segments, shared_limiter(s.target_read_units, running),
                         s.target.report_capacity, s.target_page_limit, projection)
        done = _check_segments(
            "target", task, segments, total_segments, limit, counts, writer, check,
            reader if s.scan_filter is None else _split_by(s.scan_filter.translated(s.renames), reader),
            f"target table {s.target_table!r} checked against source table {s.source_table!r}",
        )
    result = PassResult("target", task, tuple(done), counts["checked"], extra=counts[EXTRA],
                        deleted=counts["deleted"], seconds=time.monotonic() - started, examples=tuple(examples))
    log_summary(result, sample=limit is not None)
    return result


def _check_segments(side: str, task: int, segments: Iterable[int], total_segments: int, limit: SampleLimit | None,
                    counts: dict[str, int], writer: BatchWriter | None, check: Callable[[list[dict]], None],
                    pages: Callable[[int, int | None], Iterator[list[dict]]], tables: str) -> list[int]:
    """The segment loop both passes share: `check` each page of `pages(segment, quota)`, flush the repairs, log
    the segment's counts; stop when a sample's quota is reached. Returns the segments done."""
    done: list[int] = []
    for segment in segments:
        quota = _quota(limit, counts["checked"])
        if quota == 0:
            break
        before = dict(counts)
        try:
            for page in prefetch(pages(segment, quota)):
                check(page)
            if writer is not None:
                writer.flush()
        except MigratorError as exc:
            raise TransferError(f"segment {segment}/{total_segments} of {tables}: {exc}") from exc
        done.append(segment)
        _log_segment(task, side, segment, total_segments, {k: counts[k] - before[k] for k in counts}, limit)
    return done


def log_summary(result: PassResult, sample: bool = False) -> None:
    """The per-task line README documents: `validator task 3: source segments [3, 7] checked 5120 items in 3.0 s:
    0 missing, 1 differing` (a target pass counts extra items instead; a sample says `sample of N segments`; a
    source pass that left expired items out adds `, 12 expired (TTL) not checked`)."""
    if result.side == "source":
        counts = {MISSING: result.missing, DIFFERING: result.differing, "copied": result.copied,
                  "rewritten": result.rewritten, EXPIRED: result.expired}
    else:
        counts = {EXTRA: result.extra, "deleted": result.deleted}
    if sample:
        segments = f"sample of {len(result.segments)} segments"
    else:
        segments = "segments [" + ", ".join(str(s) for s in result.segments) + "]"
    logger.info("validator task %d: %s %s checked %d items in %.1f s: %s", result.task, result.side, segments,
                result.checked, result.seconds, _counts_text(counts))


def _log_segment(task: int, side: str, segment: int, total: int, counts: dict[str, int],
                 limit: SampleLimit | None) -> None:
    level = logging.INFO if limit is None else logging.DEBUG  # a sample reads many tiny segments
    logger.log(level, "validator task %d: %s segment %d/%d checked %d items: %s", task, side, segment, total,
               counts["checked"], _counts_text(counts))


def _quota(limit: SampleLimit | None, checked: int) -> int | None:
    """Items to read from the next segment: None for all of it, 0 when the task has its share of the sample."""
    if limit is None:
        return None
    return max(0, min(limit.per_segment, limit.per_task - checked))


def _counts_text(counts: dict[str, int]) -> str:
    """`0 missing, 1 differing`; repair counts only when not zero."""
    parts = [f"{counts[k]} {k}" for k in (MISSING, DIFFERING, EXTRA) if k in counts]
    parts += [f"{counts[k]} {k}" for k in ("copied", "rewritten", "deleted") if counts.get(k)]
    if counts.get(EXPIRED):
        parts.append(f"{counts[EXPIRED]} expired (TTL) not checked")
    return ", ".join(parts)


def _unexpired(page: list[dict], ttl_attribute: str) -> list[dict]:
    """The items of `page` the copy did not skip as expired (transforms/transform.expired)."""
    now = time.time()
    return [item for item in page if not expired(item.get(ttl_attribute), now)]


def _reader(api: DynamoApi, table: str, total: int, limiter, report_capacity: bool, page_limit: int | None,
            projection: dict | None = None, scan_filter: ScanFilter | None = None) -> Reader:
    """`pages(segment, quota, scan_filter)` of `table`, each page charged to `limiter` (one per task and pass);
    `scan_filter`, the default filter, or the one the call gives."""

    def pages(segment: int, quota: int | None, only: ScanFilter | None = scan_filter) -> Iterator[list[dict]]:
        options = dict(projection=projection, scan_filter=only, limiter=limiter, report_capacity=report_capacity)
        if quota is None:
            return scan_pages(api, table, segment, total, limit=page_limit, **options)
        limit = quota if page_limit is None else min(quota, page_limit)
        return first_items(scan_pages(api, table, segment, total, limit=limit, **options), quota)

    return pages


class _Unmatched(list):
    """A page of target keys that the filter does not match: each is extra, whatever the source holds."""


def _split_by(target_filter: ScanFilter, pages: Reader) -> Reader:
    """The target's pages with a filter: those it matches (looked up on the source), then those it does not, as
    `_Unmatched` pages: two scans of the segment. A sample's quota covers both."""

    def split(segment: int, quota: int | None) -> Iterator[list[dict]]:
        left = quota
        for only, unmatched in ((target_filter, False), (target_filter.negated(), True)):
            if left == 0:
                return
            for page in pages(segment, left, only):
                if left is not None:
                    left -= len(page)
                yield _Unmatched(page) if unmatched else page

    return split


def _writer(api: DynamoApi, s: ValidationSettings, enabled: bool, running: Callable[[], int]):
    if not enabled:
        return nullcontext(None)
    return BatchWriter(api, s.target_table, batch_size=s.batch_size, max_in_flight=s.in_flight, retry=s.retry,
                       limiter=shared_limiter(s.target_write_units, running),
                       report_capacity=s.target.report_capacity, key_names=s.target_key_names)


def _keep(examples: list[Example], s: ValidationSettings, example: Example) -> None:
    if len(examples) < s.examples_per_task:
        examples.append(example)
