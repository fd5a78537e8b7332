"""The snapshot migration as a Spark job: segments -> partitions -> transfer -> counts and verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from migrator import logs, schema
from migrator.dynamo.alternator_nodes import describe_nodes
from migrator.dynamo.database import database_for
from migrator.config import MigratorConfig
from migrator.config.secrets import secret_paths
from migrator.errors import Interrupted, SavepointError, SchemaError
from migrator.jobs.interrupts import SHUTDOWN, StopOnSignals
from migrator.jobs.shares import log_budgets, log_peak, progress_server, running_tasks
from migrator.jobs.target_count import CountCheck
from migrator.progress.reporter import ProgressReporter
from migrator.savepoints.stores import open_store
from migrator.savepoints.writer import SavepointWriter
from migrator.readers.segments import SegmentPlan, plan_segments, segment_ranges
from migrator.dynamo.throttle import job_budget, scan_limit
from migrator.transfer import TaskResult, TransferSettings, cpu_summary, transfer_segments
from migrator.writers import dead_letter

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 25


def run(spark, config: MigratorConfig) -> int:
    """Copy the source table into the target; 0 when every scanned item was written, else 1."""
    src, dst = config.source, config.target
    source = database_for("source", src)
    target = database_for("target", dst)
    for side, settings, connection in (("source", src, source), ("target", dst, target)):
        logger.info("%s: %s table %r at %s (region %s)", side, settings.type, settings.table, connection.name,
                    connection.region)
        if connection.kind == "alternator":
            logger.info("%s: %s", side, describe_nodes(connection.endpoint_url, connection.alternator,
                                                         connection.transport))

    source_info = schema.describe(source.boto3_client(), src.table, "source")
    if source_info is None:
        raise SchemaError(f"source table {src.table!r} does not exist at {source.name}; "
                          "check source.table and source.endpoint")
    dead_letters = dead_letter.check_directory(dst.dead_letter_path) if dst.dead_letter_path else None
    target_info, created = schema.ensure_target(target.boto3_client(), source_info, dst.table, dst.billing_mode)

    sc = spark.sparkContext
    plan = plan_segments(
        scan_segments=src.scan_segments,
        table_size_bytes=source_info.size_bytes,
        default_parallelism=sc.defaultParallelism,
        max_map_tasks=src.max_map_tasks,
        skip_segments=config.skip_segments,
    )
    how = "derived from the table size" if plan.derived else "from source.scanSegments"
    if plan.skipped:
        logger.info("skipping %d of %d segments already done (skipSegments): %s; %d remain",
                    plan.skipped, plan.total, segment_ranges(config.skip_segments), len(plan.segments))
    if not plan.segments:
        logger.info("migrator verdict: OK - nothing to copy, all %d segments are done", plan.total)
        return 0
    logger.info(
        "scanning %d of %d segments (%s; %d skipped) in %d Spark tasks",
        len(plan.segments), plan.total, how, plan.skipped, plan.partitions,
    )
    concurrent = min(plan.partitions, sc.defaultParallelism)
    read = job_budget(src.read_throughput, src.throughput_read_percent,
                      source_info.capacity("ReadCapacityUnits"), source_info.billing_mode, concurrent,
                      "source.readThroughput")
    write = job_budget(dst.write_throughput, dst.throughput_write_percent,
                       target_info.capacity("WriteCapacityUnits"), target_info.billing_mode, concurrent,
                       "target.writeThroughput")
    log_budgets((("read", read, "RCU"), ("write", write, "WCU")), concurrent)
    settings = TransferSettings(
        source=source,
        source_table=src.table,
        target=target,
        target_table=dst.table,
        total_segments=plan.total,
        batch_size=dst.max_items_per_batch or DEFAULT_BATCH_SIZE,
        read_units_per_second=read.units_per_second,
        write_units_per_second=write.units_per_second,
        scan_limit=scan_limit(read.per_task, source_info.average_item_bytes),
        target_key_names=target_info.key_names,
        keep_rejected=dead_letters is not None,
        tasks_at_once=concurrent,
    )
    sc.setJobDescription(
        f"migrate {src.type} table {src.table!r} -> {dst.type} table {dst.table!r}: "
        f"{len(plan.segments)} of {plan.total} segments in {plan.partitions} tasks"
    )
    writer = None
    if config.savepoints is not None:
        writer = SavepointWriter(open_store(config.savepoints.path), config.raw, plan.total, config.skip_segments)
    started = time.monotonic()
    results = _run_job(sc, config, plan, settings, writer)
    rejected_file = None
    if dead_letters is not None and any(r.rejected_items for r in results):
        rejected_file = dead_letter.write(dead_letters, dst.table, (i for r in results for i in r.rejected_items))
    seconds = time.monotonic() - started
    count_check = None
    if dst.verify_count:
        # exact only for a table this run created and filled whole: an existing one may hold other items
        count_check = CountCheck(target, dst.table, plan.total, plan.partitions, exact=created and not plan.skipped)
    status = report(results, source_info, src.table, dst.table, seconds, skipped=plan.skipped,
                    rejected_file=rejected_file, verify=partial(count_check.shortfall, sc) if count_check else None)
    if writer is not None:
        for result in results:
            if result.written == result.scanned:
                for segment in result.segments:
                    writer.segment_done(segment)  # also those whose report did not reach the driver
        writer.save("final")  # after the verdict; SavepointError makes the exit status 1
    return status


def _run_job(sc, config: MigratorConfig, plan: SegmentPlan, settings: TransferSettings,
             writer: SavepointWriter | None) -> list[TaskResult]:
    """Run the Spark job; with a writer, record progress as tasks report it and write savepoints on the way."""

    def on_stop(why: str) -> None:
        logger.warning("stopping the job: %s", why)
        if writer is not None:
            writer.save("signal", why)
            logger.warning("%s", _resume_hint(writer))

    with contextlib.ExitStack() as stack:
        budgets = settings.read_units_per_second > 0 or settings.write_units_per_second > 0
        if writer is not None or budgets:
            on_done = writer.segment_done if writer is not None else None
            server = stack.enter_context(progress_server(sc, plan.total, on_done))
            settings = dataclasses.replace(settings, progress=server.address if writer is not None else None,
                                           shares=server.address if budgets else None)
            if budgets:
                stack.callback(log_peak, server)
        if writer is not None:
            writer.start(config.savepoints.interval_seconds)
            stack.callback(writer.stop)
        stop = stack.enter_context(StopOnSignals(sc, on_stop, jvm_hook=writer is not None))
        try:
            results = (
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


def _resume_hint(writer: SavepointWriter | None) -> str:
    if writer is None:
        return "no savepoints configured, so the next run starts over (puts are idempotent); set savepoints: to resume"
    if writer.last_path is None:
        return "no savepoint written"
    done = len(writer.done)
    local = isinstance(writer.last_path, Path)  # spark-submit's config must be a local file
    alone = f", or ./submit.sh {writer.last_path}" if local and not secret_paths(writer.raw) else ""
    return (f"savepoint {writer.last_path} holds {done} of {writer.total_segments} segments done; resume with "
            f"./submit.sh YOUR_CONFIG --resume {writer.store.location}{alone}")


def _transfer_partition(settings: TransferSettings, segments):
    """Runs on an executor: one Spark partition = one task = one tuple of segments."""
    from pyspark import TaskContext

    logs.setup()
    context = TaskContext.get()
    task = context.partitionId() if context is not None else 0
    reporter = ProgressReporter(settings.progress, task) if settings.progress is not None else None
    running = running_tasks(context, settings.shares, task, settings.tasks_at_once)
    try:
        for assigned in segments:
            yield transfer_segments(settings, assigned, task, on_segment_done=reporter, running_tasks=running)
    finally:
        if reporter is not None:
            reporter.close()
        running.close()


def report(results: list[TaskResult], source_info, source_table: str, target_table: str, seconds: float, *,
           skipped: int = 0, rejected_file: Path | None = None, verify: Callable[[int], str | None] | None = None
           ) -> int:
    """Log the per-task counts, their sum, the source's count and the verdict; return the exit status.

    `verify(written)` (target.verifyCount) counts the target before the verdict: a reason for FAILED, or None."""
    for r in sorted(results, key=lambda r: r.task):
        logger.info("task %d: %d segments, %d items in %.1f s%s", r.task, len(r.segments), r.written, r.seconds,
                    f", {r.rejected} refused by the target" if r.rejected else "")
    scanned = sum(r.scanned for r in results)
    written = sum(r.written for r in results)
    rejected = sum(r.rejected for r in results)
    rate = written / seconds if seconds > 0 else 0.0
    logger.info(
        "migrator total: %d tasks transferred %d items from %r to %r in %.1f s (%.0f items/s; tasks' %s)",
        len(results), written, source_table, target_table, seconds, rate,
        cpu_summary(sum(r.cpu_seconds for r in results), written),
    )
    retried = [sum(r.throttled_retries for r in results), sum(r.other_retries for r in results),
               sum(r.unprocessed_resent for r in results)]
    if any(retried):
        logger.info("migrator total: %d throttled requests retried, %d other retries, %d unprocessed items re-sent",
                    *retried)
    if skipped:
        logger.info("migrator source count: %d items scanned in the segments of this run (exact); the %d skipped "
                    "segments were copied by an earlier run", scanned, skipped)
    else:
        logger.info(
            "migrator source count: %d items scanned (exact); DescribeTable ItemCount %d "
            "(approximate: AWS refreshes it about every six hours; some local servers always say 0)",
            scanned, source_info.item_count,
        )
    if written + rejected != scanned:
        logger.error("migrator verdict: FAILED - %d items scanned but %d written", scanned, written)
        return 1
    if rejected:
        logger.error("migrator verdict: FAILED - %d items rejected by the target, written to %s; the other %d of %d "
                     "scanned items were written", rejected, rejected_file, written, scanned)
        return 1
    failure = verify(written) if verify is not None else None
    if failure is not None:
        logger.error("migrator verdict: FAILED - %s", failure)
        return 1
    logger.info("migrator verdict: OK - all %d scanned items were written", scanned)
    return 0
