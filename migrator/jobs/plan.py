"""`--plan`: what a migration would do and what it would cost, without doing any of it.

The plan describes both sides read-only (DescribeTable, DescribeTimeToLive, an export's manifests, and at most one
Scan page of the source to measure its items when DescribeTable's figures are 0), plans the units exactly as the
copy would (readers/segments.py, exports/export_source.py), and works out the budgets as jobs/migrate.py does.
Nothing is written: no target table, no TTL setting, no stream, no savepoint, no S3 object. Its lines, printed on
stdout, all start with `migrator plan:`.

What the copy consumes, by DynamoDB's pricing rules (dynamo/throttle.py applies the same rules while it runs):
- a Scan reads eventually consistent (readers/scan.py sends no ConsistentRead): 0.5 RCU per started 4 KB of each
  page, so about TableSizeBytes / 4096 x 0.5 RCU for the whole table;
- a put costs 1 WCU per started KB of each item: ItemCount x ceil(average item size / 1 KB) WCU, an estimate from
  the average size (TableSizeBytes / ItemCount), since items of uneven sizes round up each on its own.
The duration is the larger of the reading and the writing time at the budgets; the servers may be slower.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from migrator import schema
from migrator.config import DynamoTarget, MigratorConfig
from migrator.dynamo import throttle
from migrator.dynamo.throttle import Budget
from migrator.errors import SchemaError
from migrator.exports.export_source import ExportRead
from migrator.jobs.migrate import choose
from migrator.progress.live import duration
from migrator.readers.scan import scan_answers
from migrator.readers.segments import BYTES_PER_SEGMENT, segment_ranges
from migrator.readers.source import UnitPlan
from migrator.transforms import for_job, renamed_table
from migrator.transforms.ttl import TtlUnreadable, describe as describe_ttl

logger = logging.getLogger(__name__)

PREFIX = "migrator plan: "
SAMPLE_ITEMS = 100  # items of the one Scan page read when DescribeTable does not give the table's size
PER_MILLION = 1_000_000


def scan_read_units(table_bytes: int) -> float:
    """RCU of scanning `table_bytes` with eventually consistent reads: 0.5 per started 4 KB (the rule the read
    budget charges each Scan page by), none for an empty table."""
    return throttle.read_units(table_bytes) if table_bytes > 0 else 0.0


def copy_write_units(items: int, average_item_bytes: float) -> int:
    """WCU of putting `items` items of `average_item_bytes` each: 1 per started KB of each item, at least 1 (the
    rule the write budget charges each put by)."""
    return items * throttle.write_units(average_item_bytes)


def seconds_at(units: float, per_second: float) -> float | None:
    """Seconds to spend `units` at `per_second`; None without a budget (no limit: the servers set the pace)."""
    return units / per_second if per_second > 0 else None


def show_bytes(n: float) -> str:
    """`512 B`, `1.5 KB`, `3.2 GB` (powers of 1024, as DynamoDB's KB)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def show_seconds(seconds: float) -> str:
    """`7.6 s`, `42 s`, `12 min 5 s`, `3 h 20 min`: the progress lines' durations, with a tenth under 10 s."""
    return f"{seconds:.1f} s" if seconds < 10 else duration(seconds)


@dataclass(frozen=True)
class Sizes:
    """The source's item count and bytes, as far as they are known, and where they come from."""

    items: int | None
    table_bytes: int | None
    average_item_bytes: float | None
    origin: str


def table_sizes(info: schema.TableInfo, sample: tuple[int, int, bool] | None) -> Sizes:
    """The sizes from DescribeTable, completed by `sample` (items, bytes of their DynamoDB JSON, whether the page
    held the whole table) where DescribeTable says 0: AWS refreshes both figures about every six hours, moto
    gives no size, Alternator no count, dynalite neither."""
    count, size = info.item_count, info.size_bytes
    if count > 0 and size > 0:
        return Sizes(count, size, size / count, "DescribeTable's ItemCount and TableSizeBytes (AWS refreshes them "
                                                "about every six hours)")
    if sample is None:
        return Sizes(count or None, size or None, None, "DescribeTable (no sample read)")
    items, sampled_bytes, whole = sample
    if whole:
        return Sizes(items, sampled_bytes, sampled_bytes / items if items else None,
                     f"one Scan page that held the whole table ({items} items; DescribeTable says {count} items, "
                     f"{size} bytes); its DynamoDB JSON overstates the stored size a little")
    average = sampled_bytes / items if items else None
    note = (f"average item size from a sample of {items} items' DynamoDB JSON (overstates the stored size a "
            "little)")
    if count > 0 and average:
        return Sizes(count, round(count * average), average, f"DescribeTable's ItemCount; {note}")
    if size > 0 and average:
        return Sizes(round(size / average), size, average, f"DescribeTable's TableSizeBytes; {note}")
    return Sizes(None, None, average, f"DescribeTable says {count} items and {size} bytes; {note}")


def sample_page(database, table: str) -> tuple[int, int, bool]:
    """One Scan page of at most SAMPLE_ITEMS items: (items, bytes of their DynamoDB JSON, whether it held the
    whole table). It costs a few RCU, like the filter's probe."""
    with database.api() as api:
        answers = scan_answers(api, table, 0, 1, limit=SAMPLE_ITEMS, raw=True)
        try:
            page = next(answers)
        finally:
            answers.close()
    return len(page.items), sum(len(item) for item in page.items), not page.last_key


def run(spark, config: MigratorConfig) -> int:
    """Describe, plan and estimate; print the plan. 0: the plan was made (a target that would refuse the copy is
    said, not an error: the plan is the place to find it out)."""
    sc = spark.sparkContext
    source, sink = choose(config)
    source.announce()
    sink.announce()
    info = source.describe()
    transform = for_job(config, info)
    target_info = renamed_table(info, transform.renames)
    units = source.plan(sc.defaultParallelism)
    lines = [f"source: {source.title}", *_source_lines(config, source, info)]
    lines += [f"target: {sink.title}", *_target_lines(config, sink, target_info)]
    concurrent = min(units.partitions, sc.defaultParallelism)
    lines += _unit_lines(config, source, units, sc.defaultParallelism, concurrent)
    read, write = source.budget(concurrent), sink.budget(concurrent)
    lines += [_budget_line("read", read, "RCU"), _budget_line("write", write, "WCU")]
    sample = None
    if not isinstance(source, ExportRead) and (info.item_count <= 0 or info.size_bytes <= 0):
        sample = sample_page(source.database, config.source.table)
    lines += _cost_lines(source, sink, info, sample, read, write)
    if config.savepoints is not None:
        lines.append(f"savepoints: every {config.savepoints.interval_seconds} s to {config.savepoints.path} (not "
                     "checked: the check writes a test file)")
    lines.append("nothing was written: no table created, no TTL set, no stream enabled, no savepoint, no S3 object")
    print("\n".join(PREFIX + line for line in lines), flush=True)
    return 0


def _keys(desc: dict) -> str:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    return ", ".join(f"{k['AttributeName']} {k['KeyType']} {types.get(k['AttributeName'], '?')}"
                     for k in desc.get("KeySchema", []))


def _indexes(desc: dict) -> str:
    found = [f"{kind} {index['IndexName']!r} ({_keys({**desc, 'KeySchema': index['KeySchema']})})"
             for kind, key in (("GSI", "GlobalSecondaryIndexes"), ("LSI", "LocalSecondaryIndexes"))
             for index in desc.get(key, [])]
    return "; ".join(found) if found else "none"


def _billing(info: schema.TableInfo) -> str:
    if info.billing_mode != "PROVISIONED":
        return f"{info.billing_mode} (on-demand)"
    return (f"PROVISIONED, {info.capacity('ReadCapacityUnits')} RCU and {info.capacity('WriteCapacityUnits')} WCU "
            "per second")


def _source_lines(config: MigratorConfig, source, info: schema.TableInfo) -> list[str]:
    desc = info.description
    lines = [f"  keys: {_keys(desc)}; indexes: {_indexes(desc)}", f"  billing: {_billing(info)}"]
    if isinstance(source, ExportRead):
        summary = source.summary
        return lines + [f"  export: {summary.export_type}, {summary.item_count} items in {len(source.files)} data "
                        "files (the manifest's counts, exact)"]
    lines.append(f"  DescribeTable: ItemCount {info.item_count}, TableSizeBytes {info.size_bytes} "
                 f"({show_bytes(info.size_bytes)}); approximate: AWS refreshes them about every six hours")
    ttl = f"enabled on {info.ttl_attribute!r}" if info.ttl_attribute else "not enabled"
    skip = getattr(config.source, "skip_expired_items", False)
    lines.append(f"  TTL: {ttl}" + (f"; expired items {'are skipped' if skip else 'are copied'}"
                                    if info.ttl_attribute else ""))
    spec = desc.get("StreamSpecification") or {}
    stream = f"enabled ({spec.get('StreamViewType')})" if spec.get("StreamEnabled") else "not enabled"
    dst = config.target
    if isinstance(dst, DynamoTarget) and dst.stream_changes:
        use = ("it is replayed after the copy" if spec.get("StreamEnabled")
               else "the copy would enable a NEW_IMAGE stream before it starts")
        stream += f"; target.streamChanges: {use}"
        if dst.skip_initial_snapshot_transfer:
            stream += " (target.skipInitialSnapshotTransfer: no snapshot copy, the stream's changes only)"
    return lines + [f"  stream: {stream}"]


def _target_lines(config: MigratorConfig, sink, wanted: schema.TableInfo) -> list[str]:
    """The target as it is, or as the copy would create it; sets `sink.info` (the budget reads it)."""
    dst = config.target
    if not isinstance(dst, DynamoTarget):  # an S3 export target
        state = "empty" if sink.output.is_empty() else "NOT EMPTY: the copy would refuse it (target.path)"
        return [f"  output: {sink.output.location}: {state}"]
    client = sink.database.boto3_client()
    existing = schema.describe(client, dst.table, "target")
    renames = f" (the source's under source.renames: {dict(wanted.renames)})" if wanted.renames else ""
    if existing is None:
        request = schema.create_request(wanted, dst.table, dst.billing_mode)
        sink.info = schema.TableInfo(dst.table, wanted.key_schema, 0, 0, request["BillingMode"], request)
        ttl = f"; TTL would be enabled on {wanted.ttl_attribute!r}" if wanted.ttl_attribute else ""
        return [f"  does not exist; the copy would create it{renames}: keys {_keys(request)}; indexes: "
                f"{_indexes(request)}; billing: {_billing(sink.info)}{ttl}"]
    sink.info = existing
    try:
        schema.check_same_key_schema(wanted, existing)
        keys = f"exists, key schema matches{renames}: {_keys(existing.description)}"
    except SchemaError as exc:
        keys = f"exists, key schema DIFFERS: the copy would stop before writing: {exc}"
    lines = [f"  {keys}", f"  indexes: {_indexes(existing.description)}; billing: {_billing(existing)}"]
    if wanted.ttl_attribute:
        try:
            setting = describe_ttl(client, dst.table).text
        except TtlUnreadable as exc:
            setting = f"unreadable ({exc})"
        lines.append(f"  TTL: {setting}; the source expires items by {wanted.ttl_attribute!r} (left as it is: the "
                     "copy never changes a table it did not create)")
    return lines


def _unit_lines(config: MigratorConfig, source, plan: UnitPlan, parallelism: int, concurrent: int) -> list[str]:
    kind = plan.kind
    if isinstance(source, ExportRead):
        why = f"{plan.total} data files listed in the manifest"
    elif getattr(config.source, "scan_segments", None) is not None:
        why = f"{plan.total} segments from source.scanSegments"
    else:
        why = (f"{plan.total} segments derived: one per {show_bytes(BYTES_PER_SEGMENT)} of TableSizeBytes "
               f"({show_bytes(source.info.size_bytes)}), at least Spark's parallelism {parallelism} "
               "(set source.scanSegments to choose)")
    lines = [f"{kind}s: {why}"]
    if plan.done:
        done = segment_ranges(plan.done) if kind == "segment" else f"{plan.skipped} files in skipFiles"
        lines.append(f"  skipped, done by an earlier run: {plan.skipped} {kind}s {done}; {len(plan.units)} remain")
    groups = plan.assignments() if plan.units else []
    sizes = sorted({len(g) for g in groups}) or [0]
    per_task = f"{sizes[0]}-{sizes[-1]}" if len(sizes) > 1 else str(sizes[0])
    cap = getattr(config.source, "max_map_tasks", None)
    capped = f"source.maxMapTasks {cap}" if cap else "source.maxMapTasks not set: one task per unit at most"
    lines.append(f"tasks: {len(groups)} Spark tasks ({capped}), {per_task} {kind}{'' if per_task == '1' else 's'} "
                 f"each, {concurrent} at once "
                 f"(Spark's parallelism {parallelism})")
    for task, group in enumerate(groups[:20]):
        items = f", {sum(u.file.item_count for u in group)} items" if kind == "file" else ""
        lines.append(f"  task {task}: {kind}s [{', '.join(str(u.id) for u in group)}]{items}")
    if len(groups) > 20:
        lines.append(f"  ... {len(groups) - 20} more tasks")
    return lines


def _budget_line(what: str, budget: Budget, unit: str) -> str:
    if budget.units_per_second <= 0:
        return f"{what} budget: none ({budget.origin}): no limit, the servers set the pace"
    return (f"{what} budget: {budget.units_per_second:.0f} {unit}/s ({budget.origin}), {budget.per_task:.1f} "
            f"{unit}/s per task at {budget.concurrent_tasks} at once")


def _cost_lines(source, sink, info: schema.TableInfo, sample, read: Budget, write: Budget) -> list[str]:
    """The read and write units the copy consumes and how long it takes at the budgets, as far as known."""
    if isinstance(source, ExportRead):
        items = source.summary.item_count
        write_units, write_text = items, f"at least {items} WCU (1 per item; items over 1 KB cost 1 per started KB)"
        read_units, read_text = 0.0, "none: S3 reads cost no capacity units"
        origin = "the export's manifest (item count exact; no item sizes)"
    else:
        sizes = table_sizes(info, sample)
        origin = sizes.origin
        if sizes.table_bytes is None or sizes.items is None:
            return _unknown_lines(sizes, read, write)
        read_units = scan_read_units(sizes.table_bytes)
        read_text = (f"about {read_units:.0f} RCU ({show_bytes(sizes.table_bytes)} / 4 KB x 0.5: Scans are "
                     "eventually consistent)")
        average = sizes.average_item_bytes or 0
        write_units = copy_write_units(sizes.items, average)
        write_text = (f"about {write_units} WCU ({sizes.items} items x {copy_write_units(1, average)} WCU: items of "
                      f"{show_bytes(average)} on average, 1 WCU per started KB each; an estimate from the average "
                      "size)")
    if getattr(sink, "database", None) is None:
        write_units, write_text = 0, "none: an S3 export is written without capacity units"
    elif sink.database.kind == "alternator":
        write_text += ("; Alternator counts no capacity units: DynamoDB would charge this, here the budget only paces "
                       "the writes")
    lines = [f"size: {origin}", f"read: {read_text}", f"write: {write_text}"]
    return lines + [_duration_line(read_units, read, write_units, write)]


def _duration_line(read_units: float, read: Budget, write_units: float, write: Budget) -> str:
    times = {"reading": seconds_at(read_units, read.units_per_second),
             "writing": seconds_at(write_units, write.units_per_second)}
    parts = [f"{what} {show_seconds(s)}" for what, s in times.items() if s is not None]
    limited = [s for s in times.values() if s is not None]
    unlimited = [what for what, s in times.items() if s is None and (read_units if what == "reading" else
                                                                      write_units)]
    if not limited:
        return "duration: no budget limits it: it depends on the servers and the tasks"
    text = f"duration: at least {show_seconds(max(limited))} at these budgets ({', '.join(parts)}; they overlap)"
    if unlimited:
        text += f"; {' and '.join(unlimited)} has no budget: the servers set its pace"
    return text + "; the servers may be slower than the budgets allow"


def _unknown_lines(sizes: Sizes, read: Budget, write: Budget) -> list[str]:
    """No size to estimate from: say so, and give the figures per million items where the item size is known."""
    lines = [f"size: unknown: {sizes.origin}",
             "read, write, duration: unknown without the table's size; AWS fills in ItemCount and TableSizeBytes "
             "about every six hours (aws dynamodb describe-table), or copy a sample with source.filterExpression "
             "and read its total line"]
    if sizes.average_item_bytes:
        reads = scan_read_units(round(PER_MILLION * sizes.average_item_bytes))
        writes = copy_write_units(PER_MILLION, sizes.average_item_bytes)
        lines.append(f"per million items of {show_bytes(sizes.average_item_bytes)}: about {reads:.0f} RCU and "
                     f"{writes} WCU; {_duration_line(reads, read, writes, write)}")
    return lines
