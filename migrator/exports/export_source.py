"""A DynamoDB export in S3 as a source (`type: dynamodb-s3-export`): its units are the export's data files.

The driver side (`ExportRead`) reads and checks both manifests, builds the target's schema from the config's
`tableDescription` (an export carries none) and deals the data files into Spark tasks, balanced by item count. The
executor side (`ExportSource`, picklable) reads one data file at a time and cuts it into raw items
(data_file.py): a file's MD5 is checked before any of its items is written, so a file is read whole into memory
first (AWS writes data files of a few tens of MB compressed).

Keys. AWS writes full keys in the manifests (`prefix/AWSDynamoDB/ID/data/x.json.gz`); this migrator's own
exports write keys relative to the manifest's directory (`data/x.json.gz`). A key that does not start with the
manifest's directory is taken relative to it. A data file's unit id is its position in manifest-files.json;
savepoints record finished files by key (`skipFiles`), as the manifest writes it.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from migrator import schema
from migrator.config import S3_EXPORT, MigratorConfig, S3ExportSource
from migrator.dynamo.throttle import Budget, RateLimiter, Unlimited
from migrator.errors import ConfigError
from migrator.exports import data_file
from migrator.exports.bucket import ExportBucket, export_bucket
from migrator.exports.manifest import FULL_EXPORT, INCREMENTAL_EXPORT, DataFile, Summary, parse_files, parse_summary
from migrator.progress.live import Expected
from migrator.readers.source import Unit, UnitId, UnitPlan

logger = logging.getLogger("migrator.jobs.migrate")  # the job's lines, as readers/scan_source.py logs them

# exportType -> how its data files are read: (gzip bytes, DataFile, where, page_items) -> pages
READERS = {FULL_EXPORT: data_file.pages, INCREMENTAL_EXPORT: data_file.change_pages}
KEY_TYPES = ("S", "N", "B")
DEFAULT_BILLING = "PAY_PER_REQUEST"


@dataclass(frozen=True)
class ExportFile:
    """Data file `index` (its position in manifest-files.json) of `total`; `key` is the full S3 key."""

    kind: ClassVar[str] = "file"
    index: int
    total: int
    file: DataFile  # as the manifest lists it: key as written, item count, MD5
    key: str
    name: str  # the key within the export's directory, for the log

    @property
    def id(self) -> int:
        return self.index

    @property
    def label(self) -> str:
        return f"file {self.index}/{self.total} ({self.name})"


@dataclass(frozen=True)
class ExportSource:
    """The executor side: the bucket and, for messages, the manifest; the files come with the units."""

    bucket: ExportBucket
    manifest_key: str
    export_type: str = FULL_EXPORT  # picks the reader of its data files (READERS)
    page_items: int = data_file.PAGE_ITEMS
    units_per_second: float = 0.0  # S3 reads cost no capacity: no read budget
    unit_kind: ClassVar[str] = ExportFile.kind
    budget_unit: ClassVar[str] = "RCU"

    @property
    def description(self) -> str:
        return f"source export {self.bucket.where(self.manifest_key)}"

    def open(self, limiter: RateLimiter | Unlimited) -> _FileReader:
        return _FileReader(self, self.bucket.client())


class _FileReader:
    """An ExportSource opened inside a task: one S3 client for all its files."""

    def __init__(self, source: ExportSource, client) -> None:
        self.source = source
        self.client = client
        self.other_retries = 0
        self.filtered_out = 0  # an export has no server to filter it (config.parse refuses a filter)

    def pages(self, unit: ExportFile) -> Iterator[list]:
        """The file's items, page by page; the file is fetched when the first page is asked for."""
        bucket = self.source.bucket
        data = bucket.read(unit.key, self.client, retried=self._retried)
        yield from READERS[self.source.export_type](data, unit.file, bucket.where(unit.key), self.source.page_items)

    def _retried(self, requests: int) -> None:
        self.other_retries += requests

    @property
    def retried(self) -> tuple[int, int, int]:
        return 0, self.other_retries, 0

    def __enter__(self) -> _FileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()


