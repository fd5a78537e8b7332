"""The validator as a Spark job: a source pass and a target pass over segments, then counts, examples, verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

from migrator import logs, schema
from migrator.dynamo.database import database_for
from migrator.config import DynamoSource, DynamoTable, MigratorConfig, Validation
from migrator.errors import ConfigError, SchemaError
from migrator.jobs.shares import log_budgets, log_peak, progress_server, running_tasks
from migrator.validation.sampling import SampleLimit, SamplePlan, plan_sample
from migrator.readers.segments import SegmentPlan, plan_segments
from migrator.transforms import ttl
from migrator.transforms.renames import announce_renames, renamed_table
from migrator.dynamo.throttle import job_budget, lookup_limit, scan_limit, smallest
from migrator.validation.passes import PassResult, ValidationSettings, check_source_segments, check_target_segments
from migrator.validation.report import default_report_path, report
from migrator.transforms.filters import ScanFilter, probe

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 25
# Keys scylla-migrator requires or accepts that mean nothing for DynamoDB tables.
NOT_FOR_DYNAMODB = ("compareTimestamps", "ttlToleranceMillis", "writetimeToleranceMillis", "timestampMsTolerance",
                    "repairWritetimeStrategy", "hashColumns", "numericTypePolicy")


def refuse_non_tables(config: MigratorConfig) -> None:
    """The validator compares two tables: an S3 export on either side is a ConfigError (checked before Spark
    starts)."""
    for side in ("source", "target"):
        settings = getattr(config, side)
        if not isinstance(settings, DynamoTable):
            raise ConfigError(f"{side}.type: --validate compares two tables, got {settings.type} {settings.label!r}; "
                              f"validate the table the export came from or went to, with {side}.type: dynamodb or "
                              "alternator")


def run(spark, config: MigratorConfig, *, sample_size: int | None = None, report_path: str | None = None) -> int:
    """Compare the source table with the target; 0 when they hold the same items, 1 when anything differs."""
    options = config.validation or Validation()
    sample_size = sample_size or options.sample_size
    path = _report_path(report_path, options.report_path)
    _log_unused_keys(config)
    src, dst = config.source, config.target
    refuse_non_tables(config)
    source = database_for("source", src)
    target = database_for("target", dst)
    logger.info("source: %s table %r at %s (region %s)", src.type, src.table, source.name, source.region)
    logger.info("target: %s table %r at %s (region %s)", dst.type, dst.table, target.name, target.region)
    source_info = _describe(source, src.table, "source")
    target_info = _describe(target, dst.table, "target")
    renames = config.rename_pairs
    announce_renames(source_info, renames, "source items are compared under the new names, target keys looked up "
                                           "on the source under the old ones")
    schema.check_same_key_schema(renamed_table(source_info, renames), target_info)  # the target has the new names
    ttl_attribute = _source_ttl(source, src)

    settings = ValidationSettings(
        source=source, source_table=src.table, target=target, target_table=dst.table,
        key_names=source_info.key_names, tolerance=str(Decimal(repr(options.floating_point_tolerance))),
        examples_per_task=options.failures_to_fetch, copy_missing=options.copy_missing_rows,
        copy_differing=options.copy_differing_rows, delete_extra=options.delete_extra_rows,
        renames=renames, ttl_attribute=ttl_attribute,
        scan_filter=ScanFilter.of(src),
        batch_size=dst.max_items_per_batch or DEFAULT_BATCH_SIZE,
    )
    _check_filter(settings)
    sc = spark.sparkContext
    context = {
        "source": {"type": src.type, "table": src.table, "endpoint": source.name},
        "target": {"type": dst.type, "table": dst.table, "endpoint": target.name},
        "floatingPointTolerance": settings.tolerance,
        "repair": {"copyMissingRows": settings.copy_missing, "copyDifferingRows": settings.copy_differing,
                   "deleteExtraRows": settings.delete_extra},
        "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if settings.scan_filter is not None:
        context["filter"] = {"filterExpression": settings.scan_filter.expression,
                             "expressionAttributeNames": dict(settings.scan_filter.names),
                             "expressionAttributeValues": dict(settings.scan_filter.values)}
    plans = _plans(sc, config, source_info, target_info, sample_size)
    if plans.sample is not None:
        context["sample"] = plans.sample
    if config.skip_segments:
        logger.info("skipSegments: ignored by the validator, which reads every segment")
    repairs = ", ".join(name for name, on in context["repair"].items() if on)
    logger.info("validating (%s) with floatingPointTolerance %s, up to %d examples%s; report to %s", plans.mode,
                settings.tolerance, options.failures_to_fetch, f", repairing: {repairs}" if repairs else "", path)
    settings = _with_budgets(settings, config, sc, plans, source_info, target_info)

    started = time.monotonic()
    tables = {"source": f"{src.type} table {src.table!r}", "target": f"{dst.type} table {dst.table!r}"}
    results: list[PassResult] = []
    for number, (side, plan, check, action) in enumerate((
        ("source", plans.source, check_source_segments, f"looked up on {tables['target']}"),
        ("target", plans.target, check_target_segments, f"checked to exist on {tables['source']}"),
    ), 1):
        logger.info("%s pass: %d of %d segments in %d Spark tasks", side, len(plan.segments), plan.total,
                    plan.partitions)
        sc.setJobDescription(f"validate ({plans.mode}) pass {number}/2: items of {tables[side]} {action}: "
                             f"{len(plan.segments)} of {plan.total} segments in {plan.partitions} tasks")
        with _shares(sc, settings) as shared:
            results += (
                sc.parallelize(plan.assignments(), plan.partitions)
                .mapPartitions(partial(_check_partition, check, shared, plan.total, plans.limit))
                .collect()
            )
    return report(results, context=context, failures_to_fetch=options.failures_to_fetch, report_path=path,
                  seconds=time.monotonic() - started, sample=plans.limit is not None)


@dataclass(frozen=True)
class _Plans:
    mode: str  # "full" or "sample of N", for logs and the Spark UI
    source: SegmentPlan
    target: SegmentPlan
    limit: SampleLimit | None  # None: read whole segments
    sample: dict | None  # the sample's parameters, for the report


def _plans(sc, config: MigratorConfig, source_info, target_info, sample_size: int | None) -> _Plans:
    """Full: every segment of each table, split as the migration splits the source. Sample: random segments."""
    src = config.source
    if not sample_size:
        source, target = (plan_segments(scan_segments=src.scan_segments, table_size_bytes=info.size_bytes,
                                        default_parallelism=sc.defaultParallelism, max_map_tasks=src.max_map_tasks)
                          for info in (source_info, target_info))
        return _Plans("full", source, target, None, None)
    # The target often reports no count yet (new table, or Alternator): the larger count is the better guess.
    estimated = max(source_info.item_count, target_info.item_count)
    max_tasks = src.max_map_tasks or sc.defaultParallelism
    rng = random.Random()
    sample = plan_sample(sample_size, estimated, max_tasks, rng)
    target = plan_sample(sample_size, estimated, max_tasks, rng).segments  # other random segments
    _log_sample(sample)
    parameters = {"size": sample_size, "estimatedItems": estimated, "totalSegments": sample.segments.total,
                  "candidateSegments": len(sample.segments.segments), "itemsPerSegment": sample.limit.per_segment,
                  "itemsPerTask": sample.limit.per_task}
    return _Plans(f"sample of {sample_size}", sample.segments, target, sample.limit, parameters)


def _describe(connection, table: str, side: str) -> schema.TableInfo:
    info = schema.describe(connection.boto3_client(), table, side)
    if info is None:
        raise SchemaError(f"{side} table {table!r} does not exist at {connection.name}; check {side}.table and "
                          f"{side}.endpoint")
    return info


def _source_ttl(connection, src: DynamoSource) -> str | None:
    """The source's TTL attribute when its expired items are left unchecked, as the copy skips them
    (source.skipExpiredItems, default true); without that key, every item is checked and TTL is not read."""
    if not src.skip_expired_items:
        return None
    return ttl.source_attribute(connection.boto3_client(), src.table, connection.name, True, validating=True)


def _with_budgets(settings: ValidationSettings, config: MigratorConfig, sc, plans: _Plans, source_info,
                  target_info) -> ValidationSettings:
    """The budgets, as the migration sets them: each table is read within a read budget computed by the same rule
    (source.readThroughput when set, else that table's provisioned RCU, 40000 if on-demand; times
    throughputReadPercent), and repairs write within the target's write budget."""
    src, dst = config.source, config.target
    concurrent = min(max(plans.source.partitions, plans.target.partitions), sc.defaultParallelism)
    source_read, target_read = (
        job_budget(src.read_throughput, src.throughput_read_percent, info.capacity("ReadCapacityUnits"),
                   info.billing_mode, concurrent, "source.readThroughput")
        for info in (source_info, target_info))
    write = job_budget(dst.write_throughput, dst.throughput_write_percent, target_info.capacity("WriteCapacityUnits"),
                       target_info.billing_mode, concurrent, "target.writeThroughput")
    log_budgets((("source read", source_read, "RCU"), ("target read", target_read, "RCU"),
                 ("repair write", write, "WCU")), concurrent)
    return dataclasses.replace(
        settings, source_read_units=source_read.units_per_second, target_read_units=target_read.units_per_second,
        target_write_units=write.units_per_second, tasks_at_once=concurrent,
        # a page is a small bite of the budget of both the table scanned and the table its keys are looked up on
        source_page_limit=smallest(scan_limit(source_read.per_task, source_info.average_item_bytes),
                                   lookup_limit(target_read.per_task)),
        target_page_limit=smallest(scan_limit(target_read.per_task, target_info.average_item_bytes),
                                   lookup_limit(source_read.per_task)))


