"""The migrator's settings: frozen dataclasses, one class per source and target `type`, parsed once on the driver.

A field's default here is the default of its YAML key (`migrator.config.keys` maps the key to the field). Executors
receive these objects, so they hold plain, picklable values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

DYNAMODB, ALTERNATOR, S3_EXPORT = "dynamodb", "alternator", "dynamodb-s3-export"
TYPES = (DYNAMODB, ALTERNATOR, S3_EXPORT)
TYPE_ALIASES = {"dynamo": DYNAMODB}


@dataclass(frozen=True)
class AssumeRole:
    arn: str
    session_name: str = "scylla-migrator"


@dataclass(frozen=True)
class Credentials:
    """Static AWS keys. `secret_key` is left out of repr, so logging a config never prints it."""

    access_key: str
    secret_key: str = field(repr=False)
    assume_role: AssumeRole | None = None


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        """`http://host:port` for a bare host, `scheme://host:port` for a URL; a bare IPv6 address gets brackets."""
        scheme, sep, host = self.host.partition("://")
        if not sep:
            scheme, host = "http", self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class AlternatorSettings:
    """The flat Alternator-only client keys; None on `type: dynamodb`."""

    datacenter: str | None = None
    rack: str | None = None
    active_refresh_interval_ms: int | None = None
    idle_refresh_interval_ms: int | None = None
    compression: bool = False
    optimize_headers: bool = False
    max_connections: int | None = None
    connection_max_idle_time_ms: int | None = None
    connection_time_to_live_ms: int | None = None
    connection_acquisition_timeout_ms: int | None = None
    connection_timeout_ms: int | None = None


@dataclass(frozen=True)
class DynamoTable:
    """A table reached through the DynamoDB API, and how to reach it: `type` is dynamodb or alternator."""

    type: str
    table: str
    region: str | None = None
    endpoint: Endpoint | None = None
    credentials: Credentials | None = None
    ca_bundle: str | None = None  # PEM file of CA certificates; None: AWS_CA_BUNDLE, else the system's CAs
    remove_consumed_capacity: bool = False  # type alternator: true unless written (config.parse)
    alternator: AlternatorSettings | None = None

    @property
    def label(self) -> str:
        """What names this side in messages and the Spark UI: the table."""
        return self.table


@dataclass(frozen=True)
class DynamoSource(DynamoTable):
    """A table scanned in parallel segments."""

    scan_segments: int | None = None
    max_map_tasks: int | None = None
    read_throughput: int | None = None
    throughput_read_percent: float | None = None
    skip_expired_items: bool = True  # with TTL enabled on the table, items past their TTL are not copied
    filter_expression: str | None = None  # Scan's FilterExpression: only matching items are copied
    expression_attribute_names: dict | None = None  # {"#n": "name"}, for the filter
    expression_attribute_values: dict | None = None  # {":v": {"N": "1"}}, DynamoDB JSON, for the filter


@dataclass(frozen=True)
class S3ExportSource:
    """A DynamoDB export to S3 (`type: dynamodb-s3-export`): its data files, not a table."""

    type: ClassVar[str] = S3_EXPORT
    bucket: str
    manifest_key: str
    table_description: dict  # attributeDefinitions, keySchema, ... as written (camelCase)
    region: str | None = None
    endpoint: Endpoint | None = None
    credentials: Credentials | None = None
    use_path_style_access: bool = False
    filter_expression: str | None = None  # refused by config.parse: no server evaluates it
    expression_attribute_names: dict | None = None
    expression_attribute_values: dict | None = None

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.manifest_key}"


@dataclass(frozen=True)
class DynamoTarget(DynamoTable):
    """A table written with BatchWriteItem, created if missing."""

    write_throughput: int | None = None
    throughput_write_percent: float | None = None
    stream_changes: bool = False  # after the snapshot, replay the source's DynamoDB Stream (streams/)
    skip_initial_snapshot_transfer: bool = False
    stream_poll_seconds: float = 1.0  # the pause between rounds that found every shard caught up
    stream_round_seconds: float = 10.0  # the longest a task reads in one round
    stream_cutover_seconds: float = 60.0  # caught up this long: the line saying it is safe to switch over
    stream_stop_when_caught_up: bool = False  # stop (exit 0) after that line
    billing_mode: str | None = None
    max_items_per_batch: int | None = None
    dead_letter_path: str | None = None  # a directory for items the target refuses; None: such an item fails the job
    verify_count: bool = False  # count the target after the copy


@dataclass(frozen=True)
class S3ExportTarget:
    """A DynamoDB export written to a directory (`type: dynamodb-s3-export`)."""

    type: ClassVar[str] = S3_EXPORT
    path: str

    @property
    def label(self) -> str:
        return self.path


SourceSettings = DynamoSource | S3ExportSource
TargetSettings = DynamoTarget | S3ExportTarget


@dataclass(frozen=True)
class Rename:
    from_name: str
    to_name: str


@dataclass(frozen=True)
class Savepoints:
    path: str
    interval_seconds: int


@dataclass(frozen=True)
class Progress:
    """The `progress` section: the driver's live progress lines and the run report. These defaults apply when it is
    absent; `--progress-interval` and `--report` override them."""

    interval_seconds: float = 10.0  # a progress line this often while a job runs; 0: none
    report_path: str | None = None  # the JSON run report (an HTML page beside it); None: no report


@dataclass(frozen=True)
class Validation:
    """The `validation` section; these defaults apply when it is absent."""

    compare_timestamps: bool = False
    ttl_tolerance_millis: int = 0
    writetime_tolerance_millis: int = 0
    failures_to_fetch: int = 100
    floating_point_tolerance: float = 0.0
    timestamp_ms_tolerance: int = 0
    copy_missing_rows: bool = False
    copy_differing_rows: bool = False
    delete_extra_rows: bool = False
    sample_size: int | None = None  # None: check every item
    report_path: str | None = None  # None: validation-report-<UTC time>.json in the current directory


@dataclass(frozen=True)
class MigratorConfig:
    source: SourceSettings
    target: TargetSettings
    renames: tuple[Rename, ...] = ()
    savepoints: Savepoints | None = None
    skip_segments: frozenset[int] = frozenset()
    skip_files: frozenset[str] = frozenset()  # an export source's data files done, by key
    stream_checkpoint: dict | None = None  # a savepoint's streamCheckpoint (streams/shards.py reads it)
    validation: Validation | None = None
    progress: Progress = Progress()
    raw: dict = field(default=None, repr=False, compare=False)  # the YAML as loaded
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)  # keys that have no effect here

    @property
    def rename_pairs(self) -> tuple[tuple[str, str], ...]:
        """The renames as (source name, target name) pairs, the form the transform and the validator take."""
        return tuple((r.from_name, r.to_name) for r in self.renames)
