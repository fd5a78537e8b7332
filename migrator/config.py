"""The migrator's configuration: frozen dataclasses parsed once, on the driver, from scylla-migrator's YAML.

The YAML keeps scylla-migrator's camelCase keys, so an existing `config.dynamodb.yaml` works unchanged.
The key tables below say which keys are accepted where, and `ATTRIBUTE_NAMES` is the one place that maps them to
the snake_case attributes. Unknown keys are errors; a key scylla-migrator accepts but that has no effect here is a
warning (`MigratorConfig.warnings`). `migrator.config_parse` checks the sections and
`migrator.config_values` the single values; `check_supported` says what this version cannot run yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from migrator.config_values import REDACTED, is_secret_key, join, redact
from migrator.errors import ConfigError

__all__ = [
    "AlternatorSettings", "AssumeRole", "Credentials", "Endpoint", "MigratorConfig", "Rename", "Savepoints",
    "SourceSettings", "TargetSettings", "Validation", "accepted_key_paths", "check_supported", "load_config",
    "parse_config", "parse_yaml", "read_yaml", "redact", "redacted_yaml",
    "ALTERNATOR_KEYS", "ATTRIBUTE_NAMES", "NOT_BUILT_YET", "NO_EFFECT_KEYS", "SCYLLA_MIGRATOR_SECTION_KEYS",
]


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
class SourceSettings:
    type: str
    table: str
    region: str | None = None
    endpoint: Endpoint | None = None
    credentials: Credentials | None = None
    scan_segments: int | None = None
    max_map_tasks: int | None = None
    read_throughput: int | None = None
    throughput_read_percent: float | None = None
    remove_consumed_capacity: bool = False
    max_items_per_batch: int | None = None
    alternator: AlternatorSettings | None = None
    s3_export: dict | None = None
    ca_bundle: str | None = None  # PEM file of CA certificates; None: AWS_CA_BUNDLE, else the system's CAs


@dataclass(frozen=True)
class TargetSettings:
    type: str
    table: str
    region: str | None = None
    endpoint: Endpoint | None = None
    credentials: Credentials | None = None
    write_throughput: int | None = None
    throughput_write_percent: float | None = None
    stream_changes: bool = False
    skip_initial_snapshot_transfer: bool = False
    billing_mode: str | None = None
    remove_consumed_capacity: bool = False
    max_items_per_batch: int | None = None
    alternator: AlternatorSettings | None = None
    path: str | None = None
    dead_letter_path: str | None = None  # a directory for items the target refuses; None: such an item fails the job
    ca_bundle: str | None = None  # PEM file of CA certificates; None: AWS_CA_BUNDLE, else the system's CAs
    verify_count: bool = False  # count the target after the copy


@dataclass(frozen=True)
class Rename:
    from_name: str
    to_name: str


@dataclass(frozen=True)
class Savepoints:
    path: str
    interval_seconds: int


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
    validation: Validation | None = None
    raw: dict = field(default=None, repr=False, compare=False)  # the YAML as loaded
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)  # keys that have no effect here


# ---- which keys are accepted where ------------------------------------------------------------------------------

DYNAMODB, ALTERNATOR, S3_EXPORT = "dynamodb", "alternator", "dynamodb-s3-export"
TYPES = (DYNAMODB, ALTERNATOR, S3_EXPORT)
TYPE_ALIASES = {"dynamo": DYNAMODB}

ALTERNATOR_KEYS = (
    "datacenter", "rack", "activeRefreshIntervalMs", "idleRefreshIntervalMs", "compression", "optimizeHeaders",
    "maxConnections", "connectionMaxIdleTimeMs", "connectionTimeToLiveMs", "connectionAcquisitionTimeoutMs",
    "connectionTimeoutMs",
)
_CONNECTION_KEYS = ("type", "table", "region", "endpoint", "credentials", "caBundle")
_SCAN_KEYS = _CONNECTION_KEYS + ("scanSegments", "maxMapTasks", "readThroughput", "throughputReadPercent")
_WRITE_KEYS = _CONNECTION_KEYS + (
    "writeThroughput", "throughputWritePercent", "streamChanges", "skipInitialSnapshotTransfer", "billingMode",
    "maxItemsPerBatch", "deadLetterPath", "verifyCount",
)
S3_EXPORT_SOURCE_KEYS = ("bucket", "manifestKey", "tableDescription", "usePathStyleAccess")
SOURCE_KEYS = {
    DYNAMODB: _SCAN_KEYS,
    ALTERNATOR: _SCAN_KEYS + ("removeConsumedCapacity",) + ALTERNATOR_KEYS,
    S3_EXPORT: ("type", "region", "endpoint", "credentials") + S3_EXPORT_SOURCE_KEYS,
}
TARGET_KEYS = {
    DYNAMODB: _WRITE_KEYS,
    ALTERNATOR: _WRITE_KEYS + ("removeConsumedCapacity",) + ALTERNATOR_KEYS,
    S3_EXPORT: ("type", "path"),
}
NESTED_KEYS = {
    "endpoint": ("host", "port"),
    "credentials": ("accessKey", "secretKey", "assumeRole"),
    "assumeRole": ("arn", "sessionName"),
    "tableDescription": ("attributeDefinitions", "keySchema", "billingMode", "provisionedThroughput"),
}
TOP_KEYS = ("source", "target", "renames", "savepoints", "skipSegments", "validation")
RENAME_KEYS = ("from", "to")
SAVEPOINTS_KEYS = ("path", "target", "intervalSeconds")
SAVEPOINTS_TARGET_KEYS = ("type", "path", "bucket", "prefix")  # scylla-migrator's structured form of savepoints.path
SAVEPOINTS_TARGET_TYPES = {"filesystem": "filesystem", "path": "filesystem", "s3": "s3", "aws-s3": "s3",
                           "aws-bucket": "s3"}
VALIDATION_KEYS = (
    "compareTimestamps", "ttlToleranceMillis", "writetimeToleranceMillis", "failuresToFetch",
    "floatingPointTolerance", "timestampMsTolerance", "copyMissingRows", "copyDifferingRows", "deleteExtraRows",
    "sampleSize", "reportPath",
    "repairWritetimeStrategy", "hashColumns", "numericTypePolicy",  # accepted as scylla-migrator does; unused
)

# Keys scylla-migrator reads in a DynamoDB-family source or target section, of any type. One that has no effect where
# it is written gets a warning, as scylla-migrator ignores it there; a key it does not know at all is an error.
# Spelt out, not taken from the tables above: a key of this migrator's own is never one of them.
SCYLLA_MIGRATOR_SECTION_KEYS = frozenset((
    "type", "table", "region", "endpoint", "credentials", "scanSegments", "maxMapTasks", "readThroughput",
    "throughputReadPercent", "writeThroughput", "throughputWritePercent", "streamChanges",
    "skipInitialSnapshotTransfer", "billingMode", "removeConsumedCapacity", "maxItemsPerBatch", "path", "bucket",
    "manifestKey", "tableDescription", "usePathStyleAccess", "datacenter", "rack", "activeRefreshIntervalMs",
    "idleRefreshIntervalMs", "compression", "optimizeHeaders", "maxConnections", "connectionMaxIdleTimeMs",
    "connectionTimeToLiveMs", "connectionAcquisitionTimeoutMs", "connectionTimeoutMs",
))
# Keys scylla-migrator accepts that have no effect here: dotted path -> why, and where they would have one. Keys of
# the other side or of another type are found from the tables above; this names the rest and the special cases.
# validation.compareTimestamps and its tolerances are left out: scylla-migrator requires them in every config.
NO_EFFECT_KEYS = {
    "skipTokenRanges": "it lists the CQL token ranges a run has done, read only with a Cassandra or Scylla source",
    "skipParquetFiles": "it lists the Parquet files a run has done, read only with a Parquet source",
    "target.maxMapTasks": "the number of tasks comes from source.maxMapTasks",
    "source.maxItemsPerBatch": "only writes are batched; it has one as target.maxItemsPerBatch",
    "savepoints.enableParquetFileTracking": "it tracks Parquet files, read only with a Parquet source",
    "savepoints.target.region": "S3 savepoints use the driver's AWS region (AWS_REGION); set it there",
    "validation.repairWritetimeStrategy": "repairs are plain PutItem writes; it applies to CQL tables",
    "validation.hashColumns": "items are compared attribute by attribute; it applies to MySQL sources",
    "validation.numericTypePolicy": "numbers are compared as decimal values; it applies to CQL tables",
}

# camelCase YAML key -> dataclass attribute: the one place the two spellings meet.
ATTRIBUTE_NAMES = {
    "table": "table", "region": "region", "endpoint": "endpoint", "credentials": "credentials",
    "scanSegments": "scan_segments", "maxMapTasks": "max_map_tasks", "readThroughput": "read_throughput",
    "throughputReadPercent": "throughput_read_percent", "writeThroughput": "write_throughput",
    "throughputWritePercent": "throughput_write_percent", "streamChanges": "stream_changes",
    "skipInitialSnapshotTransfer": "skip_initial_snapshot_transfer", "billingMode": "billing_mode",
    "removeConsumedCapacity": "remove_consumed_capacity", "maxItemsPerBatch": "max_items_per_batch", "path": "path",
    "deadLetterPath": "dead_letter_path", "verifyCount": "verify_count",
    "datacenter": "datacenter", "rack": "rack", "activeRefreshIntervalMs": "active_refresh_interval_ms",
    "idleRefreshIntervalMs": "idle_refresh_interval_ms", "compression": "compression",
    "optimizeHeaders": "optimize_headers", "maxConnections": "max_connections",
    "connectionMaxIdleTimeMs": "connection_max_idle_time_ms", "connectionTimeToLiveMs": "connection_time_to_live_ms",
    "connectionAcquisitionTimeoutMs": "connection_acquisition_timeout_ms",
    "connectionTimeoutMs": "connection_timeout_ms", "caBundle": "ca_bundle",
    "host": "host", "port": "port", "accessKey": "access_key", "secretKey": "secret_key",
    "assumeRole": "assume_role", "arn": "arn", "sessionName": "session_name",
    "from": "from_name", "to": "to_name", "intervalSeconds": "interval_seconds",
    "compareTimestamps": "compare_timestamps", "ttlToleranceMillis": "ttl_tolerance_millis",
    "writetimeToleranceMillis": "writetime_tolerance_millis", "failuresToFetch": "failures_to_fetch",
    "floatingPointTolerance": "floating_point_tolerance", "timestampMsTolerance": "timestamp_ms_tolerance",
    "copyMissingRows": "copy_missing_rows", "copyDifferingRows": "copy_differing_rows",
    "deleteExtraRows": "delete_extra_rows", "sampleSize": "sample_size", "reportPath": "report_path",
}


def accepted_key_paths() -> set[str]:
    """Every dotted key path the parser accepts, e.g. `source.scanSegments`, `target.endpoint.host`."""
    paths: set[str] = set()

    def walk(prefix: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            paths.add(join(prefix, key))
            if key in NESTED_KEYS:
                walk(join(prefix, key), NESTED_KEYS[key])

    walk("", TOP_KEYS)
    for kind in TYPES:
        walk("source", SOURCE_KEYS[kind])
        walk("target", TARGET_KEYS[kind])
    walk("renames", RENAME_KEYS)
    walk("savepoints", SAVEPOINTS_KEYS)
    walk("savepoints.target", SAVEPOINTS_TARGET_KEYS)
    walk("validation", VALIDATION_KEYS)
    return paths


# ---- loading ----------------------------------------------------------------------------------------------------


def load_config(path: str | Path) -> MigratorConfig:
    """Read and check the YAML file at `path`; raise `ConfigError` with a one-line message on the first problem."""
    return parse_config(read_yaml(path), str(path))


def read_yaml(path: str | Path) -> Any:
    """The YAML file at `path` as loaded (duplicate keys refused); ConfigError naming the file on any problem."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{origin}: not found; give the path of your YAML config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{origin}: is a directory; give the path of the YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{origin}: cannot read: {reason}") from None
    return parse_yaml(text, origin)


