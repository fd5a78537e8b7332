"""The tables' TTL setting: read on the source, copied to a target the migrator creates, checked on one it finds.

DescribeTimeToLive says whether a table expires items, and by which attribute. The source's attribute is what the
copy skips expired items by (transform.py) and what the validator leaves unchecked; a target table the migrator
creates gets the same setting under the attribute's target name (UpdateTimeToLive), so that the copied items
expire there as they would have on the source. A target that exists is only checked, and a setting that differs
gets a warning: the migrator never changes a table it did not create.

TTL counts as on while it is ENABLED or ENABLING: the table's owner turned it on, and DynamoDB starts deleting
expired items once the change is through (within an hour). DISABLING and DISABLED count as off: DynamoDB has
stopped deleting. A server without the TTL API (dynalite has no UpdateTimeToLive; ScyllaDB releases before
Alternator's TTL have neither call) answers UnknownOperationException: no TTL there, nothing is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from migrator.errors import SchemaError

logger = logging.getLogger(__name__)

ON = ("ENABLED", "ENABLING")
NO_API = "NO_API"  # our status for a server that does not know the call
UNKNOWN_OPERATION = "UnknownOperationException"


@dataclass(frozen=True)
class TtlSetting:
    """A table's TTL as DescribeTimeToLive states it: its TimeToLiveStatus (NO_API: the server has no such call)
    and its attribute, while TTL is on."""

    status: str
    attribute: str | None = None

    @property
    def text(self) -> str:
        """`enabled on 'expires'`, `enabled on 'expires' (ENABLING)`, `not enabled (DISABLING)`."""
        if self.attribute is None:
            return "not enabled" + ("" if self.status in ("DISABLED", NO_API) else f" ({self.status})")
        return f"enabled on {self.attribute!r}" + ("" if self.status == "ENABLED" else f" ({self.status})")


class TtlUnreadable(Exception):
    """DescribeTimeToLive or UpdateTimeToLive failed for another reason than a server without TTL; its text is the
    cause (`AccessDeniedException: ...`)."""


def describe(client, table: str) -> TtlSetting:
    """The TTL setting of `table`; TtlUnreadable when the server refuses to say (access, network)."""
    answer = _call(client.describe_time_to_live, TableName=table)
    if answer is None:
        return TtlSetting(NO_API)
    description = answer.get("TimeToLiveDescription", {})
    status = description.get("TimeToLiveStatus", "DISABLED")
    return TtlSetting(status, description.get("AttributeName") if status in ON else None)


def _call(operation, **request) -> dict | None:
    """`operation(**request)`'s answer; None when the server does not know the operation."""
    try:
        return operation(**request)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == UNKNOWN_OPERATION:
            return None
        raise TtlUnreadable(f"{error.get('Code', 'error')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise TtlUnreadable(str(exc)) from exc


# What a job does with the source's items, for its TTL line: (expired items left out, no TTL on the source).
_COPY = ("items whose TTL has passed are skipped (source.skipExpiredItems: false copies them)",
         "no item is skipped as expired")
_VALIDATE = ("items whose TTL has passed are not checked, as the copy skips them (source.skipExpiredItems: false "
             "checks them)", "every item is checked")


def source_attribute(client, table: str, server: str, skip_expired: bool, validating: bool = False) -> str | None:
    """The source table's TTL attribute while TTL is on, else None, with one line saying what the copy (or the
    validator) does with expired items. With `skip_expired`, a setting that cannot be read is a SchemaError: the
    job would copy items DynamoDB is about to delete. Without it, a warning: every item is copied anyway, and only
    the target's TTL setting is lost."""
    left_out, no_ttl = _VALIDATE if validating else _COPY
    try:
        setting = describe(client, table)
    except TtlUnreadable as exc:
        if skip_expired:
            raise SchemaError(
                f"source table {table!r}: DescribeTimeToLive failed ({exc}); the migrator reads the TTL setting to "
                "skip expired items: grant dynamodb:DescribeTimeToLive on the table, or set "
                "source.skipExpiredItems: false to copy every item") from None
        logger.warning("source TTL: cannot read the TTL setting of table %r (%s); every item is copied "
                       "(source.skipExpiredItems: false), and a target table the migrator creates gets no TTL: grant "
                       "dynamodb:DescribeTimeToLive to copy the setting", table, exc)
        return None
    if setting.status == NO_API:
        logger.info("source TTL: the server at %s has no TTL API (DescribeTimeToLive: %s), so table %r expires "
                    "nothing; %s", server, UNKNOWN_OPERATION, table, no_ttl)
    elif setting.attribute is None:
        logger.info("source TTL: %s on table %r; %s", setting.text, table, no_ttl)
    elif skip_expired:
        logger.info("source TTL: %s (table %r); %s", setting.text, table, left_out)
    else:
        logger.info("source TTL: %s (table %r); items whose TTL has passed are copied too "
                    "(source.skipExpiredItems: false)", setting.text, table)
    return setting.attribute


def enable_on_target(client, table: str, attribute: str, source_table: str, server: str) -> None:
    """Turn TTL on for `attribute` of the target `table` the migrator just created, as the source has it. A server
    without the TTL API gets a warning (its items will not expire); any other failure is a SchemaError, before
    anything is copied."""
    try:
        answer = _call(client.update_time_to_live, TableName=table,
                       TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})
    except TtlUnreadable as exc:
        raise SchemaError(
            f"target table {table!r}: UpdateTimeToLive failed ({exc}); the migrator created the table and gives it "
            f"the TTL of source table {source_table!r}: grant dynamodb:UpdateTimeToLive, or enable TTL on "
            f"{attribute!r} yourself ({_cli(table, attribute)}), and run again") from None
    if answer is None:
        logger.warning("target TTL: the server at %s has no TTL API (UpdateTimeToLive: %s): the items copied into "
                       "target table %r will not expire, although source table %r expires them by %r; delete "
                       "expired items yourself, or use a server with TTL (ScyllaDB: Alternator TTL)", server,
                       UNKNOWN_OPERATION, table, source_table, attribute)
        return
    logger.info("target TTL: enabled on %r of the new table %r, as on source table %r", attribute, table,
                source_table)


