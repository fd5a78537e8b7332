"""Turns the YAML as loaded into a `MigratorConfig`: one section at a time, each key by its declaration.

What a key means is declared in `migrator.config.keys`; the single-value rules are in `migrator.config.values`.
Here are the sections: which settings class a `type` picks, the rules that tie keys together, and the warnings for
keys scylla-migrator accepts that do nothing here. The first problem is raised, in a fixed order: top-level keys,
source, target, then the other sections.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from migrator.config.expressions import check_placeholders
from migrator.config.keys import (
    ALTERNATOR_KEYS, SAVEPOINTS_FILES, SAVEPOINTS_S3, SAVEPOINTS_TARGET_TYPES, Key, Nested, attributes, key_at,
    keys_at, names_at, no_effect_at, place, scylla_section_keys,
)
from migrator.config.model import (
    ALTERNATOR, DYNAMODB, S3_EXPORT, TYPE_ALIASES, TYPES, AlternatorSettings, DynamoSource, DynamoTarget, Endpoint,
    MigratorConfig, Progress, Rename, S3ExportSource, S3ExportTarget, Savepoints, SourceSettings, TargetSettings,
    Validation,
)
from migrator.config.secrets import NOT_STORED
from migrator.config.values import (
    as_choice, as_int, as_list, as_mapping, as_str, check_keys, fail, join, require, show,
)


def build_config(raw: Mapping) -> MigratorConfig:
    """Check every key and value of the top-level mapping `raw` and build the config from it."""
    warnings: list[str] = []
    no_effect = no_effect_at("")
    check_keys(_drop_no_effect(raw, "", no_effect, warnings), "", names_at("") + tuple(no_effect))  # for did-you-mean
    source = _source(raw.get("source"), warnings)
    target = _target(raw.get("target"), warnings)
    _check_pair(source, target)
    return MigratorConfig(
        source=source,
        target=target,
        renames=_renames(raw.get("renames")),
        savepoints=_savepoints(raw.get("savepoints"), warnings),
        skip_segments=_skip_segments(raw.get("skipSegments"), getattr(source, "scan_segments", None)),
        skip_files=_skip_files(raw.get("skipFiles"), source),
        stream_checkpoint=_stream_checkpoint(raw.get("streamCheckpoint"), target),
        validation=_validation(raw.get("validation"), warnings),
        progress=_progress(raw.get("progress")),
        raw=copy.deepcopy(dict(raw)),
        warnings=tuple(warnings),
    )


def _names(side: str, kind: str) -> set[str]:
    return set(names_at(place(side, kind)))


def _side_no_effect(side: str, kind: str) -> dict[str, str]:
    """scylla-migrator's keys that it ignores under `side` with `type: kind`: the other side's, another type's."""
    other = "target" if side == "source" else "source"
    # scylla-migrator refuses these under type: dynamodb (_section does too): no warning, an error
    refused = _names(side, ALTERNATOR) - _names(side, DYNAMODB) if kind == DYNAMODB else set()
    reasons = {}
    for key in sorted(scylla_section_keys() - _names(side, kind) - refused):
        types = [name for name in TYPES if key in _names(side, name)]
        if types:
            reasons[key] = f"it is read only with {side}.type: {' or '.join(types)}"
        else:
            reasons[key] = f"it is a {other} key, it has one as {other}.{key}"
    reasons.update(no_effect_at(side))
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
    own_keys = {key for name in TYPES for key in _names(side, name)}
    hints = {key: f"unknown key; it is a {other} key, move it under {other}"
             for name in TYPES for key in names_at(place(other, name)) if key not in own_keys}
    hints.update(dict.fromkeys(own_keys - _names(side, kind), f"not valid with type: {kind}; remove it"))
    hints["alternator"] = (f"unknown key; there is no nested alternator block, set {side}.type: alternator and write "
                           f"its keys directly under {side}")
    return hints


