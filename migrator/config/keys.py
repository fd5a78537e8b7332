"""Every YAML key, declared once: where it is accepted, its rule, the attribute it fills and what else is known of it.

The YAML keeps scylla-migrator's camelCase keys, so an existing `config.dynamodb.yaml` works unchanged. A place is
where a mapping's keys are read: "" (the top level), `source.<type>` and `target.<type>`, `endpoint`, `credentials`,
`assumeRole`, `tableDescription`, `renames`, `savepoints`, `savepoints.target.<type>`, `validation`, `progress`.
Keys are checked in the order of `KEYS`; defaults are those of the attributes (`migrator.config.model`). The parser
(`migrator.config.parse`) and the docs test (`accepted_key_paths`) both read this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from migrator.config.expressions import expression_names, expression_values
from migrator.config.model import (
    ALTERNATOR, DYNAMODB, S3_EXPORT, TYPES, AlternatorSettings, AssumeRole, Credentials, Endpoint,
)
from migrator.config.values import (
    as_bool, as_choice, as_float, as_host, as_int, as_list, as_mapping, as_str, fail, join,
)

Rule = Callable[[Any, str], Any]  # (value, YAML path) -> the clean value, or raise ConfigError


@dataclass(frozen=True)
class Nested:
    """The rule of a key whose value is a mapping of the keys declared at the place named after it."""

    fix: str  # how to write the mapping, for a value that is not one
    build: Callable[[dict, str], Any] = lambda values, path: values  # (checked values by YAML key, path) -> value


@dataclass(frozen=True)
class Key:
    name: str  # the YAML key
    places: tuple[str, ...]  # where it is accepted
    rule: Rule | Nested | None = None  # None: read by config.parse itself (a type, a section of its own)
    attribute: str | None = None  # the settings attribute it fills; None: accepted, not kept
    scylla: bool = False  # scylla-migrator reads it in a source or target section, of some type
    secret: bool = False  # savepoints leave its value out (config.secrets), so the loader refuses their stand-in
    required: Mapping[str, str] = field(default_factory=dict)  # place -> what to write when it is missing
    no_effect: Mapping[str, str] = field(default_factory=dict)  # YAML path of a section -> why it does nothing there
    inner: tuple[str, ...] = ()  # the places of the keys its mapping holds, when config.parse reads it


def place(side: str, kind: str) -> str:
    return f"{side}.{kind}"


SCAN = (place("source", DYNAMODB), place("source", ALTERNATOR))
WRITE = (place("target", DYNAMODB), place("target", ALTERNATOR))
ALTERNATOR_ONLY = (place("source", ALTERNATOR), place("target", ALTERNATOR))
S3_SOURCE, S3_TARGET = (place("source", S3_EXPORT),), (place("target", S3_EXPORT),)
SAVEPOINTS_TARGET_TYPES = {"filesystem": "filesystem", "path": "filesystem", "s3": "s3", "aws-s3": "s3",
                           "aws-bucket": "s3"}
SAVEPOINTS_FILES, SAVEPOINTS_S3 = "savepoints.target.filesystem", "savepoints.target.s3"


def _build(cls: type, at: str) -> Callable[[dict, str], Any]:
    return lambda values, path: cls(**attributes(at, values))


def _assume_role(values: dict, path: str) -> AssumeRole:
    if not values["arn"].startswith("arn:"):
        raise fail(f"{path}.arn", f"must be a role ARN, got {values['arn']!r}; write arn:aws:iam::ACCOUNT:role/NAME")
    return _build(AssumeRole, "assumeRole")(values, path)


def _list_of_mappings(value: Any, path: str) -> list:
    items = as_list(value, path)
    for index, item in enumerate(items):
        as_mapping(item, f"{path}[{index}]", "write {name: NAME, type: TYPE}")
    return items


def _list_of_strings(value: Any, path: str) -> list:
    return [as_str(item, f"{path}[{index}]") for index, item in enumerate(as_list(value, path))]


def _provisioned(value: Any, path: str) -> dict:
    return dict(as_mapping(value, path, "write {readCapacityUnits: N, writeCapacityUnits: N}"))


_count = partial(as_int, low=1)
_millis = partial(as_int, low=0)
_percent = partial(as_float, low=0.1, high=1.5)
_BOTH_SIDES = SCAN + WRITE + S3_SOURCE + S3_TARGET
_CONNECTION = SCAN + WRITE + S3_SOURCE
_CREDENTIALS = "give both accessKey and secretKey, or remove credentials to use the AWS default credential chain"
_CQL_ONLY = "it applies to CQL tables"

KEYS: tuple[Key, ...] = (
    # ---- source and target sections -------------------------------------------------------------------------
    Key("type", _BOTH_SIDES + (SAVEPOINTS_FILES, SAVEPOINTS_S3), scylla=True),  # picks the place of the others
    Key("table", SCAN + WRITE, as_str, "table", scylla=True, required={
        **dict.fromkeys(SCAN, "name the source table"), **dict.fromkeys(WRITE, "name the target table")}),
    Key("region", _CONNECTION, as_str, "region", scylla=True,
        no_effect={"savepoints.target": "S3 savepoints use the driver's AWS region (AWS_REGION); set it there"}),
    Key("endpoint", _CONNECTION, Nested("write endpoint: {host: HOST, port: PORT}", _build(Endpoint, "endpoint")),
        "endpoint", scylla=True),
    Key("credentials", _CONNECTION, Nested("write credentials: {accessKey: KEY, secretKey: SECRET}",
                                           _build(Credentials, "credentials")),
        "credentials", scylla=True, secret=True),
    Key("caBundle", SCAN + WRITE, as_str, "ca_bundle"),
    Key("scanSegments", SCAN, partial(as_int, low=1, high=1_000_000), "scan_segments", scylla=True),
    Key("maxMapTasks", SCAN, _count, "max_map_tasks", scylla=True,
        no_effect={"target": "the number of tasks comes from source.maxMapTasks"}),
    Key("readThroughput", SCAN, _count, "read_throughput", scylla=True),
    Key("skipExpiredItems", SCAN, as_bool, "skip_expired_items"),
    Key("filterExpression", SCAN + S3_SOURCE, as_str, "filter_expression"),
    Key("expressionAttributeNames", SCAN + S3_SOURCE, expression_names, "expression_attribute_names"),
    Key("expressionAttributeValues", SCAN + S3_SOURCE, expression_values, "expression_attribute_values"),
    Key("throughputReadPercent", SCAN, _percent, "throughput_read_percent", scylla=True),
    Key("writeThroughput", WRITE, _count, "write_throughput", scylla=True),
    Key("throughputWritePercent", WRITE, _percent, "throughput_write_percent", scylla=True),
    Key("streamChanges", WRITE, as_bool, "stream_changes", scylla=True),
    Key("skipInitialSnapshotTransfer", WRITE, as_bool, "skip_initial_snapshot_transfer", scylla=True),
    Key("streamPollSeconds", WRITE, partial(as_float, low=0.0, high=3600.0), "stream_poll_seconds"),
    Key("streamRoundSeconds", WRITE, partial(as_float, low=1.0, high=600.0), "stream_round_seconds"),
    Key("streamCutoverSeconds", WRITE, partial(as_float, low=0.0), "stream_cutover_seconds"),
    Key("streamStopWhenCaughtUp", WRITE, as_bool, "stream_stop_when_caught_up"),
    Key("attributeDefinitions", ("tableDescription",), _list_of_mappings,
        required={"tableDescription": "list the key attributes as {name, type}"}),
    Key("keySchema", ("tableDescription",), _list_of_mappings,
        required={"tableDescription": "list the key as {name, type: HASH|RANGE}"}),
    Key("billingMode", WRITE + ("tableDescription",), partial(as_choice, choices=("PROVISIONED", "PAY_PER_REQUEST")),
        "billing_mode", scylla=True),
    Key("provisionedThroughput", ("tableDescription",), _provisioned),
    Key("maxItemsPerBatch", WRITE, partial(as_int, low=1, high=100), "max_items_per_batch", scylla=True,
        no_effect={"source": "only writes are batched; it has one as target.maxItemsPerBatch"}),
    Key("deadLetterPath", WRITE, as_str, "dead_letter_path"),
    Key("verifyCount", WRITE, as_bool, "verify_count"),
    Key("removeConsumedCapacity", ALTERNATOR_ONLY, as_bool, "remove_consumed_capacity", scylla=True),
    Key("datacenter", ALTERNATOR_ONLY, as_str, "datacenter", scylla=True),
    Key("rack", ALTERNATOR_ONLY, as_str, "rack", scylla=True),
    Key("activeRefreshIntervalMs", ALTERNATOR_ONLY, _count, "active_refresh_interval_ms", scylla=True),
    Key("idleRefreshIntervalMs", ALTERNATOR_ONLY, _count, "idle_refresh_interval_ms", scylla=True),
    Key("compression", ALTERNATOR_ONLY, as_bool, "compression", scylla=True),
    Key("optimizeHeaders", ALTERNATOR_ONLY, as_bool, "optimize_headers", scylla=True),
    Key("maxConnections", ALTERNATOR_ONLY, _count, "max_connections", scylla=True),
    Key("connectionMaxIdleTimeMs", ALTERNATOR_ONLY, _millis, "connection_max_idle_time_ms", scylla=True),
    Key("connectionTimeToLiveMs", ALTERNATOR_ONLY, _millis, "connection_time_to_live_ms", scylla=True),
    Key("connectionAcquisitionTimeoutMs", ALTERNATOR_ONLY, _millis, "connection_acquisition_timeout_ms", scylla=True),
    Key("connectionTimeoutMs", ALTERNATOR_ONLY, _millis, "connection_timeout_ms", scylla=True),
    Key("bucket", S3_SOURCE + (SAVEPOINTS_S3,), as_str, "bucket", scylla=True,
        required={S3_SOURCE[0]: "name the S3 bucket of the export", SAVEPOINTS_S3: "name the S3 bucket"}),
    Key("manifestKey", S3_SOURCE, as_str, "manifest_key", scylla=True,
        required={S3_SOURCE[0]: "give the key of manifest-summary.json"}),
    Key("tableDescription", S3_SOURCE, Nested("write {attributeDefinitions: [...], keySchema: [...]}"),
        "table_description", scylla=True,
        required={S3_SOURCE[0]: "describe the key schema: {attributeDefinitions, keySchema}"}),
    Key("usePathStyleAccess", S3_SOURCE, as_bool, "use_path_style_access", scylla=True),
    Key("path", S3_TARGET + ("savepoints", SAVEPOINTS_FILES), as_str, "path", scylla=True,
        required={S3_TARGET[0]: "name the output directory of the export",
                  SAVEPOINTS_FILES: "name the savepoints directory"}),
    # ---- endpoint, credentials ------------------------------------------------------------------------------
    Key("host", ("endpoint",), as_host, "host", required={"endpoint": "add host: http://HOST"}),
    Key("port", ("endpoint",), partial(as_int, low=1, high=65535), "port",
        required={"endpoint": "add port: PORT, e.g. 8000"}),
    Key("accessKey", ("credentials",), as_str, "access_key", secret=True, required={"credentials": _CREDENTIALS}),
    Key("secretKey", ("credentials",), as_str, "secret_key", secret=True, required={"credentials": _CREDENTIALS}),
    Key("assumeRole", ("credentials",), Nested("write assumeRole: {arn: ROLE_ARN}", _assume_role), "assume_role"),
    Key("arn", ("assumeRole",), as_str, "arn", required={"assumeRole": "give the ARN of the role to assume"}),
    Key("sessionName", ("assumeRole",), as_str, "session_name"),
    # ---- the top level, read in this order ------------------------------------------------------------------
    Key("source", ("",), attribute="source", inner=tuple(place("source", kind) for kind in TYPES)),
    Key("target", ("",), attribute="target", inner=tuple(place("target", kind) for kind in TYPES)),
    Key("renames", ("",), attribute="renames", inner=("renames",)),
    Key("savepoints", ("",), attribute="savepoints", inner=("savepoints",)),
    Key("skipSegments", ("",), attribute="skip_segments"),
    Key("skipFiles", ("",), attribute="skip_files"),  # an export's data files done (savepoints write it)
    Key("streamCheckpoint", ("",), attribute="stream_checkpoint"),  # written by savepoints (streams/shards.py)
    Key("validation", ("",), attribute="validation", inner=("validation",)),
    Key("progress", ("",), attribute="progress", inner=("progress",)),
    Key("skipTokenRanges", (), no_effect={
        "": "it lists the CQL token ranges a run has done, read only with a Cassandra or Scylla source"}),
    Key("skipParquetFiles", (), no_effect={
        "": "it lists the Parquet files a run has done, read only with a Parquet source"}),
    # ---- renames, savepoints --------------------------------------------------------------------------------
    Key("from", ("renames",), as_str, "from_name", required={"renames": "name the source attribute"}),
    Key("to", ("renames",), as_str, "to_name", required={"renames": "name the target attribute"}),
    Key("target", ("savepoints",), inner=(SAVEPOINTS_FILES, SAVEPOINTS_S3)),  # scylla-migrator's form of its path
    Key("intervalSeconds", ("savepoints",), _count, "interval_seconds",
        required={"savepoints": "add intervalSeconds: 300"}),
    Key("prefix", (SAVEPOINTS_S3,), as_str),
    Key("enableParquetFileTracking", (), no_effect={
        "savepoints": "it tracks Parquet files, read only with a Parquet source"}),
    # ---- progress ---------------------------------------------------------------------------------------------
    Key("intervalSeconds", ("progress",), partial(as_float, low=0.0, high=3600.0), "interval_seconds"),
    Key("reportPath", ("progress",), as_str, "report_path"),
    # ---- validation (compareTimestamps and its tolerances warn of nothing: scylla-migrator requires them) -----
    Key("compareTimestamps", ("validation",), as_bool, "compare_timestamps"),
    Key("ttlToleranceMillis", ("validation",), _millis, "ttl_tolerance_millis"),
    Key("writetimeToleranceMillis", ("validation",), _millis, "writetime_tolerance_millis"),
    Key("failuresToFetch", ("validation",), _count, "failures_to_fetch"),
    Key("floatingPointTolerance", ("validation",), partial(as_float, low=0.0), "floating_point_tolerance"),
    Key("timestampMsTolerance", ("validation",), _millis, "timestamp_ms_tolerance"),
    Key("copyMissingRows", ("validation",), as_bool, "copy_missing_rows"),
    Key("copyDifferingRows", ("validation",), as_bool, "copy_differing_rows"),
    Key("deleteExtraRows", ("validation",), as_bool, "delete_extra_rows"),
    Key("sampleSize", ("validation",), _count, "sample_size"),
    Key("reportPath", ("validation",), as_str, "report_path"),
    Key("repairWritetimeStrategy", ("validation",), partial(as_choice, choices=("source", "coordinator", "config")),
        no_effect={"validation": f"repairs are plain PutItem writes; {_CQL_ONLY}"}),
    Key("hashColumns", ("validation",), _list_of_strings,
        no_effect={"validation": "items are compared attribute by attribute; it applies to MySQL sources"}),
    Key("numericTypePolicy", ("validation",), partial(as_choice, choices=("Lenient", "DetectWiden", "StrictType")),
        no_effect={"validation": f"numbers are compared as decimal values; {_CQL_ONLY}"}),
)


def keys_at(where: str) -> tuple[Key, ...]:
    """The keys accepted at a place, in checking order."""
    return tuple(key for key in KEYS if where in key.places)


def key_at(where: str, name: str) -> Key:
    return next(key for key in keys_at(where) if key.name == name)


def names_at(where: str) -> tuple[str, ...]:
    return tuple(key.name for key in keys_at(where))


def attributes(where: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked values by YAML key at a place -> by attribute; keys accepted but not kept are left out."""
    by_name = {key.name: key.attribute for key in keys_at(where)}
    return {by_name[name]: value for name, value in values.items() if by_name[name] is not None}


