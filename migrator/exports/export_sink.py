"""A DynamoDB S3 export as a sink (`target.type: dynamodb-s3-export`): the layout DynamoDB's Export to S3 writes.

    data/<unit>-<attempt>-<part>.json.gz   gzip of DynamoDB JSON lines {"Item":{...}}, one or more per unit
    manifest-files.json                    one line per data file: itemCount, md5Checksum, dataFileS3Key
    manifest-summary.json                  itemCount, manifestFilesS3Key, outputFormat DYNAMODB_JSON, written last

Each task writes its units' items as they were scanned (the raw fragments, never decoded) into gzip files, rolled
at PART_BYTES, each streamed through a temporary file with its MD5 and item count taken as it is written. When a
unit's last page is flushed, its files are made whole at their place and a small record of them is written under
manifest-parts/ (outside data/, where ImportTable reads). Data file names carry a token of the task attempt, so a
retried or resumed unit never overwrites what another attempt listed; once every unit is done, the driver
(`ExportWrite.finish`) gathers the records into the manifests, removes the data files no record lists (those of
killed attempts) and then the records. Keys in the manifests are relative to target.path (`data/...`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from migrator import schema
from migrator.config import S3ExportTarget
from migrator.dynamo.throttle import Budget, RateLimiter, Unlimited
from migrator.errors import ConfigError, TransferError
from migrator.exports.manifest import DataFile, file_line, file_lines, parse_files, parse_summary, summary_document
from migrator.exports.output import ExportOutput

logger = logging.getLogger("migrator.jobs.migrate")  # the job's lines: target, and the export written

DATA = "data/"
RECORDS = "manifest-parts/"
FILES_KEY = "manifest-files.json"
SUMMARY_KEY = "manifest-summary.json"
PART_BYTES = 32 * 1024 * 1024  # compressed bytes after which a unit's data file is closed and the next begun
LEVEL = 1  # zlib's fastest: about 8 us per 640-byte item, 4.5x smaller; level 6 costs twice that for 5.7x
PAGES_AHEAD = 2  # pages handed to the compressing thread and not yet written: what the writer holds in memory
DRIVER_THREADS = 16  # the driver reads records and deletes stray files this many at a time
GZIP = 16 + zlib.MAX_WBITS  # zlib's wbits for a gzip member


def record_key(unit_id: int) -> str:
    return f"{RECORDS}{unit_id:05d}.json"


@dataclass(frozen=True)
class ExportSink:
    """The executor side: where a task writes its units' data files and records."""

    output: ExportOutput
    part_bytes: int = PART_BYTES
    level: int = LEVEL
    units_per_second: ClassVar[float] = 0.0  # nothing to budget: the export writes no table
    budget_unit: ClassVar[str] = "WCU"

    @property
    def description(self) -> str:
        return f"target export {self.output.location}"

    def open(self, limiter: RateLimiter | Unlimited, on_refused: Callable | None = None) -> _ExportWrites:
        return _ExportWrites(self)


