"""The snapshot migration as a Spark job: the source's units -> partitions -> transfer -> counts and verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from migrator import logs
from migrator.config import ALTERNATOR, DYNAMODB, S3_EXPORT, DynamoTarget, MigratorConfig
from migrator.config.secrets import secret_paths
from migrator.errors import ConfigError, Interrupted, SavepointError
from migrator.exports.export_sink import ExportWrite
from migrator.exports.export_source import ExportRead
from migrator.jobs.interrupts import SHUTDOWN, StopOnSignals
from migrator.jobs.replicate import Replication
from migrator.jobs.shares import active_tasks, log_budgets, log_peak, progress_server, running_tasks
from migrator.jobs.target_count import CountCheck
from migrator.progress.live import Expected, LiveProgress
from migrator.progress.reporter import ProgressReporter
from migrator.progress.sender import SEND_SECONDS, CountsSender, Tally
from migrator.readers.scan_source import TableScan
from migrator.readers.source import UnitPlan
from migrator.reports.document import STOPPED, Outcome
from migrator.reports.files import write_run_report
from migrator.reports.record import RunRecord
from migrator.savepoints.stores import open_store
from migrator.savepoints.writer import SavepointWriter
from migrator.streams.setup import StreamControl, prepare as prepare_stream
from migrator.transfer import TaskResult, TransferSettings, cpu_summary, skipped_text, transfer
from migrator.transforms import Transform, for_job, renamed_table
from migrator.transforms.renames import announce_renames
from migrator.writers import dead_letter
from migrator.writers.table_sink import TableWrite

logger = logging.getLogger(__name__)
SIGNAL_WAIT_SECONDS = 1.0  # how long the shutdown hook waits for the driver's own signal handler before the report

# (source.type, target.type) -> the driver sides of the source and the sink. Tables copy into tables; a DynamoDB
# table can be written as an S3 export, and an export read into a table (config.parse refuses the other pairs).
TABLES = (DYNAMODB, ALTERNATOR)
PAIRS = {
    **{(source, target): (TableScan, TableWrite) for source in TABLES for target in TABLES},
    (DYNAMODB, S3_EXPORT): (TableScan, ExportWrite),
    **{(S3_EXPORT, target): (ExportRead, TableWrite) for target in TABLES},
}


def choose(config: MigratorConfig) -> tuple[TableScan, TableWrite]:
    """The driver sides of this migration's source and sink, by (source.type, target.type): the one place that
    picks them. A source is built from (its settings, the config: its progress keys), a sink from its settings."""
    pair = (config.source.type, config.target.type)
    if pair not in PAIRS:
        raise ConfigError(f"source.type {pair[0]} -> target.type {pair[1]}: not supported; copy between tables, "
                          f"from a dynamodb table to a {S3_EXPORT}, or from a {S3_EXPORT} to a table")
    source, sink = PAIRS[pair]
    return source(config.source, config), sink(config.target)


def run(spark, config: MigratorConfig, record: RunRecord | None = None) -> int:
    """Copy the source into the target, then, with target.streamChanges, replay its stream (jobs/replicate.py).
    0 when every scanned item was written (and the replay stopped because it caught up), else 1; a signal raises
    Interrupted. `record` (the run report's) is filled in on the way."""
    src, dst = config.source, config.target
    record = record if record is not None else RunRecord(config)
    source, sink = choose(config)
    record.source, record.target = source.title, sink.title
    source.announce()
    sink.announce()
    source_info = record.source_info = source.describe()
    dead_letter_path = getattr(dst, "dead_letter_path", None)  # a table target's key
    dead_letters = dead_letter.check_directory(dead_letter_path) if dead_letter_path else None
    streaming = isinstance(dst, DynamoTarget) and dst.stream_changes
    transform = for_job(config, source_info)
    announce_renames(source_info, transform.renames, f"items{' and stream changes' if streaming else ''} are "
                     f"written to {sink.title} under the new names")
    sc = spark.sparkContext
    plan = source.plan(sc.defaultParallelism)
    record.unit_kind, record.units_total, record.units_planned = plan.kind, plan.total, len(plan.units)
    record.partitions = plan.partitions
    created = sink.prepare(renamed_table(source_info, transform.renames), resuming=bool(plan.done))
    stream = None
    if streaming:  # before the snapshot: no change made during it may be missed
        control = StreamControl(source.database, src.table)
        stream = (control, prepare_stream(control, config.stream_checkpoint,
                                          snapshot=not dst.skip_initial_snapshot_transfer))

    writer = None
    if config.savepoints is not None:
        writer = SavepointWriter(open_store(config.savepoints.path), config.raw, plan.total, plan.done,
                                 stream=stream[1].to_doc() if stream else None, record=plan.record, kind=plan.kind)
    if streaming and dst.skip_initial_snapshot_transfer:
        logger.info("migrator: no snapshot (target.skipInitialSnapshotTransfer); the stream's changes only")
        status = 0
    elif not plan.units:
        sink.finish(plan)
        _verdict(record, logging.INFO, "OK - nothing to copy, all %d %ss are done", plan.total, plan.kind)
        status = 0
    else:
        record.phases.append("snapshot")
        status = _snapshot(sc, config, source, sink, transform, plan, writer, created, dead_letters, record,
                           final=not streaming)
    if stream is None or status != 0:
        return status
    record.phases.append("stream replay")
    return Replication(sc, config, stream[1], stream[0], sink, writer, transform).run()


def _snapshot(sc, config: MigratorConfig, source: TableScan, sink: TableWrite, transform: Transform, plan: UnitPlan,
              writer: SavepointWriter | None, created: bool, dead_letters, record: RunRecord, *, final: bool) -> int:
    """The parallel copy of the plan's units and its verdict; `final` writes the last savepoint after it."""
    dst = config.target
    concurrent = min(plan.partitions, sc.defaultParallelism)
    read, write = source.budget(concurrent), sink.budget(concurrent)
    settings = TransferSettings(source=source.source(read), sink=sink.sink(write), transform=transform,
                                keep_rejected=dead_letters is not None, tasks_at_once=concurrent)
    log_budgets((("read", read, settings.source.budget_unit), ("write", write, settings.sink.budget_unit)),
                concurrent)
    sc.setJobDescription(f"migrate {source.title} -> {sink.title}, snapshot copy: {len(plan.units)} of {plan.total} "
                         f"{plan.kind}s in {plan.partitions} tasks")  # the UI's job and stage tables show it
    started = time.monotonic()
    results = record.results = _run_job(sc, config, plan, settings, writer, record, source.expected(plan))
    rejected_file = None
    if dead_letters is not None and any(r.rejected_items for r in results):
        rejected_file = dead_letter.write(dead_letters, dst.table, (i for r in results for i in r.rejected_items))
    seconds = record.seconds = time.monotonic() - started
    count_check = None
    if getattr(dst, "verify_count", False):
        # exact only for a table this run created and filled whole: an existing one may hold other items
        count_check = CountCheck(sink.database, dst.table, plan.total, plan.partitions,
                                 exact=created and not plan.skipped)
    status = report(results, source.count_line(sum(r.scanned for r in results), plan.skipped), source.label,
                    sink.label, seconds, kind=plan.kind, rejected_file=rejected_file,
                    verify=partial(count_check.shortfall, sc) if count_check else None,
                    filtered=bool(getattr(config.source, "filter_expression", None)), record=record)
    if writer is not None:
        for result in results:
            if result.written + result.deleted + result.expired == result.scanned:
                for unit in result.segments:
                    writer.unit_done(unit)  # also those whose report did not reach the driver
    if status == 0:
        try:
            sink.finish(plan)
        except BaseException:
            if writer is not None:
                writer.save("failure", f"{sink.title} could not be finished")
            raise
    if writer is not None:
        # after the verdict; SavepointError makes the exit status 1. Before a replay, an interval one: the
        # replay's own savepoints go on, and its last says why it ended.
        writer.save("final" if final or status else "interval")
    return status


def _run_job(sc, config: MigratorConfig, plan: UnitPlan, settings: TransferSettings,
             writer: SavepointWriter | None, record: RunRecord, expected: Expected) -> list[TaskResult]:
    """Run the Spark job; with a writer, record progress as tasks report it and write savepoints on the way.
    With progress.intervalSeconds, `record.live` gets the job's live progress (`expected`: the source's total),
    which logs a line every interval and a last one when the job ends, whatever the outcome."""

    reporting = config.progress.report_path is not None

    def on_stop(why: str) -> None:
        logger.warning("stopping the job: %s", why)
        if writer is not None:
            writer.save("signal", why)
            logger.warning("%s", _resume_hint(writer))
        if reporting and why == SHUTDOWN:  # the signal the driver saw too (Ctrl-C reaches both), if any
            status = stop.exit_status if stop.saw_signal(SIGNAL_WAIT_SECONDS) else None
            _report_on_shutdown(record, status, f"stopped by {stop.received or why}; {_resume_hint(writer)}")

    interval = config.progress.interval_seconds
    live = record.live = LiveProgress(expected, plan.total, units_skipped=plan.skipped, unit_kind=plan.kind,
                                      interval=interval, active_tasks=partial(active_tasks, sc)) if interval else None
    results: list[TaskResult] = []
    with contextlib.ExitStack() as stack:
        budgets = settings.source.units_per_second > 0 or settings.sink.units_per_second > 0
        if writer is not None or budgets or live is not None:
            on_done = writer.unit_done if writer is not None else None
            server = stack.enter_context(progress_server(sc, plan.unit_id, on_done,
                                                         live.on_counts if live is not None else None))
            settings = dataclasses.replace(settings, progress=server.address if writer is not None else None,
                                           shares=server.address if budgets else None,
                                           counts=server.address if live is not None else None,
                                           counts_seconds=min(SEND_SECONDS, interval))
            if budgets:
                stack.callback(log_peak, server)
            if live is not None:
                live.channel = f"{server.address.host}:{server.address.port}"
                stack.callback(live.finish, results)  # the last line, also when the job fails
                live.start()
        if writer is not None:
            writer.start(config.savepoints.interval_seconds)
            stack.callback(writer.stop)
        stop = stack.enter_context(StopOnSignals(sc, on_stop, jvm_hook=writer is not None or reporting))
        try:
            results += (
                sc.parallelize(plan.assignments(), plan.partitions)
                .mapPartitions(partial(_transfer_partition, settings))
                .collect()
            )
        except BaseException as exc:
            stop.wait()
            why = stop.received or (SHUTDOWN if "SparkContext was shut down" in str(exc) else None)
            if why is not None:
                if writer is not None:
                    writer.save("signal", why)
                raise Interrupted(f"stopped by {why}; {_resume_hint(writer)}", stop.exit_status) from exc
            if writer is not None:
                try:
                    writer.save("failure", "the Spark job failed")
                    logger.error("the job failed; %s", _resume_hint(writer))
                except SavepointError as save_error:  # the job's own failure is the one to report
                    logger.error("%s", save_error)
            raise
    return results


def _report_on_shutdown(record: RunRecord, status: int | None, why: str) -> None:
    """The run report, written from the JVM's shutdown hook: after `kill PID` spark-submit's JVM exits once its
    hooks return, without waiting for this driver, so the CLI's report at the end may never be written. Unless the
    driver saw a signal too (`status`), the exit status is spark-submit's (143 after SIGTERM), which this driver
    cannot see. The CLI writes the report again if it gets that far."""
    try:
        write_run_report(record, Outcome(STOPPED, status, why))
    except Exception as exc:  # noqa: BLE001 - the hook must return: the JVM waits for it to exit
        logger.error("cannot write the run report while spark-submit shuts down: %s", exc)


def _resume_hint(writer: SavepointWriter | None) -> str:
    if writer is None:
        return "no savepoints configured, so the next run starts over (puts are idempotent); set savepoints: to resume"
    if writer.last_path is None:
        return "no savepoint written"
    done = len(writer.done)
    local = isinstance(writer.last_path, Path)  # spark-submit's config must be a local file
    alone = f", or ./submit.sh {writer.last_path}" if local and not secret_paths(writer.raw) else ""
    return (f"savepoint {writer.last_path} holds {done} of {writer.total_units} {writer.kind}s done; resume with "
            f"./submit.sh YOUR_CONFIG --resume {writer.store.location}{alone}")


def _transfer_partition(settings: TransferSettings, partition):
    """Runs on an executor: one Spark partition = one task = one tuple of units."""
    from pyspark import TaskContext

    logs.setup()
    context = TaskContext.get()
    task = context.partitionId() if context is not None else 0
    reporter = (ProgressReporter(settings.progress, task, unit_kind=settings.source.unit_kind)
                if settings.progress is not None else None)
    running = running_tasks(context, settings.shares, task, settings.tasks_at_once)
    tally = Tally()
    sender = (CountsSender(settings.counts, task, context.taskAttemptId() if context is not None else 0, tally,
                           settings.counts_seconds).start() if settings.counts is not None else None)
    try:
        for units in partition:
            yield transfer(settings, units, task, on_unit_done=reporter, running_tasks=running, tally=tally)
    finally:
        if sender is not None:
            sender.close()
        if reporter is not None:
            reporter.close()
        running.close()


def report(results: list[TaskResult], source_count: str, source_label: str, target_label: str, seconds: float, *,
           kind: str = "segment", rejected_file: Path | None = None,
           verify: Callable[[int], str | None] | None = None, filtered: bool = False,
           record: RunRecord | None = None) -> int:
    """Log the per-task counts, their sum, the source's count (`source_count`: the source's count_line) and the
    verdict; return the exit status. `kind` names the units (segment, file); `filtered`: source.filterExpression
    is set, so the counts say how many items it matched.

    Every item the source returned is accounted for: scanned = written + deleted + rejected + expired.

    `verify(written)` (target.verifyCount) counts the target before the verdict: a reason for FAILED, or None."""
    for r in sorted(results, key=lambda r: r.task):
        logger.info("task %d: %d %ss, %d items in %.1f s%s", r.task, len(r.segments), kind, r.written + r.deleted,
                    r.seconds, skipped_text(r.rejected, r.expired, 0))
    scanned = sum(r.scanned for r in results)
    deleted = sum(r.deleted for r in results)
    puts = sum(r.written for r in results)
    written = puts + deleted
    rejected = sum(r.rejected for r in results)
    expired = sum(r.expired for r in results)
    filtered_out = sum(r.filtered_out for r in results)
    items = "items matching source.filterExpression" if filtered else "scanned items"  # what `scanned` counts
    rate = written / seconds if seconds > 0 else 0.0
    logger.info(
        "migrator total: %d tasks transferred %d items from %r to %r in %.1f s (%.0f items/s; tasks' %s)",
        len(results), written, source_label, target_label, seconds, rate,
        cpu_summary(sum(r.cpu_seconds for r in results), written),
    )
    retried = [sum(r.throttled_retries for r in results), sum(r.other_retries for r in results),
               sum(r.unprocessed_resent for r in results)]
    if any(retried):
        logger.info("migrator total: %d throttled requests retried, %d other retries, %d unprocessed items re-sent",
                    *retried)
    logger.info("migrator source count: %s", source_count)
    if deleted:
        logger.info("migrator total: %d of the %d changes were deletes", deleted, written)
    if filtered or filtered_out:
        logger.info("migrator filter: the source read %d items; %d matched source.filterExpression, %d did not "
                    "and were left out", scanned + filtered_out, scanned, filtered_out)
    if expired:
        logger.info("migrator TTL: %d expired items skipped (their TTL attribute is in the past: DynamoDB deletes "
                    "them within days); %d scanned = %d written + %d expired%s", expired, scanned, written, expired,
                    f" + {rejected} refused" if rejected else "")
    if written + rejected + expired != scanned:
        _verdict(record, logging.ERROR, "FAILED - %d %s but %d written%s", scanned,
                     "items matched source.filterExpression" if filtered else "items scanned", written,
                     f" and {expired} skipped as expired" if expired else "")
        return 1
    if rejected:
        _verdict(record, logging.ERROR, "FAILED - %d items rejected by the target, written to %s; the other %d of %d "
                 "scanned items were written", rejected, rejected_file, written, scanned)
        return 1
    failure = verify(puts) if verify is not None else None  # the target holds at least the items put
    if failure is not None:
        _verdict(record, logging.ERROR, "FAILED - %s", failure)
        return 1
    if expired:
        _verdict(record, logging.INFO, "OK - all %d %s were written or skipped as expired (%d written, %d expired)",
                 scanned, items, written, expired)
    else:
        _verdict(record, logging.INFO, "OK - all %d %s were written", scanned, items)
    return 0


def _verdict(record: RunRecord | None, level: int, message: str, *args: object) -> None:
    """Log the verdict line, `migrator verdict: OK - ...`, and keep its text in the run's record."""
    text = message % args
    logger.log(level, "migrator verdict: %s", text)
    if record is not None:
        record.verdict = text
