"""Describe the source table; create the target from it, or check that an existing target fits."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, SSLError

from migrator.errors import ConfigError, SchemaError

logger = logging.getLogger(__name__)

TABLE_ACTIVE_TIMEOUT_S = 600


@dataclass(frozen=True)
class TableInfo:
    """What the job needs from DescribeTable."""

    name: str
    key_schema: tuple[tuple[str, str], ...]  # ((attribute, HASH|RANGE), ...)
    item_count: int  # approximate: AWS refreshes it about every six hours
    size_bytes: int
    billing_mode: str
    description: dict
    ttl_attribute: str | None = None  # the TTL attribute when TTL is enabled (transforms/ttl.py fills it in)
    renames: tuple[tuple[str, str], ...] = ()  # (old, new) names this description went through (renamed_table)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.key_schema)

    @property
    def average_item_bytes(self) -> float | None:
        """From DescribeTable's size and count, when the server fills them in (both are approximate)."""
        return self.size_bytes / self.item_count if self.item_count > 0 and self.size_bytes > 0 else None

    def capacity(self, kind: str) -> int:
        """Provisioned ReadCapacityUnits or WriteCapacityUnits; 0 for on-demand tables."""
        return int(self.description.get("ProvisionedThroughput", {}).get(kind, 0))


def describe(client, table: str, side: str) -> TableInfo | None:
    """TableInfo of `table`, or None when it does not exist."""
    try:
        desc = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise SchemaError(f"{side} table {table!r}: DescribeTable failed: {exc}") from exc
    except BotoCoreError as exc:  # no answer: cannot connect, TLS refused, timed out
        hint = f"; if a private CA signed it, name its PEM file in {side}.caBundle or AWS_CA_BUNDLE" \
            if isinstance(exc, SSLError) else ""
        raise SchemaError(f"{side} table {table!r}: DescribeTable failed: {exc}{hint}") from None
    return _info(desc)


def _info(desc: dict) -> TableInfo:
    billing = desc.get("BillingModeSummary", {}).get("BillingMode")
    if billing is None:  # tables created before on-demand existed carry no summary
        rcu = desc.get("ProvisionedThroughput", {}).get("ReadCapacityUnits", 0)
        billing = "PROVISIONED" if rcu else "PAY_PER_REQUEST"
    return TableInfo(
        name=desc["TableName"],
        key_schema=tuple((k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]),
        item_count=int(desc.get("ItemCount", 0)),
        size_bytes=int(desc.get("TableSizeBytes", 0)),
        billing_mode=billing,
        description=desc,
    )


def create_request(source: TableInfo, target_table: str, billing_mode: str | None) -> dict:
    """CreateTable arguments that copy the source's keys, indexes and billing (`billing_mode` overrides)."""
    desc = source.description
    mode = billing_mode or source.billing_mode
    provisioned = mode == "PROVISIONED"
    request: dict = {
        "TableName": target_table,
        "KeySchema": desc["KeySchema"],
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "BillingMode": mode,
    }
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(desc, f"table {source.name!r}")
    lsis = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in desc.get("LocalSecondaryIndexes", [])
    ]
    if lsis:
        request["LocalSecondaryIndexes"] = lsis
    gsis = []
    for index in desc.get("GlobalSecondaryIndexes", []):
        gsi = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
        if provisioned:
            gsi["ProvisionedThroughput"] = _throughput(index, f"index {index['IndexName']!r}")
        gsis.append(gsi)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    return request


def _throughput(desc: dict, what: str) -> dict:
    """The source's provisioned capacity; an on-demand source has none, so PROVISIONED needs numbers."""
    tp = desc.get("ProvisionedThroughput", {})
    rcu, wcu = int(tp.get("ReadCapacityUnits", 0)), int(tp.get("WriteCapacityUnits", 0))
    if rcu <= 0 or wcu <= 0:
        raise ConfigError(
            f"target.billingMode: PROVISIONED needs capacity, but source {what} is on-demand and has none; "
            "use billingMode: PAY_PER_REQUEST or create the target table yourself"
        )
    return {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}


def ensure_target(client, source: TableInfo, target_table: str,
                  billing_mode: str | None) -> tuple[TableInfo, bool]:
    """Create the target table when missing and wait until ACTIVE; else check that its key schema matches.
    Returns the table and whether this call created it."""
    existing = describe(client, target_table, "target")
    if existing is not None:
        check_same_key_schema(source, existing)
        logger.info("target table %r exists with a matching key schema", target_table)
        return _wait_active(client, target_table), False
    request = create_request(source, target_table, billing_mode)
    logger.info(
        "target table %r does not exist; creating it (%s, %d GSI, %d LSI)",
        target_table,
        request["BillingMode"],
        len(request.get("GlobalSecondaryIndexes", [])),
        len(request.get("LocalSecondaryIndexes", [])),
    )
    created = True
    try:
        client.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise SchemaError(f"target table {target_table!r}: CreateTable failed: {exc}") from exc
        created = False  # created meanwhile by someone else
    info = _wait_active(client, target_table)
    check_same_key_schema(source, info)
    return info, created


def check_same_key_schema(source: TableInfo, target: TableInfo) -> None:
    """Raise SchemaError unless `target` has the key attributes, key types and attribute types of `source` (under
    the new names, when `source` went through renames: the message then shows the source's keys both ways)."""
    source_types = _key_types(source.description)
    target_types = _key_types(target.description)
    if source_types == target_types:
        return
    expected, same = _show(source_types), "the same keys"
    if source.renames:
        old_names = {new: old for old, new in source.renames}
        original = _show(tuple((old_names.get(name, name), *rest) for name, *rest in source_types))
        if original == expected:
            expected = f"{expected} (renames leave its keys as they are)"
        else:
            expected, same = f"{original}, which renames make {expected}", "the renamed keys"
    raise SchemaError(
        f"target table {target.name!r} has key schema {_show(target_types)} but source table {source.name!r} has "
        f"{expected}; use a target table with {same}, or let the migrator create it by naming a table that does "
        "not exist"
    )


def _key_types(desc: dict) -> tuple[tuple[str, str, str], ...]:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    return tuple((k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?")) for k in desc["KeySchema"])


def _show(key_types: tuple[tuple[str, str, str], ...]) -> str:
    return "(" + ", ".join(f"{name} {kind} {typ}" for name, kind, typ in key_types) + ")"


def _wait_active(client, table: str) -> TableInfo:
    deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT_S
    while True:
        info = describe(client, table, "target")
        if info is not None and info.description.get("TableStatus") == "ACTIVE":
            return info
        if time.monotonic() > deadline:
            status = info.description.get("TableStatus") if info else "missing"
            raise SchemaError(
                f"target table {table!r} is still {status} after {TABLE_ACTIVE_TIMEOUT_S} s; check it and run again"
            )
        time.sleep(1)
