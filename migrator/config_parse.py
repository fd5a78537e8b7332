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
    ALTERNATOR, ALTERNATOR_KEYS, ATTRIBUTE_NAMES, DYNAMODB, NESTED_KEYS, NO_EFFECT_KEYS, RENAME_KEYS, S3_EXPORT,
    S3_EXPORT_SOURCE_KEYS, SAVEPOINTS_KEYS, SAVEPOINTS_TARGET_TYPES, SCYLLA_MIGRATOR_SECTION_KEYS, SOURCE_KEYS,
    TARGET_KEYS, TOP_KEYS, TYPE_ALIASES, TYPES, VALIDATION_KEYS, AlternatorSettings, AssumeRole, Credentials,
    Endpoint, MigratorConfig, Rename, Savepoints, SourceSettings, TargetSettings, Validation,
)
from migrator.config_values import (
    NOT_STORED, as_bool, as_choice, as_float, as_host, as_int, as_list, as_mapping, as_str, check_keys, fail, join,
    require, show,
)


def build_config(raw: Mapping) -> MigratorConfig:
    """Check every key and value of the top-level mapping `raw` and build the config from it."""
    warnings: list[str] = []
    no_effect = _no_effect("")
    check_keys(_drop_no_effect(raw, "", no_effect, warnings), "", TOP_KEYS + tuple(no_effect))  # for did-you-mean
    source = _source(raw.get("source"), warnings)
    target = _target(raw.get("target"), warnings)
    _check_pair(source, target)
    return MigratorConfig(
        source=source,
        target=target,
        renames=_renames(raw.get("renames")),
        savepoints=_savepoints(raw.get("savepoints"), warnings),
        skip_segments=_skip_segments(raw.get("skipSegments"), source.scan_segments),
        validation=_validation(raw.get("validation"), warnings),
        raw=copy.deepcopy(dict(raw)),
        warnings=tuple(warnings),
    )


_SIDES = {"source": SOURCE_KEYS, "target": TARGET_KEYS}


def _no_effect(path: str) -> dict[str, str]:
    """The keys of NO_EFFECT_KEYS directly under `path` ("" for the top level), with why they have no effect."""
    prefix = f"{path}." if path else ""
    return {key[len(prefix):]: why for key, why in NO_EFFECT_KEYS.items()
            if key.startswith(prefix) and "." not in key[len(prefix):]}


def _side_no_effect(side: str, kind: str) -> dict[str, str]:
    """scylla-migrator's keys that it ignores under `side` with `type: kind`: the other side's, another type's."""
    other = "target" if side == "source" else "source"
    valid = set(_SIDES[side][kind])
    # scylla-migrator refuses these under type: dynamodb (_section does too): no warning, an error
    refused = set(_SIDES[side][ALTERNATOR]) - set(_SIDES[side][DYNAMODB]) if kind == DYNAMODB else set()
    reasons = {}
    for key in sorted(SCYLLA_MIGRATOR_SECTION_KEYS - valid - refused):
        types = [name for name in TYPES if key in _SIDES[side][name]]
        if types:
            reasons[key] = f"it is read only with {side}.type: {' or '.join(types)}"
        else:
            reasons[key] = f"it is a {other} key, it has one as {other}.{key}"
    reasons.update(_no_effect(side))
    return reasons


def _drop_no_effect(section: Mapping, path: str, no_effect: Mapping[str, str], warnings: list[str]) -> dict:
    """`section` without the keys that have no effect here; each of them adds one warning line."""
    kept = {}
    for key, value in section.items():
        if key in no_effect:
            warnings.append(f"{join(path, key)}: has no effect; {no_effect[key]}")
        else:
            kept[key] = value
    return kept


def _hints(side: str, kind: str) -> dict[str, str]:
    """Fixes for keys that are right somewhere else: under the other side, or with another type."""
    other = "target" if side == "source" else "source"
    own_keys = {key for keys in _SIDES[side].values() for key in keys}
    hints = {key: f"unknown key; it is a {other} key, move it under {other}"
             for keys in _SIDES[other].values() for key in keys if key not in own_keys}
    hints.update(dict.fromkeys(own_keys - set(_SIDES[side][kind]), f"not valid with type: {kind}; remove it"))
    hints["alternator"] = (f"unknown key; there is no nested alternator block, set {side}.type: alternator and write "
                           f"its keys directly under {side}")
    return hints


def _source(raw: Any, warnings: list[str]) -> SourceSettings:
    section, kind = _section(raw, "source", SOURCE_KEYS)
    section = _drop_no_effect(section, "source", _side_no_effect("source", kind), warnings)
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


def _target(raw: Any, warnings: list[str]) -> TargetSettings:
    section, kind = _section(raw, "target", TARGET_KEYS)
    section = _drop_no_effect(section, "target", _side_no_effect("target", kind), warnings)
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