def _check_filter(settings: ValidationSettings) -> None:
    """source.filterExpression tried on both tables (filters.probe): on the source as written, on the target under
    the target's names and negated, as the passes use it; a filter the servers refuse is a ConfigError."""
    scan_filter = settings.scan_filter
    if scan_filter is None:
        return
    on_target = scan_filter.translated(settings.renames)
    with settings.source.api() as source_api, settings.target.api() as target_api:
        probe(source_api, settings.source_table, scan_filter)
        probe(target_api, settings.target_table, on_target, "the target")
        probe(target_api, settings.target_table, on_target.negated(), "the target")
    logger.info("filter: source items are checked only when they match source.filterExpression %r; target items "
                "that do not match it (as %r under the target's names) are extra", scan_filter.expression,
                on_target.expression)


@contextlib.contextmanager
def _shares(sc, settings: ValidationSettings):
    """Settings whose tasks ask the driver how many tasks run now, for the duration of one pass."""
    if not (settings.source_read_units or settings.target_read_units or settings.target_write_units):
        yield settings
        return
    with progress_server(sc) as server:
        yield dataclasses.replace(settings, shares=server.address)
        log_peak(server)


def _check_partition(check, settings: ValidationSettings, total: int, limit: SampleLimit | None, segments):
    """Runs on an executor: one Spark partition = one task = one tuple of segments."""
    from pyspark import TaskContext

    logs.setup()
    context = TaskContext.get()
    task = context.partitionId() if context is not None else 0
    running = running_tasks(context, settings.shares, task, settings.tasks_at_once, label="validator task")
    try:
        for assigned in segments:
            yield check(settings, assigned, task, total, limit, running_tasks=running)
    finally:
        running.close()