class _Part:
    """One data file being written: gzip output streamed to a scratch file, its MD5 and size taken on the way."""

    def __init__(self, output: ExportOutput, key: str, level: int) -> None:
        self.output, self.key = output, key
        self.scratch = output.scratch(key)
        self.deflate = zlib.compressobj(level, zlib.DEFLATED, GZIP)
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = self.items = 0
        try:
            self.file = open(self.scratch, "wb")  # noqa: SIM115 - closed by finish or abandon
        except OSError as exc:
            raise TransferError(f"{output.where(key)}: cannot write its scratch file {self.scratch}: "
                                f"{exc.strerror or exc}") from None

    def write(self, lines: bytes, items: int) -> None:
        self._out(self.deflate.compress(lines))
        self.items += items

    def finish(self) -> DataFile:
        """Close the gzip stream and put the file at its key, whole."""
        self._out(self.deflate.flush())
        self.file.close()
        self.output.move_file(self.key, self.scratch)
        return DataFile(self.key, self.items, self.md5.digest())

    def abandon(self) -> None:
        self.file.close()
        try:
            os.unlink(self.scratch)
        except OSError:
            pass

    def _out(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.md5.update(chunk)
        try:
            self.file.write(chunk)
        except OSError as exc:
            raise TransferError(f"{self.output.where(self.key)}: cannot write its scratch file {self.scratch}: "
                                f"{exc.strerror or exc}") from None
        self.size += len(chunk)


class _ExportWrites:
    """An ExportSink opened inside a task. Pages are compressed and written on one thread of its own (zlib, MD5
    and file writes let go of the GIL), at most PAGES_AHEAD behind; flush() waits for them and ends the unit."""

    def __init__(self, sink: ExportSink) -> None:
        self.sink, self.output = sink, sink.output
        self.attempt = uuid.uuid4().hex[:8]  # this task attempt's files are its own
        self.written = self.deleted = self.rejected = 0
        self.unit: int | None = None
        self.files: list[DataFile] = []  # the current unit's finished data files
        self.part: _Part | None = None
        self.pending: deque[Future] = deque()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="export-writer")

    @property
    def retried(self) -> tuple[int, int, int]:
        return 0, 0, 0  # botocore retries S3 requests on its own and does not count them

    def start_unit(self, unit) -> None:
        if self.unit is not None:
            raise TransferError(f"{self.sink.description}: {unit.label} started before unit {self.unit} was "
                                "flushed")
        self.unit = int(unit.id)

    def put_raw(self, items: list) -> None:
        if not items:
            return
        if self.unit is None:
            raise TransferError(f"{self.sink.description}: items given outside a unit (start_unit was not called)")
        lines = b'{"Item":' + b'}\n{"Item":'.join(items) + b'}\n'
        self.pending.append(self.thread.submit(self._write, lines, len(items)))
        while len(self.pending) > PAGES_AHEAD:
            self.pending.popleft().result()

    def delete_raw(self, keys: list) -> None:
        if keys:
            raise TransferError(f"{self.sink.description}: an export holds items, not deletes; {len(keys)} deletes "
                                "cannot be written to it")

    def flush(self) -> None:
        """Once the unit's pages are written: its last file made whole, then its record; its items count as
        written from here."""
        while self.pending:
            self.pending.popleft().result()
        if self.unit is None:
            return
        if self.part is not None:
            part, self.part = self.part, None
            self.files.append(part.finish())
        self.output.put(record_key(self.unit), b"".join(file_line(f) for f in self.files))
        self.written += sum(f.item_count for f in self.files)
        self.unit, self.files = None, []

    def _write(self, lines: bytes, items: int) -> None:
        """On the writer thread: append to the unit's current file; roll to the next past the size bound."""
        if self.part is None:
            key = f"{DATA}{self.unit:05d}-{self.attempt}-{len(self.files):04d}.json.gz"
            self.part = _Part(self.output, key, self.sink.level)
        self.part.write(lines, items)
        if self.part.size >= self.sink.part_bytes:
            part, self.part = self.part, None
            self.files.append(part.finish())

    def __enter__(self) -> _ExportWrites:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.thread.shutdown(wait=True, cancel_futures=True)
            if self.part is not None:
                self.part.abandon()
                self.part = None