@dataclass(frozen=True)
class FilePlan(UnitPlan):
    """A UnitPlan whose partitions are dealt by item count (`groups`), not round-robin."""

    groups: tuple[tuple[Unit, ...], ...] = ()

    def assignments(self) -> list[tuple[Unit, ...]]:
        return list(self.groups)


class ExportRead:
    """The driver side: read and check the manifests, describe the target's table, plan the data files."""

    def __init__(self, settings: S3ExportSource, config: MigratorConfig) -> None:
        self.settings = settings
        self.skip_files = config.skip_files  # the data files an earlier run copied, by key
        self.bucket = export_bucket(settings)
        self.database = self.bucket.database
        self.summary: Summary | None = None
        self.files: tuple[ExportFile, ...] = ()

    @property
    def label(self) -> str:
        return self.bucket.where(self.settings.manifest_key)

    @property
    def title(self) -> str:
        return f"{S3_EXPORT} {self.label}"

    def announce(self) -> None:
        db = self.database
        logger.info("source: %s %s at %s (region %s)", S3_EXPORT, self.label, db.endpoint_url or "AWS S3", db.region)

    def describe(self) -> schema.TableInfo:
        """Both manifests read and checked (TransferError naming the file), and the table the export fills, from
        source.tableDescription (ConfigError naming the key)."""
        description = table_description(self.settings.table_description)
        key = self.settings.manifest_key
        with contextlib.closing(self.bucket.client()) as client:
            summary = parse_summary(self.bucket.read(key, client), self.label)
            files_key = resolve_key(key, summary.manifest_files_key)
            listed = parse_files(self.bucket.read(files_key, client), self.bucket.where(files_key), summary)
        self.summary = summary
        self.files = tuple(ExportFile(i, len(listed), f, resolve_key(key, f.key), _within(key, f.key))
                           for i, f in enumerate(listed))
        logger.info("found DynamoDB S3 export %s: %d items in %d data files (%s)", self.label, summary.item_count,
                    len(listed), summary.export_type)
        return table_info(description, summary.item_count, key)

    def plan(self, default_parallelism: int) -> FilePlan:
        """The data files of this run, those in skipFiles left out, dealt into at most `default_parallelism`
        tasks by item count; logged as the scan's plan is."""
        done = self._done()
        units = [f for f in self.files if f.index not in done]
        groups = deal(units, default_parallelism)
        total = len(self.files)
        if done:
            logger.info("skipping %d of %d data files already done (skipFiles); %d remain", len(done), total,
                        len(units))
        if units:
            logger.info("reading %d of %d data files (%d items; %d skipped) in %d Spark tasks", len(units), total,
                        sum(u.file.item_count for u in units), len(done), len(groups))
        return FilePlan(kind=ExportFile.kind, total=total, units=tuple(units), done=frozenset(done),
                        partitions=max(1, len(groups)), unit_id=self._unit_id, record=self.record, groups=groups)

    def expected(self, plan: UnitPlan) -> Expected:
        """What this run should read, for the progress lines: the manifest's item counts of the files to copy."""
        return Expected(sum(u.file.item_count for u in plan.units), "the export's manifest")

    def record(self, done: frozenset[UnitId]) -> dict:
        """What a savepoint writes for the files done: their keys as the manifest lists them."""
        return {"skipFiles": [f.file.key for f in self.files if f.index in done]}

    def budget(self, concurrent: int) -> Budget:
        return Budget(0.0, concurrent, "S3 reads cost no capacity units")

    def source(self, budget: Budget) -> ExportSource:
        return ExportSource(self.bucket, self.settings.manifest_key, self.summary.export_type)

    def count_line(self, scanned: int, skipped: int) -> str:
        """The source's count for the total lines: the items read against the manifest's."""
        total, count = len(self.files), self.summary.item_count
        if self.summary.export_type == INCREMENTAL_EXPORT:  # a file's changes collapse to one per key
            return (f"{scanned} changes applied (the newest of each key) from {total - skipped} data files"
                    f"{f' ({skipped} skipped, applied by an earlier run)' if skipped else ''}; the manifest lists "
                    f"{count} changes in all, each file's count checked (exact)")
        if skipped:
            return (f"{scanned} items read from the {total - skipped} data files of this run (exact); the {skipped} "
                    f"skipped files were copied by an earlier run; the manifest says {count} in all")
        return f"{scanned} items read from {total} data files (exact); the manifest says {count}"

    def _done(self) -> set[int]:
        """The positions of the files in skipFiles, given as the manifest lists them or as full keys."""
        positions = {f.file.key: f.index for f in self.files} | {f.key: f.index for f in self.files}
        unknown = sorted(k for k in self.skip_files if k not in positions)
        if unknown:
            raise ConfigError(f"skipFiles: {unknown[0]!r}{f' and {len(unknown) - 1} more' if len(unknown) > 1 else ''}"
                              f" not a data file of the export {self.label}; skipFiles belong to the export they "
                              "were recorded with: remove them, or set source.manifestKey to that export")
        return {positions[k] for k in self.skip_files}

    def _unit_id(self, text: str) -> int:
        """The file position a progress line names; ValueError when it is not one, LookupError when out of range."""
        index = int(text)
        if index < 0:
            raise ValueError("file positions and items must not be negative")
        if index >= len(self.files):
            raise LookupError(f"file {index} is not below the export's {len(self.files)} data files")
        return index


