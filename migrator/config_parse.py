"""Turns the YAML as loaded into a `MigratorConfig`: one section at a time, each value by its rule in `_RULES`.

The key tables and `ATTRIBUTE_NAMES` live in `migrator.config`; the single-value checks in `migrator.config_values`.
The first problem is raised, in a fixed order: top-level keys, source, target, then the other sections.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from migrator.config import (
    ALTERNATOR, ALTERNATOR_KEYS, ATTRIBUTE_NAMES, DYNAMODB, NESTED_KEYS, RENAME_KEYS, S3_EXPORT,
    S3_EXPORT_SOURCE_KEYS, SAVEPOINTS_KEYS, SOURCE_KEYS, TARGET_KEYS, TOP_KEYS, TYPE_ALIASES, TYPES,
    VALIDATION_KEYS, AlternatorSettings, AssumeRole, Credentials, Endpoint, MigratorConfig, Rename, Savepoints,
    SourceSettings, TargetSettings, Validation,
)
from migrator.config_values import (
    NOT_STORED, as_bool, as_choice, as_float, as_host, as_int, as_list, as_mapping, as_str, check_keys, fail, join,
    require,
)


def build_config(raw: Mapping) -> MigratorConfig:
    """Check every key and value of the top-level mapping `raw` and build the config from it."""
    check_keys(raw, "", TOP_KEYS, _TOP_HINTS)
    source = _source(raw.get("source"))
    target = _target(raw.get("target"))
    _check_pair(source, target)
    return MigratorConfig(
        source=source,
        target=target,
        renames=_renames(raw.get("renames")),
        savepoints=_savepoints(raw.get("savepoints")),
        skip_segments=_skip_segments(raw.get("skipSegments"), source.scan_segments),
        validation=_validation(raw.get("validation")),
        raw=copy.deepcopy(dict(raw)),
    )


_TOP_HINTS = {
    "skipTokenRanges": "unknown key; it is for CQL sources only, remove it",
    "skipParquetFiles": "unknown key; it is for Parquet sources only, remove it",
}
_SIDES = {"source": SOURCE_KEYS, "target": TARGET_KEYS}


def _hints(side: str, kind: str) -> dict[str, str]:
    """Fixes for keys that are right somewhere else: under the other side, or with another type."""
    other = "target" if side == "source" else "source"
    own_keys = {key for keys in _SIDES[side].values() for key in keys}
    hints = {key: f"unknown key; it is a {other} key, move it under {other}"
             for keys in _SIDES[other].values() for key in keys if key not in own_keys}
    hints.update({key: f"not valid with type: {kind}; remove it" for key in own_keys - set(_SIDES[side][kind])})
    hints["alternator"] = (f"unknown key; there is no nested alternator block, set {side}.type: alternator and write "
                           f"its keys directly under {side}")
    return hints


def _source(raw: Any) -> SourceSettings:
    section, kind = _section(raw, "source", SOURCE_KEYS)
    if kind == S3_EXPORT:
        required = {"bucket": "name the S3 bucket of the export",
                    "manifestKey": "give the key of manifest-summary.json",
                    "tableDescription": "describe the key schema: {attributeDefinitions, keySchema}"}
        values = _fields(section, "source", SOURCE_KEYS[kind], required, _hints("source", kind))
        s3_export = {key: values.pop(key) for key in S3_EXPORT_SOURCE_KEYS if key in values}
        return SourceSettings(type=kind, table="", s3_export=s3_export, **_attributes(values))
    values = _fields(section, "source", SOURCE_KEYS[kind], {"table": "name the source table"}, _hints("source", kind))
    alternator = _alternator_settings(values, "source", kind)
    return SourceSettings(type=kind, alternator=alternator, **_attributes(values))


def _target(raw: Any) -> TargetSettings:
    section, kind = _section(raw, "target", TARGET_KEYS)
    if kind == S3_EXPORT:
        values = _fields(section, "target", TARGET_KEYS[kind], {"path": "name the output directory of the export"},
                         _hints("target", kind))
        return TargetSettings(type=kind, table="", **_attributes(values))
    values = _fields(section, "target", TARGET_KEYS[kind], {"table": "name the target table"}, _hints("target", kind))
    alternator = _alternator_settings(values, "target", kind)
    batch = values.get("maxItemsPerBatch")
    if kind == DYNAMODB and batch is not None and batch > 25:
        raise fail("target.maxItemsPerBatch", f"DynamoDB accepts at most 25 items per BatchWriteItem, got {batch}; "
                   "use 25 or set type: alternator")
    if values.get("skipInitialSnapshotTransfer") and not values.get("streamChanges"):
        raise fail("target.skipInitialSnapshotTransfer", "only has an effect with target.streamChanges: true, got "
                   "true; set streamChanges: true or remove the key")
    return TargetSettings(type=kind, alternator=alternator, **_attributes(values))


def _section(raw: Any, side: str, keys_by_type: Mapping[str, tuple[str, ...]]) -> tuple[Mapping, str]:
    """The section mapping and its type; keys that need `type: alternator` under `type: dynamodb` are rejected."""
    if raw is None:
        raise fail(side, f"required; add a {side}: section with type and table")
    section = as_mapping(raw, side, "write type: and table: under it")
    require(section, "type", side, "set type: dynamodb or type: alternator")
    kind = section["type"]
    kind = TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    kind = as_choice(kind, f"{side}.type", TYPES)
    if kind == DYNAMODB:
        for key in section:
            if key in keys_by_type[ALTERNATOR] and key not in keys_by_type[DYNAMODB]:
                raise fail(join(side, key), f"only valid with type: alternator; set {side}.type: alternator "
                           "or remove the key")
    return section, kind


def _fields(section: Mapping, path: str, valid: tuple[str, ...], required: Mapping[str, str] | None = None,
            hints: Mapping[str, str] | None = None) -> dict:
    """Check keys, then required keys, then each present value by its rule; a null value counts as absent."""
    check_keys(section, path, valid, hints)
    for key, fix in (required or {}).items():
        require(section, key, path, fix)
    return {key: _RULES[key](section[key], join(path, key)) for key in valid
            if key != "type" and section.get(key) is not None}


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {ATTRIBUTE_NAMES[key]: value for key, value in values.items()}


def _alternator_settings(values: dict, side: str, kind: str) -> AlternatorSettings | None:
    """Pop the Alternator-only keys out of `values` and check the rules Alternator adds, as scylla-migrator does."""
    values.setdefault("removeConsumedCapacity", kind == ALTERNATOR)
    if kind != ALTERNATOR:
        return None
    endpoint = values.get("endpoint")
    if endpoint is None:
        raise fail(f"{side}.endpoint", "required for type: alternator; add endpoint: {host: http://HOST, port: 8000}")
    if not endpoint.host.startswith(("http://", "https://")):
        raise fail(f"{side}.endpoint.host", f"Alternator needs the protocol, got {endpoint.host!r}; "
                   f"write http://{endpoint.host} or https://{endpoint.host}")
    credentials = values.get("credentials")
    if credentials is not None and credentials.assume_role is not None:
        raise fail(f"{side}.credentials.assumeRole", "not supported by Alternator; remove it and give accessKey "
                   "and secretKey")
    if "rack" in values and "datacenter" not in values:
        raise fail(f"{side}.rack", f"needs datacenter, got rack {values['rack']!r} alone; add {side}.datacenter")
    settings = {key: values.pop(key) for key in ALTERNATOR_KEYS if key in values}
    return AlternatorSettings(**_attributes(settings))


def _check_pair(source: SourceSettings, target: TargetSettings) -> None:
    """The source/target combinations that cannot work."""
    if target.stream_changes and source.type != DYNAMODB:
        raise fail("target.streamChanges", f"a {source.type} source has no DynamoDB Stream to read, got true; "
                   "set streamChanges: false or read from source type: dynamodb")
    if target.type == S3_EXPORT and source.type != DYNAMODB:
        raise fail("target.type", f"cannot write a {S3_EXPORT} from a {source.type} source; use source type: dynamodb "
                   "or target type: alternator")


def _renames(raw: Any) -> tuple[Rename, ...]:
    renames, seen = [], set()
    for index, item in enumerate(as_list(raw, "renames") if raw is not None else []):
        path = f"renames[{index}]"
        entry = as_mapping(item, path, "write {from: OLD, to: NEW}")
        values = _fields(entry, path, RENAME_KEYS, {"from": "name the source attribute",
                                                    "to": "name the target attribute"})
        if values["from"] in seen:
            raise fail(f"{path}.from", f"renamed twice, got {values['from']!r}; keep one rename per attribute")
        seen.add(values["from"])
        renames.append(Rename(**_attributes(values)))
    return tuple(renames)


def _savepoints(raw: Any) -> Savepoints | None:
    if raw is None:
        return None
    section = as_mapping(raw, "savepoints", "write {path: DIR, intervalSeconds: 300}")
    values = _fields(section, "savepoints", SAVEPOINTS_KEYS, {"path": "name the savepoints directory",
                                                              "intervalSeconds": "add intervalSeconds: 300"})
    return Savepoints(**_attributes(values))


def _skip_segments(raw: Any, scan_segments: int | None) -> frozenset[int]:
    segments = set()
    for index, item in enumerate(as_list(raw, "skipSegments") if raw is not None else []):
        segment = as_int(item, f"skipSegments[{index}]", low=0)
        if scan_segments is not None and segment >= scan_segments:
            raise fail(f"skipSegments[{index}]", f"must be below source.scanSegments ({scan_segments}), got {segment}; "
                       f"use segment numbers 0 to {scan_segments - 1}")
        segments.add(segment)
    if segments and scan_segments is None:
        raise fail("skipSegments", "needs source.scanSegments, the segment count these segment numbers belong to; "
                   "got none, and a count derived from the table size can change between runs; set "
                   "source.scanSegments to the count of the run that recorded them (a savepoint records it)")
    return frozenset(segments)


def _validation(raw: Any) -> Validation | None:
    if raw is None:
        return None
    values = _fields(as_mapping(raw, "validation", "write failuresToFetch: and the other keys under it"),
                     "validation", VALIDATION_KEYS)
    used = {key: value for key, value in values.items() if key in ATTRIBUTE_NAMES}  # the rest is accepted, unused
    return Validation(**_attributes(used))


def _endpoint(value: Any, path: str) -> Endpoint:
    section = as_mapping(value, path, "write endpoint: {host: HOST, port: PORT}")
    required = {"host": "add host: http://HOST", "port": "add port: PORT, e.g. 8000"}
    values = _fields(section, path, NESTED_KEYS["endpoint"], required)
    return Endpoint(**_attributes(values))


def _credentials(value: Any, path: str) -> Credentials:
    if value == NOT_STORED:
        raise fail(path, "not stored in savepoints; resume with your own config plus this savepoint: ./submit.sh "
                   "YOUR_CONFIG --resume SAVEPOINT, or delete this line from the savepoint to use the AWS default "
                   "credential chain")
    section = as_mapping(value, path, "write credentials: {accessKey: KEY, secretKey: SECRET}")
    fix = "give both accessKey and secretKey, or remove credentials to use the AWS default credential chain"
    values = _fields(section, path, NESTED_KEYS["credentials"], {"accessKey": fix, "secretKey": fix})
    return Credentials(**_attributes(values))


def _assume_role(value: Any, path: str) -> AssumeRole:
    section = as_mapping(value, path, "write assumeRole: {arn: ROLE_ARN}")
    values = _fields(section, path, NESTED_KEYS["assumeRole"], {"arn": "give the ARN of the role to assume"})
    if not values["arn"].startswith("arn:"):
        raise fail(f"{path}.arn", f"must be a role ARN, got {values['arn']!r}; "
                   "write arn:aws:iam::ACCOUNT:role/NAME")
    return AssumeRole(**_attributes(values))


def _table_description(value: Any, path: str) -> dict:
    section = as_mapping(value, path, "write {attributeDefinitions: [...], keySchema: [...]}")
    required = {"attributeDefinitions": "list the key attributes as {name, type}",
                "keySchema": "list the key as {name, type: HASH|RANGE}"}
    return _fields(section, path, NESTED_KEYS["tableDescription"], required)


def _list_of_mappings(value: Any, path: str) -> list:
    items = as_list(value, path)
    for index, item in enumerate(items):
        as_mapping(item, f"{path}[{index}]", "write {name: NAME, type: TYPE}")
    return items


def _list_of_strings(value: Any, path: str) -> list:
    return [as_str(item, f"{path}[{index}]") for index, item in enumerate(as_list(value, path))]


_count = partial(as_int, low=1)
_millis = partial(as_int, low=0)

# YAML key -> rule(value, path) returning the parsed value; a key means the same thing wherever it appears.
_RULES: dict[str, Callable[[Any, str], Any]] = {
    "table": as_str, "region": as_str, "endpoint": _endpoint, "credentials": _credentials, "path": as_str,
    "scanSegments": partial(as_int, low=1, high=1_000_000), "maxMapTasks": _count, "readThroughput": _count,
    "throughputReadPercent": partial(as_float, low=0.1, high=1.5), "writeThroughput": _count,
    "throughputWritePercent": partial(as_float, low=0.1, high=1.5), "streamChanges": as_bool,
    "skipInitialSnapshotTransfer": as_bool,
    "billingMode": partial(as_choice, choices=("PROVISIONED", "PAY_PER_REQUEST")),
    "removeConsumedCapacity": as_bool, "maxItemsPerBatch": partial(as_int, low=1, high=100), "verifyCount": as_bool,
    "datacenter": as_str, "rack": as_str, "activeRefreshIntervalMs": _count, "idleRefreshIntervalMs": _count,
    "compression": as_bool, "optimizeHeaders": as_bool, "maxConnections": _count,
    "connectionMaxIdleTimeMs": _millis, "connectionTimeToLiveMs": _millis,
    "connectionAcquisitionTimeoutMs": _millis, "connectionTimeoutMs": _millis,
    "host": as_host, "port": partial(as_int, low=1, high=65535),
    "accessKey": as_str, "secretKey": as_str, "assumeRole": _assume_role, "arn": as_str, "sessionName": as_str,
    "bucket": as_str, "manifestKey": as_str, "tableDescription": _table_description, "usePathStyleAccess": as_bool,
    "attributeDefinitions": _list_of_mappings, "keySchema": _list_of_mappings,
    "provisionedThroughput": lambda value, path: dict(as_mapping(value, path, "write {readCapacityUnits: N, "
                                                                              "writeCapacityUnits: N}")),
    "from": as_str, "to": as_str, "intervalSeconds": _count,
    "compareTimestamps": as_bool, "ttlToleranceMillis": _millis, "writetimeToleranceMillis": _millis,
    "failuresToFetch": _count, "floatingPointTolerance": partial(as_float, low=0.0), "timestampMsTolerance": _millis,
    "copyMissingRows": as_bool, "copyDifferingRows": as_bool, "deleteExtraRows": as_bool, "sampleSize": _count,
    "reportPath": as_str,
    "repairWritetimeStrategy": partial(as_choice, choices=("source", "coordinator", "config")),
    "hashColumns": _list_of_strings,
    "numericTypePolicy": partial(as_choice, choices=("Lenient", "DetectWiden", "StrictType")),
}