def _savepoints(raw: Any, warnings: list[str]) -> Savepoints | None:
    if raw is None:
        return None
    section = as_mapping(raw, "savepoints", "write {path: DIR, intervalSeconds: 300}")
    section = _drop_no_effect(section, "savepoints", _no_effect("savepoints"), warnings)
    if isinstance(section.get("target"), Mapping):
        target = _drop_no_effect(section["target"], "savepoints.target", _no_effect("savepoints.target"), warnings)
        section = {**section, "target": target}
    values = _fields(section, "savepoints", SAVEPOINTS_KEYS, {"intervalSeconds": "add intervalSeconds: 300"})
    target = values.pop("target", None)
    if target is not None and "path" in values:
        raise fail("savepoints.target", f"given together with savepoints.path {values['path']!r}; keep one of them")
    if target is None and "path" not in values:
        raise fail("savepoints.path", "required; name the savepoints directory (path: DIR or s3://BUCKET/PREFIX)")
    values["path"] = values.get("path", target)
    return Savepoints(**_attributes(values))


def _savepoints_target(value: Any, path: str) -> str:
    """scylla-migrator's `savepoints.target` as the `savepoints.path` it stands for: a directory or an s3:// URL."""
    section = as_mapping(value, path, "write {type: filesystem, path: DIR} or {type: s3, bucket: BUCKET}")
    require(section, "type", path, "set type: filesystem or type: s3")
    kind = SAVEPOINTS_TARGET_TYPES.get(section["type"]) if isinstance(section["type"], str) else None
    if kind is None:
        raise fail(f"{path}.type", f"must be one of {', '.join(SAVEPOINTS_TARGET_TYPES)}, got "
                   f"{show(section['type'])}; Google Cloud Storage and target-table are not supported here, use "
                   "filesystem or s3")
    hints = {"credentials": "not supported; S3 savepoints are written with the AWS default credential chain, "
                            "remove it"}
    if kind == "filesystem":
        hints.update(dict.fromkeys(("bucket", "prefix"), "only valid with type: s3; set type: s3 or remove the key"))
        values = _fields(section, path, ("type", "path"), {"path": "name the savepoints directory"}, hints)
        return values["path"]
    hints["path"] = "only valid with type: filesystem; name the S3 location with bucket and prefix"
    values = _fields(section, path, ("type", "bucket", "prefix"), {"bucket": "name the S3 bucket"}, hints)
    prefix = values.get("prefix", "").strip("/")
    return f"s3://{values['bucket']}/{prefix}" if prefix else f"s3://{values['bucket']}"


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


def _validation(raw: Any, warnings: list[str]) -> Validation | None:
    if raw is None:
        return None
    values = _fields(as_mapping(raw, "validation", "write failuresToFetch: and the other keys under it"),
                     "validation", VALIDATION_KEYS)
    no_effect = _no_effect("validation")
    # warn only where the value asks for something: a default written out is what scylla-migrator's examples do
    warnings += [f"validation.{key}: has no effect; {no_effect[key]}" for key, value in values.items()
                 if key in no_effect and value not in (False, [], "source", "Lenient")]
    used = {key: value for key, value in values.items() if key in ATTRIBUTE_NAMES}  # the rest is accepted, unused
    return Validation(**_attributes(used))


def _endpoint(value: Any, path: str) -> Endpoint:
    section = as_mapping(value, path, "write endpoint: {host: HOST, port: PORT}")
    required = {"host": "add host: http://HOST", "port": "add port: PORT, e.g. 8000"}
    values = _fields(section, path, NESTED_KEYS["endpoint"], required)
    return Endpoint(**_attributes(values))


def endpoint_url(value: Any, path: str) -> str:
    """The URL of an endpoint mapping as the config would read it (for comparing a savepoint's with the config's)."""
    return _endpoint(value, path).url


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
    "table": as_str, "region": as_str, "endpoint": _endpoint, "caBundle": as_str, "credentials": _credentials,
    "path": as_str, "deadLetterPath": as_str,
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
    "from": as_str, "to": as_str, "intervalSeconds": _count, "target": _savepoints_target, "prefix": as_str,
    "compareTimestamps": as_bool, "ttlToleranceMillis": _millis, "writetimeToleranceMillis": _millis,
    "failuresToFetch": _count, "floatingPointTolerance": partial(as_float, low=0.0), "timestampMsTolerance": _millis,
    "copyMissingRows": as_bool, "copyDifferingRows": as_bool, "deleteExtraRows": as_bool, "sampleSize": _count,
    "reportPath": as_str,
    "repairWritetimeStrategy": partial(as_choice, choices=("source", "coordinator", "config")),
    "hashColumns": _list_of_strings,
    "numericTypePolicy": partial(as_choice, choices=("Lenient", "DetectWiden", "StrictType")),
}