def _log_sample(sample: SamplePlan) -> None:
    if sample.estimated_items == 0:
        logger.warning("both tables report ItemCount 0 (new, not refreshed yet, or a server that does not count "
                       "items): splitting them in %d segments", sample.segments.total)
    what = "all" if sample.covers_everything else f"up to {len(sample.segments.segments)} random"
    count = f"about {sample.estimated_items}" if sample.estimated_items else "unknown"
    logger.info("sample of %d items on each side: %s of %d segments (ItemCount %s); items read: at most %d per "
                "segment, %d per task", sample.size, what, sample.segments.total, count, sample.limit.per_segment,
                sample.limit.per_task)


def _report_path(from_command_line: str | None, from_config: str | None) -> Path:
    """The report's path; its directory must exist now, not only when the report is written at the end."""
    if from_command_line:
        path, origin = Path(from_command_line), "--report"
    elif from_config:
        path, origin = Path(from_config), "validation.reportPath"
    else:
        return default_report_path()
    if path.is_dir():
        raise ConfigError(f"{origin}: {str(path)!r} is a directory; give a file name such as "
                          f"{str(path / 'report.json')!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"{origin}: directory {str(path.parent)!r} does not exist; create it or choose another "
                          "path")
    return path


def _log_unused_keys(config: MigratorConfig) -> None:
    """Nothing is ignored silently: say which validation keys have no effect on DynamoDB tables."""
    present = [key for key in NOT_FOR_DYNAMODB if key in ((config.raw or {}).get("validation") or {})]
    if present:
        logger.info("validation: %s accepted for scylla-migrator configs and ignored: they apply to CQL or MySQL "
                    "tables; DynamoDB numbers always compare as decimals", ", ".join(present))