def parse_yaml(text: str, origin: str) -> Any:
    """YAML text as loaded (duplicate keys refused); ConfigError naming `origin` and the line on any problem."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        problem, _, fix = str(exc.problem).partition("; ")
        if not fix:
            fix = ("indent with spaces, not tabs" if "'\\t'" in problem
                   else "fix the YAML syntax at that line (indentation, quotes, brackets, a space after ':')")
        where = ""
        if exc.problem_mark:
            lines = text.splitlines()
            number = exc.problem_mark.line
            shown = _line_shown(lines[number]) if number < len(lines) else "end of file"
            where = f"line {number + 1} ({shown}): "
        raise ConfigError(f"{origin}: {where}invalid YAML: {problem}; {fix}".replace("\n", " ")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}; fix the YAML syntax".replace("\n", " ")) from None


def _line_shown(line: str) -> str:
    """A line of YAML for an error message; `<redacted>` where it may hold a secret (a flow mapping may nest one)."""
    return REDACTED if is_secret_key(line) else repr(line[:80])


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key written twice in one mapping instead of keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; keep only one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_config(raw: Any, origin: str) -> MigratorConfig:
    """Check the YAML `raw` as loaded from `origin` (a path, for messages) and build the config."""
    from migrator.config_parse import build_config  # imported here: it builds the dataclasses defined above

    if not isinstance(raw, Mapping):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(f"{origin}: top level must be a mapping, got {kind}; start the file with source: and target:")
    return build_config(raw)


def redacted_yaml(cfg: MigratorConfig) -> str:
    """The config as loaded, as YAML, with every secret-looking value replaced by `<redacted>`."""
    return yaml.safe_dump(redact(cfg.raw or {}), sort_keys=False, default_flow_style=False)


# ---- what this version can run ----------------------------------------------------------------------------------

_DEFAULTS = {cls: {f.name: f.default for f in fields(cls)}
             for cls in (SourceSettings, TargetSettings, AlternatorSettings)}


def _section_of(cfg: MigratorConfig, section: str):
    """`cfg.<section>` for a dotted section such as "source.alternator", or None where a part is missing."""
    settings = cfg
    for name in section.split("."):
        settings = getattr(settings, name)
        if settings is None:
            return None
    return settings


def _set(section: str, attribute: str) -> Callable[[MigratorConfig], bool]:
    """A check that `cfg.<section>.<attribute>` exists and differs from its default, e.g. `_set("source", "rack")`."""

    def check(cfg: MigratorConfig) -> bool:
        settings = _section_of(cfg, section)
        return settings is not None and getattr(settings, attribute) != _DEFAULTS[type(settings)][attribute]

    return check


# (YAML path, is it used?, what to do): shrink this table as features land.
NOT_BUILT_YET: tuple[tuple[str, Callable[[MigratorConfig], bool], str], ...] = (
    ("source.type", lambda cfg: cfg.source.type == S3_EXPORT,
     "reading a DynamoDB S3 export is not built yet; use type: dynamodb or alternator"),
    ("target.type", lambda cfg: cfg.target.type == S3_EXPORT,
     "writing a DynamoDB S3 export is not built yet; use type: alternator or dynamodb"),
    ("target.streamChanges", _set("target", "stream_changes"),
     "replicating changes from DynamoDB Streams is not built yet; set streamChanges: false"),
    ("target.skipInitialSnapshotTransfer", _set("target", "skip_initial_snapshot_transfer"),
     "streaming without a snapshot is not built yet; remove the key"),
    ("renames", lambda cfg: bool(cfg.renames), "renaming attributes is not built yet; remove the renames"),
)


def check_supported(cfg: MigratorConfig) -> list[str]:
    """Raise `ConfigError` for the first key whose behaviour is not built yet; return the warnings, one line per key
    that has no effect here."""
    for path, used, fix in NOT_BUILT_YET:
        if used(cfg):
            raise ConfigError(f"{path}: not supported yet; {fix}")
    return list(cfg.warnings)
