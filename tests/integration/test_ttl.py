"""TTL end to end through ./submit.sh on two moto servers (moto answers DescribeTimeToLive and UpdateTimeToLive, and
never expires items itself): expired items skipped and counted, the setting copied to a created target, the
validator leaving expired items unchecked, skipExpiredItems: false, and an existing target without TTL."""

from __future__ import annotations

import json
import re
import time

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from migrator.transforms.transform import TTL_HORIZON_SECONDS
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
DAY = 86400


def ttl_items() -> tuple[list[dict], list[dict]]:
    """(all items, those not expired): expired an hour to a month ago; in the future; without the attribute; with
    a string; more than five years in the past (DynamoDB never deletes those), as 1e3 and as a negative number."""
    now = int(time.time())
    values = {
        "expired": [{"N": str(now - 3600 - i * DAY)} for i in range(10)],
        "future": [{"N": str(now + 3600 + i * DAY)} for i in range(8)],
        "missing": [None] * 6,
        "string": [{"S": str(now - 3600)}] * 4,
        "ancient": [{"N": str(now - TTL_HORIZON_SECONDS - DAY)}, {"N": "1e3"}, {"N": "-5"}],
    }
    items, kept = [], []
    for kind, kind_values in values.items():
        for i, value in enumerate(kind_values):
            item = {"id": {"S": f"{kind}-{i}"}, "n": {"N": str(i)}, **({"expires": value} if value else {})}
            items.append(item)
            if kind != "expired":
                kept.append(item)
    return items, kept


def ttl_source(moto_source, prefix: str) -> tuple[str, list[dict], list[dict]]:
    """A source table with TTL enabled on `expires`, filled with ttl_items()."""
    table = fresh_table_name(prefix)
    client = client_for(moto_source)
    create_table(client, table, **HASH_KEY)
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    items, kept = ttl_items()
    fill_table(client, table, items)
    return table, items, kept


def renamed(item: dict) -> dict:
    return {("expires_at" if name == "expires" else name): value for name, value in item.items()}


def by_id(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: item["id"]["S"])


def summed(pattern: str, output: str) -> int:
    return sum(int(n) for n in re.findall(pattern, output))


def test_expired_items_are_skipped_counted_and_the_validator_leaves_them_unchecked(moto_source, moto_target,
                                                                                   tmp_path):
    """The copy writes every item but the expired ones, each line counts them (unit, task, driver total, verdict),
    the created target gets TTL on the same attribute under its new name (renames); the validator then finds
    nothing missing and counts the expired source items it did not check."""
    source_table, items, kept = ttl_source(moto_source, "ttl")
    target_table = fresh_table_name("ttl-copy")
    skipped = len(items) - len(kept)
    config = write_config(tmp_path / "ttl.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4, "maxMapTasks": 2},
                          top={"renames": [{"from": "expires", "to": "expires_at"}]})
    report = tmp_path / "report.json"

    run = run_submit(config, "--master", "local[2]")

    out = run.stdout
    assert run.returncode == 0, describe(out)
    target = client_for(moto_target)
    assert by_id(scan_all(target, target_table)) == by_id([renamed(item) for item in kept])
    assert (f"source TTL: enabled on 'expires' (table '{source_table}'); items whose TTL has passed are skipped "
            "(source.skipExpiredItems: false copies them)") in out
    assert (f"target TTL: enabled on 'expires_at' of the new table '{target_table}', as on source table "
            f"'{source_table}'") in out
    assert target.describe_time_to_live(TableName=target_table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert summed(r"migrator task \d+: segment \d+/4 transferred \d+ items, (\d+) expired \(TTL\) skipped", out) \
        == skipped
    assert summed(r"migrator task \d+: segments \[[\d, ]*\] transferred \d+ items in .*; (\d+) expired \(TTL\) "
                  r"skipped", out) == skipped
    assert sum(n for _, n in task_counts(out).values()) == len(kept)
    assert summed(r"INFO migrator.jobs.migrate: task \d+: \d+ segments, \d+ items in [\d.]+ s, (\d+) expired", out) \
        == skipped
    assert (f"migrator TTL: {skipped} expired items skipped (their TTL attribute is in the past: DynamoDB deletes "
            f"them within days); {len(items)} scanned = {len(kept)} written + {skipped} expired") in out
    assert (f"migrator verdict: OK - all {len(items)} scanned items were written or skipped as expired "
            f"({len(kept)} written, {skipped} expired)") in out

    run = run_submit("--validate", config, "--report", str(report), "--master", "local[2]")

    out = run.stdout
    assert run.returncode == 0, describe(out)
    assert ("items whose TTL has passed are not checked, as the copy skips them (source.skipExpiredItems: false "
            "checks them)") in out
    assert summed(r"validator task \d+: source segments \[[\d, ]*\] checked \d+ items in [\d.]+ s: 0 missing, "
                  r"0 differing, (\d+) expired \(TTL\) not checked", out) == skipped
    assert (f"validator total: source '{source_table}': {len(kept)} items checked: 0 missing on the target, "
            f"0 differing; {skipped} expired (TTL) not checked") in out
    assert (f"validator verdict: IDENTICAL - all {len(kept)} source items are on the target with equal values, and "
            f"all {len(kept)} target items exist on the source; {skipped} expired (TTL) not checked") in out
    counts = json.loads(report.read_text())["counts"]
    assert (counts["missing"], counts["expired"], counts["sourceItemsChecked"]) == (0, skipped, len(kept))


def test_skip_expired_items_false_copies_everything_and_an_existing_target_without_ttl_gets_a_warning(
        moto_source, moto_target, tmp_path):
    """source.skipExpiredItems: false writes the expired items too; the target exists without TTL, so the job
    warns, naming both tables, the attribute and the fix, and leaves the table as it is."""
    source_table, items, _ = ttl_source(moto_source, "ttl-all")
    target_table = fresh_table_name("ttl-all-copy")
    target = client_for(moto_target)
    create_table(target, target_table, **HASH_KEY)
    config = write_config(tmp_path / "all.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 2, "skipExpiredItems": False})

    run = run_submit(config, "--master", "local[2]")

    out = run.stdout
    assert run.returncode == 0, describe(out)
    assert by_id(scan_all(target, target_table)) == by_id(items)
    assert (f"source TTL: enabled on 'expires' (table '{source_table}'); items whose TTL has passed are copied too "
            "(source.skipExpiredItems: false)") in out
    assert (f"WARNING migrator.transforms.ttl: target TTL: target table '{target_table}' has no TTL (DISABLED), but "
            f"source table '{source_table}' expires items by 'expires': the items copied will never expire on the "
            f"target; enable TTL on 'expires' (aws dynamodb update-time-to-live --table-name {target_table} "
            "--time-to-live-specification Enabled=true,AttributeName=expires)") in out
    assert "expired (TTL) skipped" not in out and "migrator TTL:" not in out
    assert f"migrator verdict: OK - all {len(items)} scanned items were written" in out
    assert target.describe_time_to_live(TableName=target_table)["TimeToLiveDescription"]["TimeToLiveStatus"] == \
        "DISABLED"
