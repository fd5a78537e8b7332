"""One round's task of the replay: read its shards, write their changes, report what the target acknowledged.

Plain Python with no Spark in it but `replay_round_task`, the map function of a round's job (jobs/replicate.py).
Each shard is read page by page, the next page in flight while the current one is written (readers/scan.py's
`prefetch`). A page collapses to the newest change per key (changes.py), is renamed (`renames`: puts and delete
keys alike; expired items are not skipped here, see Transform.renames_only), goes to the sink, and is flushed before
the shard's position moves past it: a ShardProgress never names a change the target has not acknowledged, and a
key's changes reach the target in stream order, page after page.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from migrator.dynamo.database import Database
from migrator.dynamo.throttle import shared_limiter
from migrator.errors import ItemRejected, MigratorError, TransferError
from migrator.readers.scan import prefetch
from migrator.streams.changes import newest_per_key
from migrator.streams.reader import ShardReader
from migrator.streams.shards import ShardProgress, ShardWork
from migrator.transforms import IDENTITY, Transform
from migrator.writers.table_sink import BatchWriteSink

logger = logging.getLogger("migrator.task")


@dataclass(frozen=True)
class ReplaySettings:
    """What a round's task needs, picklable; built on the driver."""

    stream_arn: str
    table: str  # the source table, for messages
    database: Database  # the source's (the streams client is built from it in the task)
    sink: BatchWriteSink  # the target
    round_seconds: float = 10.0  # a task stops reading a shard after this (shared over its shards)
    get_records_per_second: float = 0.0  # per shard; 0 = no pacing
    tasks_at_once: int = 1  # the round's task count: the sink's budget is split over them
    transform: Transform = IDENTITY  # the job's renames (no TTL skipping: Transform.renames_only)


@dataclass(frozen=True)
class ReplayResult:
    """What a round's task sends back: a ShardProgress per shard, in the order given, and its costs."""

    task: int
    shards: tuple[ShardProgress, ...]
    seconds: float
    cpu_seconds: float  # of the Python worker process while it ran this task (its threads included)
    throttled_retries: int = 0
    other_retries: int = 0
    unprocessed_resent: int = 0


def replay_round_task(settings: ReplaySettings, works: Sequence[ShardWork]) -> ReplayResult:
    """Runs on an executor: one Spark task of a round = one group of shards."""
    from pyspark import TaskContext

    from migrator import logs

    logs.setup()
    context = TaskContext.get()
    return replay_round(settings, works, context.partitionId() if context is not None else 0)


def replay_round(settings: ReplaySettings, works: Sequence[ShardWork], task: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> ReplayResult:
    """Replay `works`' shards, one after the other, for at most about `settings.round_seconds` in all (each shard
    gets an even share of what is left when it starts, and at least one GetRecords). Returns once every change read
    is acknowledged by the target. A write that fails raises TransferError naming the table, the shard and the
    cause (ItemRejected's key among it); lost records raise ChangesLost (reader.py)."""
    started, cpu_started = clock(), time.process_time()
    deadline = started + settings.round_seconds
    limiter = shared_limiter(settings.sink.units_per_second, lambda: settings.tasks_at_once)
    where = f"task {task}, stream of table {settings.table!r} -> {settings.sink.description}"
    opened: list = []
    progress: list[ShardProgress] = []
    retried = (0, 0, 0)
    try:
        with _open(settings.database.streams_api, where) as api, \
                _open(lambda: settings.sink.open(limiter), where) as writer:
            opened += (api, writer)
            reader = ShardReader(api, settings.stream_arn, settings.table, settings.get_records_per_second,
                                 clock=clock, sleep=sleep)
            for index, work in enumerate(works):
                share = max(0.0, deadline - clock()) / (len(works) - index)
                progress.append(_replay_shard(settings, reader, writer, work, clock() + share, task))
    finally:
        if opened:
            writes = opened[1].retried
            retried = (opened[0].throttled_retries + writes[0], opened[0].other_retries + writes[1], writes[2])
        if any(retried):  # failed tasks too: their retries often explain the failure
            logger.info("migrator task %d: %d throttled requests retried, %d other retries, "
                        "%d unprocessed items re-sent", task, *retried)
    seconds, cpu = clock() - started, time.process_time() - cpu_started
    records = sum(p.records for p in progress)
    if records:
        logger.info("migrator task %d: %d shards: %d records, %d puts, %d deletes in %.1f s (CPU %.2f s, %.1f us "
                    "per change)", task, len(progress), records, sum(p.puts for p in progress),
                    sum(p.deletes for p in progress), seconds, cpu, cpu / records * 1e6)
    return ReplayResult(task, tuple(progress), seconds, cpu, *retried)


def _open(make: Callable, where: str):
    """A client or sink from `make()`; a failure to build it (credentials, node discovery) names the task."""
    try:
        return make()
    except MigratorError as exc:
        raise TransferError(f"{where}: {exc}") from exc


def _replay_shard(settings: ReplaySettings, reader: ShardReader, writer, work: ShardWork, deadline: float,
                  task: int) -> ShardProgress:
    shard, table = work.shard, settings.table
    last, newest = None, None
    records = puts = deletes = 0
    iterator, iterator_at, ended, caught_up = None, 0.0, False, False
    with contextlib.closing(prefetch(reader.pages(work, deadline))) as pages:  # closing stops the read-ahead
        for page in pages:
            changes = newest_per_key(page.records, shard, table)
            try:
                images = settings.transform.apply(changes.puts)
                keys = settings.transform.apply_keys(changes.deletes)
            except MigratorError as exc:  # RenameConflict: the item holds a new name already
                raise TransferError(f"stream of table {table!r}, shard {shard}: a change up to sequence number "
                                    f"{page.records[-1].sequence} cannot be renamed: {exc}") from exc
            try:
                if images:
                    writer.put_raw(images)
                if keys:
                    writer.delete_raw(keys)
                writer.flush()
            except ItemRejected as exc:
                raise TransferError(f"stream of table {table!r}, shard {shard}: a change up to sequence number "
                                    f"{page.records[-1].sequence} cannot be written: {exc}") from exc
            except MigratorError as exc:
                after = last or work.after
                raise TransferError(f"stream of table {table!r}, shard {shard}: the changes "
                                    f"{'after sequence number ' + after if after else 'from the shard beginning'} "
                                    f"could not be written to {settings.sink.description}: {exc}") from exc
            # acknowledged: only now does the shard's position move past this page
            records += len(page.records)
            puts += len(changes.puts)
            deletes += len(changes.deletes)
            if page.records:
                last = page.records[-1].sequence
                newest = page.records[-1].created or newest
            iterator, iterator_at = page.next_iterator, page.at
            ended = page.next_iterator is None
            caught_up = ended or not page.records
    state = "shard ended" if ended else "caught up" if caught_up else "more to read"
    logger.log(logging.INFO if records or ended else logging.DEBUG,
               "migrator task %d: shard %s: %d puts, %d deletes, %d records%s; %s", task, shard, puts, deletes,
               records, f" up to sequence number {last}" if last else "", state)
    return ShardProgress(shard, last, ended, caught_up, iterator, iterator_at, records, puts, deletes, newest)