def _source(raw: Any, warnings: list[str]) -> SourceSettings:
    section, kind = _section(raw, "source")
    section = _drop_no_effect(section, "source", _side_no_effect("source", kind), warnings)
    values = _fields(section, "source", place("source", kind), _hints("source", kind))
    _check_filter(values, kind)
    if kind == S3_EXPORT:
        return S3ExportSource(**attributes(place("source", kind), values))
    alternator = _alternator_settings(values, "source", kind)
    remove_consumed_capacity = values.pop("removeConsumedCapacity", kind == ALTERNATOR)
    return DynamoSource(type=kind, alternator=alternator, remove_consumed_capacity=remove_consumed_capacity,
                        **attributes(place("source", kind), values))


def _check_filter(values: Mapping[str, Any], kind: str) -> None:
    """source.filterExpression with its placeholders: refused with an export (no server reads it), its names and
    values refused without it, its placeholders matched (config/expressions.py)."""
    expression = values.get("filterExpression")
    if expression is None:
        for key in ("expressionAttributeNames", "expressionAttributeValues"):
            if values.get(key):
                raise fail(f"source.{key}", "given without source.filterExpression, the expression that uses it; "
                           "add the filterExpression or remove the key")
        return
    if kind == S3_EXPORT:
        raise fail("source.filterExpression", f"an export is read from its data files, which no server filters, "
                   f"got {expression!r}; remove the filter, or migrate from the table (source.type: dynamodb) with "
                   "it")
    check_placeholders(expression, values.get("expressionAttributeNames") or {},
                       values.get("expressionAttributeValues") or {})


def _target(raw: Any, warnings: list[str]) -> TargetSettings:
    section, kind = _section(raw, "target")
    section = _drop_no_effect(section, "target", _side_no_effect("target", kind), warnings)
    values = _fields(section, "target", place("target", kind), _hints("target", kind))
    if kind == S3_EXPORT:
        return S3ExportTarget(**attributes(place("target", kind), values))
    alternator = _alternator_settings(values, "target", kind)
    batch = values.get("maxItemsPerBatch")
    if kind == DYNAMODB and batch is not None and batch > 25:
        raise fail("target.maxItemsPerBatch", f"DynamoDB accepts at most 25 items per BatchWriteItem, got {batch}; "
                   "use 25 or set type: alternator")
    if values.get("skipInitialSnapshotTransfer") and not values.get("streamChanges"):
        raise fail("target.skipInitialSnapshotTransfer", "only has an effect with target.streamChanges: true, got "
                   "true; set streamChanges: true or remove the key")
    remove_consumed_capacity = values.pop("removeConsumedCapacity", kind == ALTERNATOR)
    return DynamoTarget(type=kind, alternator=alternator, remove_consumed_capacity=remove_consumed_capacity,
                        **attributes(place("target", kind), values))


def _section(raw: Any, side: str) -> tuple[Mapping, str]:
    """The section mapping and its type; keys that need `type: alternator` under `type: dynamodb` are rejected."""
    if raw is None:
        raise fail(side, f"required; add a {side}: section with type and table")
    section = as_mapping(raw, side, "write type: and table: under it")
    require(section, "type", side, "set type: dynamodb or type: alternator")
    kind = section["type"]
    kind = TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    kind = as_choice(kind, f"{side}.type", TYPES)
    if kind == DYNAMODB:
        alternator_only = _names(side, ALTERNATOR) - _names(side, DYNAMODB)
        for key in section:
            if key in alternator_only:
                raise fail(join(side, key), f"only valid with type: alternator; set {side}.type: alternator "
                           "or remove the key")
    return section, kind


def _fields(section: Mapping, path: str, where: str, hints: Mapping[str, str] | None = None,
            readers: Mapping[str, Callable[[Any, str], Any]] | None = None) -> dict:
    """Check the keys of `section` (at YAML `path`) against those accepted at the place `where`, then the required
    keys, then each present value by its rule (or `readers`); a null value counts as absent. By YAML key."""
    keys = keys_at(where)
    check_keys(section, path, [key.name for key in keys], hints)
    for key in keys:
        if where in key.required:
            require(section, key.name, path, key.required[where])
    values = {}
    for key in keys:
        if section.get(key.name) is None:
            continue
        key_path = join(path, key.name)
        if readers and key.name in readers:
            values[key.name] = readers[key.name](section[key.name], key_path)
        elif isinstance(key.rule, Nested):
            values[key.name] = _nested(key, section[key.name], key_path)
        elif key.rule is not None:
            values[key.name] = key.rule(section[key.name], key_path)
    return values