def check_target(client, table: str, attribute: str, source_table: str, server: str) -> None:
    """Warn when the existing target `table` does not expire items by `attribute` (the source's TTL attribute under
    its target name), as the source does; the table is left as it is."""
    fix = f"enable TTL on {attribute!r} ({_cli(table, attribute)})"
    try:
        setting = describe(client, table)
    except TtlUnreadable as exc:
        logger.warning("target TTL: cannot read the TTL setting of target table %r (%s); source table %r expires "
                       "items by %r: make sure the target does too, or grant dynamodb:DescribeTimeToLive", table, exc,
                       source_table, attribute)
        return
    if setting.attribute == attribute:
        logger.info("target TTL: target table %r: %s, as on source table %r", table, setting.text, source_table)
    elif setting.status == NO_API:
        logger.warning("target TTL: the server at %s has no TTL API (DescribeTimeToLive: %s): the items copied into "
                       "target table %r will not expire, although source table %r expires them by %r", server,
                       UNKNOWN_OPERATION, table, source_table, attribute)
    elif setting.attribute is None:
        logger.warning("target TTL: target table %r has no TTL (%s), but source table %r expires items by %r: the "
                       "items copied will never expire on the target; %s", table, setting.status, source_table,
                       attribute, fix)
    else:
        logger.warning("target TTL: target table %r expires items by %r, but source table %r by %r: the items copied "
                       "expire by the wrong attribute; disable TTL on the target and %s", table, setting.attribute,
                       source_table, attribute, fix)


def _cli(table: str, attribute: str) -> str:
    return (f"aws dynamodb update-time-to-live --table-name {table} --time-to-live-specification "
            f"Enabled=true,AttributeName={attribute}")
