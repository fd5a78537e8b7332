"""What happens to items between the source and the sink: renames, TTL-expired items skipped, filters.

    transform.py  the executor side: `Transform` renames a page's attributes and drops its expired items, raw
    renames.py    the config's renames checked, and the target table's schema under the new names
    ttl.py        the tables' TTL setting: read on the source, copied to a target the migrator creates
    filters.py    source.filterExpression: pushed down into Scan, and turned around for the validator

Filters run on the source server (Scan's FilterExpression), so no unmatched item ever reaches a task; renames and
TTL run in the task, on the raw JSON fragments the source sent (codec.py), a page at a time.
"""

from __future__ import annotations

from migrator.config import MigratorConfig
from migrator.schema import TableInfo
from migrator.transforms.renames import renamed_table
from migrator.transforms.transform import IDENTITY, RenameConflict, Transform

__all__ = ["IDENTITY", "RenameConflict", "Transform", "for_job", "renamed_table"]


def for_job(config: MigratorConfig, source: TableInfo) -> Transform:
    """The transform of this job's items: its renames, and the source's TTL attribute unless
    source.skipExpiredItems is false (an export source has none)."""
    skip_expired = getattr(config.source, "skip_expired_items", False)
    return Transform(renames=config.rename_pairs,
                     ttl_attribute=source.ttl_attribute if skip_expired else None, key_names=source.key_names)