def deal(units: list[ExportFile], tasks: int) -> tuple[tuple[ExportFile, ...], ...]:
    """The files dealt into min(files, tasks) groups of about equal item counts: largest first, each to the
    lightest group (a file costs one request even when empty, so it weighs one item more). Each group in
    manifest order."""
    count = min(len(units), max(1, tasks))
    heap = [(0, g) for g in range(count)]
    groups: list[list[ExportFile]] = [[] for _ in range(count)]
    for unit in sorted(units, key=lambda u: (-u.file.item_count, u.index)):
        weight, g = heapq.heappop(heap)
        groups[g].append(unit)
        heapq.heappush(heap, (weight + unit.file.item_count + 1, g))
    return tuple(tuple(sorted(g, key=lambda u: u.index)) for g in groups)


def resolve_key(manifest_key: str, key: str) -> str:
    """`key` as a full S3 key: as it is when it starts with the manifest's directory, else relative to it."""
    directory = _directory(manifest_key)
    return key if key.startswith(directory) else directory + key


def _within(manifest_key: str, key: str) -> str:
    """`key` within the export's directory, for the log."""
    directory = _directory(manifest_key)
    return key[len(directory):] if directory and key.startswith(directory) else key


def _directory(manifest_key: str) -> str:
    head, slash, _ = manifest_key.rpartition("/")
    return head + slash


