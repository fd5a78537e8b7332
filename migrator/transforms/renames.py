"""`renames`: checked on the driver, and applied to the target table's schema.

Renames apply to top-level attribute names, all at once: `{from: a, to: b}` turns an item's `a` into `b`. Key and
index attributes may be renamed: a target table the migrator creates gets the new names in its key schema, its
indexes and their projections, and an existing target must have them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence

from migrator.schema import TableInfo


def renamed_table(info: TableInfo, renames: Sequence[tuple[str, str]]) -> TableInfo:
    """`info` as the target should look: every attribute name in its key schema, attribute definitions, indexes
    (and their INCLUDE projections) and TTL attribute renamed."""
    names = dict(renames)
    if not names:
        return info
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
        ttl_attribute=names.get(info.ttl_attribute, info.ttl_attribute) if info.ttl_attribute else None)


def _rename_keys(key_schema: list, names: Mapping[str, str]) -> None:
    for key in key_schema:
        key["AttributeName"] = names.get(key["AttributeName"], key["AttributeName"])