class ExportWrite:
    """The driver side: refuse an output that holds something else, then, once every unit is done, the manifests."""

    database = None  # no table to count or replay into

    def __init__(self, settings: S3ExportTarget) -> None:
        self.settings = settings
        self.output = ExportOutput.at(settings.path)
        self.source: schema.TableInfo | None = None

    @property
    def title(self) -> str:
        return f"{self.settings.type} {self.output.location}"

    @property
    def label(self) -> str:
        return self.output.location

    def announce(self) -> None:
        logger.info("target: %s %s", self.settings.type, self.output.describe())

    def prepare(self, source: schema.TableInfo, resuming: bool) -> bool:
        """Refuse an output that holds anything, unless this run resumes one (which must then be there)."""
        self.source = source
        empty = self.output.is_empty()
        if resuming and empty:
            raise ConfigError(f"target.path: {self.output.location!r} holds nothing, but this run resumes one whose "
                              "finished segments wrote their files there; point target.path at that run's output, or "
                              "start over without the savepoint")
        if not resuming and not empty:
            raise ConfigError(f"target.path: {self.output.location!r} is not empty; an export is written into an "
                              "empty directory or S3 prefix only: name a new one, or empty it")
        return True

    def budget(self, concurrent: int) -> Budget:
        return Budget(0.0, concurrent, "an S3 export is written without capacity units")

    def sink(self, budget: Budget) -> ExportSink:
        return ExportSink(self.output)

    def finish(self, plan) -> None:
        """Gather the records of the plan's units into manifest-files.json, remove the data files no record lists,
        write manifest-summary.json last, then drop the records. TransferError when a unit left no record."""
        records = set(self.output.keys(RECORDS))
        missing = [unit for unit in range(plan.total) if record_key(unit) not in records]
        if missing and SUMMARY_KEY in self.output.keys(SUMMARY_KEY):
            self._drop(sorted(records))  # an earlier run finished the export and stopped while it cleaned up
            logger.info("the DynamoDB S3 export at %s was already complete", self.output.location)
            return
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
            raise TransferError(f"{self.output.where(RECORDS)}: no record of the data files of {len(missing)} "
                                f"{plan.kind}s [{shown}] of {plan.total}: their files were removed or written "
                                "elsewhere; resume with the target.path of the run that wrote them, or export again "
                                "into an empty target.path")
        with ThreadPoolExecutor(DRIVER_THREADS) as pool:
            files = [f for unit_files in pool.map(self._record, range(plan.total)) for f in unit_files]
        present = set(self.output.keys(DATA))
        absent = [f.key for f in files if f.key not in present]
        if absent:
            raise TransferError(f"{self.output.where(absent[0])}: listed by the record of its unit but missing "
                                f"({len(absent)} data files in all); export again into an empty target.path")
        self._drop(sorted(present - {f.key for f in files}))
        listing = b"".join(file_line(f) for f in files)
        total = sum(f.item_count for f in files)
        summary = summary_document(total, FILES_KEY, **self._summary_fields())
        parse_files(listing, self.output.where(FILES_KEY), parse_summary(summary, self.output.where(SUMMARY_KEY)))
        self.output.put(FILES_KEY, listing)
        self.output.put(SUMMARY_KEY, summary)
        self._drop(sorted(records))
        logger.info("wrote DynamoDB S3 export: %d items in %d data files at %s", total, len(files),
                    self.output.location)

    def _record(self, unit: int) -> list[DataFile]:
        """The data files the record of `unit` lists (in manifest-files.json's line form)."""
        key = record_key(unit)
        return [file for file, _ in file_lines(self.output.read(key), self.output.where(key))]

    def _drop(self, keys: list[str]) -> None:
        with ThreadPoolExecutor(DRIVER_THREADS) as pool:
            list(pool.map(self.output.delete, keys))

    def _summary_fields(self) -> dict:
        """What DynamoDB's summary says beyond the counts, where it applies; and the source's keys in the form
        `source.tableDescription` takes, for a config that imports this export."""
        fields = {}
        if self.output.is_s3:
            fields["s3Bucket"] = self.output.bucket
            if self.output.prefix:
                fields["s3Prefix"] = self.output.prefix.rstrip("/")
        if self.source is not None:
            fields["tableDescription"] = table_description(self.source.description)
        return fields


def table_description(described: dict) -> dict:
    """DescribeTable's key schema and attribute definitions as `source.tableDescription` writes them."""
    doc = {
        "attributeDefinitions": [{"name": a["AttributeName"], "type": a["AttributeType"]}
                                 for a in described.get("AttributeDefinitions", [])],
        "keySchema": [{"name": k["AttributeName"], "type": k["KeyType"]} for k in described.get("KeySchema", [])],
    }
    billing = described.get("BillingModeSummary", {}).get("BillingMode")
    if billing:
        doc["billingMode"] = billing
    return doc