def no_effect_at(path: str) -> dict[str, str]:
    """Keys scylla-migrator accepts directly under the section `path` ("" for the top level) that do nothing here,
    with why; keys of the other side or of another type are found from the places (config.parse)."""
    return {key.name: key.no_effect[path] for key in KEYS if path in key.no_effect}


def scylla_section_keys() -> set[str]:
    """Keys scylla-migrator reads in a DynamoDB-family source or target section, of any type."""
    return {key.name for key in KEYS if key.scylla}


def accepted_key_paths() -> set[str]:
    """Every dotted key path the parser accepts, e.g. `source.scanSegments`, `target.endpoint.host`."""
    paths: set[str] = set()

    def walk(prefix: str, where: str) -> None:
        for key in keys_at(where):
            path = join(prefix, key.name)
            paths.add(path)
            for inner in key.inner or ((key.name,) if isinstance(key.rule, Nested) else ()):
                walk(path, inner)

    walk("", "")
    return paths


# The flat Alternator client keys, YAML key -> AlternatorSettings attribute
_ALTERNATOR_ATTRIBUTES = {item.name for item in fields(AlternatorSettings)}
ALTERNATOR_KEYS = {key.name: key.attribute for key in keys_at(place("source", ALTERNATOR))
                   if key.attribute in _ALTERNATOR_ATTRIBUTES}