def _nested(key: Key, value: Any, path: str) -> Any:
    """The mapping under `key`, of the keys declared at the place named after it, built by its rule."""
    if key.secret and value == NOT_STORED:  # a savepoint's credentials
        raise fail(path, "not stored in savepoints; resume with your own config plus this savepoint: ./submit.sh "
                   "YOUR_CONFIG --resume SAVEPOINT, or delete this line from the savepoint to use the AWS default "
                   "credential chain")
    section = as_mapping(value, path, key.rule.fix)
    return key.rule.build(_fields(section, path, key.name), path)


def endpoint_url(value: Any, path: str) -> str:
    """The URL of an endpoint mapping as the config would read it (for comparing a savepoint's with the config's)."""
    endpoint: Endpoint = _nested(key_at(place("source", DYNAMODB), "endpoint"), value, path)
    return endpoint.url


def _alternator_settings(values: dict, side: str, kind: str) -> AlternatorSettings | None:
    """Pop the Alternator client keys out of `values` and check the rules Alternator adds, as scylla-migrator does."""
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
    settings = {ALTERNATOR_KEYS[key]: values.pop(key) for key in ALTERNATOR_KEYS if key in values}
    return AlternatorSettings(**settings)


def _check_pair(source: SourceSettings, target: TargetSettings) -> None:
    """The source/target combinations that cannot work."""
    if isinstance(target, DynamoTarget) and target.stream_changes and source.type != DYNAMODB:
        raise fail("target.streamChanges", f"replays the stream of a DynamoDB table, and the source is type "
                   f"{source.type}, got true; set streamChanges: false or read from source type: dynamodb")
    expression = getattr(source, "filter_expression", None)
    if expression and isinstance(target, DynamoTarget) and target.stream_changes:
        raise fail("source.filterExpression", f"filters the snapshot's Scan, and target.streamChanges replays "
                   f"every change of the table's stream, which no server filters, got {expression!r}; remove "
                   "the filter, or set streamChanges: false")
    if target.type == S3_EXPORT and source.type != DYNAMODB:
        raise fail("target.type", f"cannot write a {S3_EXPORT} from a {source.type} source; use source type: dynamodb "
                   "or target type: alternator")


def _renames(raw: Any) -> tuple[Rename, ...]:
    """The renames, each read on its own, then checked together: they apply all at once to the source's names, so
    each must name its own attribute and its own new name, and no new name may be read again as an old one."""
    renames: list[Rename] = []
    for index, item in enumerate(as_list(raw, "renames") if raw is not None else []):
        path = f"renames[{index}]"
        values = _fields(as_mapping(item, path, "write {from: OLD, to: NEW}"), path, "renames")
        rename = Rename(**attributes("renames", values))
        if rename.from_name == rename.to_name:
            raise fail(f"{path}.to", f"is the same as from, got {rename.to_name!r}; a rename to its own name "
                       "changes nothing, remove it")
        renames.append(rename)
    _check_renames_together(renames)
    return tuple(renames)