def table_description(doc: dict) -> dict:
    """source.tableDescription in DynamoDB's API form (KeySchema, AttributeDefinitions, BillingModeSummary,
    ProvisionedThroughput); ConfigError naming the key that is wrong. Attribute definitions of non-key attributes
    are left out: the target is created without indexes, and CreateTable refuses definitions no key uses."""
    at = "source.tableDescription"
    keys = [_entry(e, f"{at}.keySchema[{i}]", ("HASH", "RANGE")) for i, e in enumerate(doc["keySchema"])]
    defined = [_entry(e, f"{at}.attributeDefinitions[{i}]", KEY_TYPES)
               for i, e in enumerate(doc["attributeDefinitions"])]
    if not keys or keys[0][1] != "HASH":
        raise ConfigError(f"{at}.keySchema[0].type: the first key must be the HASH key, got "
                          f"{keys[0][1] if keys else 'no key'}; list {{name: PK, type: HASH}} first")
    if len(keys) > 2 or any(kind != "RANGE" for _, kind in keys[1:]):
        raise ConfigError(f"{at}.keySchema: a HASH key and at most one RANGE key, got "
                          f"{[kind for _, kind in keys]}; list {{name: PK, type: HASH}}, {{name: SK, type: RANGE}}")
    types = {}
    for i, (name, kind) in enumerate(defined):
        if name in types:
            raise ConfigError(f"{at}.attributeDefinitions[{i}].name: {name!r} is defined twice; keep one")
        types[name] = kind
    for i, (name, _) in enumerate(keys):
        if name not in types:
            raise ConfigError(f"{at}.keySchema[{i}].name: key attribute {name!r} is not in attributeDefinitions; add "
                              f"{{name: {name}, type: S|N|B}}")
    if len({name for name, _ in keys}) != len(keys):
        raise ConfigError(f"{at}.keySchema[1].name: the RANGE key is the HASH key {keys[0][0]!r}; name another "
                          "attribute")
    extra = [name for name in types if name not in {n for n, _ in keys}]
    if extra:
        logger.info("%s.attributeDefinitions: %s not key attributes; the target table is created without indexes, "
                    "so they are left out", at, ", ".join(repr(n) for n in extra))
    billing, throughput = _billing(doc, at)
    desc = {"KeySchema": [{"AttributeName": n, "KeyType": k} for n, k in keys],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": types[n]} for n, _ in keys],
            "BillingModeSummary": {"BillingMode": billing}}
    if throughput is not None:
        desc["ProvisionedThroughput"] = throughput
    return desc


def _entry(entry: dict, at: str, types: tuple[str, ...]) -> tuple[str, str]:
    unknown = sorted(set(entry) - {"name", "type"})
    if unknown:
        raise ConfigError(f"{at}: unknown key {unknown[0]!r}; write {{name: NAME, type: {'|'.join(types)}}}")
    name, kind = entry.get("name"), entry.get("type")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{at}.name: must be an attribute name, got {name!r}")
    if kind not in types:
        raise ConfigError(f"{at}.type: must be one of {', '.join(types)}, got {kind!r}")
    return name, kind


def _billing(doc: dict, at: str) -> tuple[str, dict | None]:
    """billingMode (PROVISIONED when only provisionedThroughput is given, else PAY_PER_REQUEST) and the
    throughput in the API's form; PROVISIONED needs positive read and write capacity."""
    given = doc.get("provisionedThroughput")
    mode = doc.get("billingMode") or ("PROVISIONED" if given is not None else DEFAULT_BILLING)
    if given is None:
        if mode == "PROVISIONED":
            raise ConfigError(f"{at}.provisionedThroughput: required with billingMode PROVISIONED; add "
                              "provisionedThroughput: {readCapacityUnits: N, writeCapacityUnits: N}")
        return mode, None
    unknown = sorted(set(given) - {"readCapacityUnits", "writeCapacityUnits"})
    if unknown:
        raise ConfigError(f"{at}.provisionedThroughput: unknown key {unknown[0]!r}; write {{readCapacityUnits: N, "
                          "writeCapacityUnits: N}")
    throughput = {}
    for name in ("readCapacityUnits", "writeCapacityUnits"):
        value = given.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{at}.provisionedThroughput.{name}: must be a positive integer, got {value!r}")
        throughput[name[0].upper() + name[1:]] = value
    return mode, throughput


def table_info(description: dict, item_count: int, manifest_key: str) -> schema.TableInfo:
    """The TableInfo a table source would give: the description, the manifest's item count, no size."""
    name = f"export {manifest_key}"
    desc = {"TableName": name, **description, "ItemCount": item_count, "TableSizeBytes": 0}
    return schema.TableInfo(name=name, key_schema=tuple((k["AttributeName"], k["KeyType"])
                                                        for k in description["KeySchema"]),
                            item_count=item_count, size_bytes=0,
                            billing_mode=description["BillingModeSummary"]["BillingMode"], description=desc)
