"""`renames`: checked against the source's schema on the driver, and applied to the target table's schema.

Renames apply to top-level attribute names, all at once: `{from: a, to: b}` turns an item's `a` into `b`. The config
refuses what reads two ways (config/parse.py: two renames to one name, chains, cycles); here is what only the
source's schema shows. Key and index attributes may be renamed: a target table the migrator creates gets the new
names in its key schema, its indexes and their projections, and an existing target must have them
(schema.check_same_key_schema).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Mapping, Sequence

from migrator.errors import ConfigError
from migrator.schema import TableInfo

logger = logging.getLogger(__name__)


def announce_renames(info: TableInfo, renames: Sequence[tuple[str, str]], effect: str) -> None:
    """On the driver, once the source is described: check the renames against its schema (check_renames), then
    log them in one line, each key attribute named as one: `renames: id -> pk (hash key), n -> count; EFFECT`."""
    if not renames:
        return
    check_renames(info, renames)
    roles = {name: f"{kind.lower()} key" for name, kind in info.key_schema}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in info.description.get(kind, []):
            for key in index.get("KeySchema", []):
                roles.setdefault(key["AttributeName"], f"key of index {index['IndexName']}")
    shown = ", ".join(f"{old} -> {new}" + (f" ({roles[old]})" if old in roles else "") for old, new in renames)
    logger.info("renames: %s; %s", shown, effect)


def check_renames(info: TableInfo, renames: Sequence[tuple[str, str]]) -> None:
    """Raise ConfigError, before anything is copied, for a rename whose new name the source's schema already uses:
    a key attribute of the table (every item holds it, so every item would fail with both names), or any key
    attribute of the table or an index when the old name is one too (the target would define that name twice)."""
    froms = {old for old, _ in renames}
    defined = {d["AttributeName"] for d in info.description.get("AttributeDefinitions", [])}
    for index, (old, new) in enumerate(renames):
        if new in froms:
            continue  # renamed away as well (config/parse.py refuses chains; kept for direct callers)
        if new in info.key_names:
            raise ConfigError(
                f"renames[{index}].to: {new!r} is a key attribute of source table {info.name!r} (key "
                f"{_keys(info)}), got {old!r} -> {new!r}; every item holds {new!r}, so each would have both names: "
                f"rename {old!r} to a name the table does not use")
        if new in defined and old in defined:
            raise ConfigError(
                f"renames[{index}].to: {new!r} is a key attribute of an index of source table {info.name!r}, and "
                f"{old!r} is a key attribute too, got {old!r} -> {new!r}; the target's schema would define "
                f"{new!r} twice: rename {old!r} to a name the table's schema does not use")


def renamed_table(info: TableInfo, renames: Sequence[tuple[str, str]]) -> TableInfo:
    """`info` as the target should look: every attribute name in its key schema, attribute definitions, indexes
    (and their INCLUDE projections) and TTL attribute renamed. Checks the renames first (check_renames)."""
    renames = tuple(renames)
    if not renames:
        return info
    check_renames(info, renames)
    names = dict(renames)
    desc = copy.deepcopy(info.description)
    _rename_keys(desc.get("KeySchema", []), names)
    for definition in desc.get("AttributeDefinitions", []):
        definition["AttributeName"] = names.get(definition["AttributeName"], definition["AttributeName"])
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in desc.get(kind, []):
            _rename_keys(index.get("KeySchema", []), names)
            projection = index.get("Projection", {})
            if "NonKeyAttributes" in projection:
                projection["NonKeyAttributes"] = [names.get(n, n) for n in projection["NonKeyAttributes"]]
    return dataclasses.replace(
        info, key_schema=tuple((names.get(name, name), kind) for name, kind in info.key_schema), description=desc,
        ttl_attribute=names.get(info.ttl_attribute, info.ttl_attribute) if info.ttl_attribute else None,
        renames=renames)


def _rename_keys(key_schema: list, names: Mapping[str, str]) -> None:
    for key in key_schema:
        key["AttributeName"] = names.get(key["AttributeName"], key["AttributeName"])


def _keys(info: TableInfo) -> str:
    return "(" + ", ".join(f"{name} {kind}" for name, kind in info.key_schema) + ")"