def _check_renames_together(renames: list[Rename]) -> None:
    """Refuse an attribute renamed twice, two attributes renamed to one name, and chains and cycles (a new name that
    is another rename's old name: `a -> b, b -> c` reads as a -> b or as a -> c), the first one found."""
    froms: dict[str, int] = {}
    tos: dict[str, int] = {}
    for index, rename in enumerate(renames):
        path, old, new = f"renames[{index}]", rename.from_name, rename.to_name
        if old in froms:
            raise fail(f"{path}.from", f"renamed twice, got {old!r} (renames[{froms[old]}] renames it too); keep one "
                       "rename per attribute")
        if new in tos:
            other = renames[tos[new]]
            raise fail(f"{path}.to", f"{new!r} is also the new name of {other.from_name!r} (renames[{tos[new]}]), "
                       f"got {old!r} -> {new!r}; two attributes cannot become one, give each its own new name")
        froms[old], tos[new] = index, index
    for index, rename in enumerate(renames):
        if rename.to_name in froms:
            other = froms[rename.to_name]
            after = renames[other]
            raise fail(f"renames[{index}].to", f"{rename.to_name!r} is renamed again by renames[{other}] "
                       f"({after.from_name!r} -> {after.to_name!r}), got {rename.from_name!r} -> "
                       f"{rename.to_name!r}; a chain or cycle of renames reads two ways (they apply at once to the "
                       "source's names): rename each attribute straight to a name no other rename reads")


def _savepoints(raw: Any, warnings: list[str]) -> Savepoints | None:
    if raw is None:
        return None
    section = as_mapping(raw, "savepoints", "write {path: DIR, intervalSeconds: 300}")
    section = _drop_no_effect(section, "savepoints", no_effect_at("savepoints"), warnings)
    if isinstance(section.get("target"), Mapping):
        target = _drop_no_effect(section["target"], "savepoints.target", no_effect_at("savepoints.target"), warnings)
        section = {**section, "target": target}
    values = _fields(section, "savepoints", "savepoints", readers={"target": _savepoints_target})
    target = values.pop("target", None)
    if target is not None and "path" in values:
        raise fail("savepoints.target", f"given together with savepoints.path {values['path']!r}; keep one of them")
    if target is None and "path" not in values:
        raise fail("savepoints.path", "required; name the savepoints directory (path: DIR or s3://BUCKET/PREFIX)")
    values["path"] = values.get("path", target)
    return Savepoints(**attributes("savepoints", values))


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
        return _fields(section, path, SAVEPOINTS_FILES, hints)["path"]
    hints["path"] = "only valid with type: filesystem; name the S3 location with bucket and prefix"
    values = _fields(section, path, SAVEPOINTS_S3, hints)
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


def _skip_files(raw: Any, source: SourceSettings) -> frozenset[str]:
    """The data files of an export an earlier run copied, by key (exports/export_source.py checks them against
    the manifest)."""
    if raw is None:
        return frozenset()
    if source.type != S3_EXPORT:
        raise fail("skipFiles", f"lists data files of a {S3_EXPORT} source, and the source is type {source.type}; "
                   "remove skipFiles (a table's progress is skipSegments)")
    keys = [as_str(item, f"skipFiles[{index}]") for index, item in enumerate(as_list(raw, "skipFiles"))]
    return frozenset(keys)


def _stream_checkpoint(raw: Any, target: TargetSettings) -> dict | None:
    """A savepoint's stream positions, kept as written (streams/shards.StreamState.from_doc checks them)."""
    if raw is None:
        return None
    if not getattr(target, "stream_changes", False):
        raise fail("streamCheckpoint", "records stream positions, read only with target.streamChanges: true; set "
                   "streamChanges: true to continue the stream, or remove streamCheckpoint")
    return copy.deepcopy(dict(as_mapping(raw, "streamCheckpoint", "give the streamCheckpoint a savepoint wrote")))


def _validation(raw: Any, warnings: list[str]) -> Validation | None:
    if raw is None:
        return None
    values = _fields(as_mapping(raw, "validation", "write failuresToFetch: and the other keys under it"),
                     "validation", "validation")
    no_effect = no_effect_at("validation")
    # warn only where the value asks for something: a default written out is what scylla-migrator's examples do
    warnings += [f"validation.{key}: has no effect; {no_effect[key]}" for key, value in values.items()
                 if key in no_effect and value not in (False, [], "source", "Lenient")]
    return Validation(**attributes("validation", values))


def _progress(raw: Any) -> Progress:
    if raw is None:
        return Progress()
    values = _fields(as_mapping(raw, "progress", "write {intervalSeconds: 10, reportPath: run-report.json}"),
                     "progress", "progress")
    return Progress(**attributes("progress", values))
