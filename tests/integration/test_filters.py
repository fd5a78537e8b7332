"""source.filterExpression end to end: a filtered migration through ./submit.sh between two moto servers, its
counts, the validator with the same config, and a filter the server refuses."""

from __future__ import annotations

import json
import re

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, task_counts, validator_counts, write_config

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
# `status` is a DynamoDB reserved word: the filter names it through a placeholder.
FILTER = {"filterExpression": "age >= :min AND #s = :active", "expressionAttributeNames": {"#s": "status"},
          "expressionAttributeValues": {":min": {"N": 18}, ":active": {"S": "active"}}}
RENAMES = {"renames": [{"from": "status", "to": "state"}]}  # the validator applies the filter under the new name


def people() -> tuple[list[dict], set[str]]:
    """38 items, and the ids of the 15 the filter matches: adults who are active (18 itself included); not the
    young, the inactive, nor those without an age or a status. (No age is a string: DynamoDB finds it not >= a
    number, moto answers HTTP 500.)"""
    def person(key: str, age: dict | None, status: str | None) -> dict:
        return {"id": {"S": key}, **({"status": {"S": status}} if status else {}), **({"age": age} if age else {})}

    matching = [person(f"m{i:02d}", {"N": str(18 + 3 * i)}, "active") for i in range(15)]
    others = ([person(f"y{i:02d}", {"N": str(5 + i)}, "active") for i in range(10)]
              + [person(f"i{i:02d}", {"N": str(30 + i)}, "gone") for i in range(8)]
              + [person(f"n{i:02d}", None, "active") for i in range(3)]
              + [person(f"s{i:02d}", {"N": "40"}, None) for i in range(2)])
    return matching + others, {item["id"]["S"] for item in matching}


def test_a_filtered_migration_copies_the_matching_items_and_the_validator_checks_them(moto_source, moto_target,
                                                                                       tmp_path):
    """Only the 15 matching items reach the target (renamed status -> state); the task and total lines count 38
    read, 15 matched and written, 23 left out; the validator with the same config finds them identical, then
    reports a target item the filter does not match and one the source does not hold as extra."""
    source_table, target_table = fresh_table_name("people"), fresh_table_name("people-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    items, matching = people()
    fill_table(source, source_table, items)
    config = write_config(tmp_path / "filter.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 3, "maxMapTasks": 2, **FILTER}, top=RENAMES)

    run = run_submit(config)

    assert run.returncode == 0, describe(run.stdout)
    copied = scan_all(target, target_table)
    assert {item["id"]["S"] for item in copied} == matching
    assert all(item["state"] == {"S": "active"} and "status" not in item for item in copied)
    out = run.stdout
    assert "filter: only the items matching source.filterExpression 'age >= :min AND #s = :active' are copied" in out
    counts = task_counts(out)
    assert len(counts) == 2 and sum(n for _, n in counts.values()) == 15, describe(out)
    left_out = re.findall(r"migrator task \d+: segment \d/3 transferred \d+ items, (\d+) left out by "
                          r"source.filterExpression", out)
    assert sum(map(int, left_out)) == 23, describe(out)
    assert "migrator source count: 15 items matched source.filterExpression (exact); DescribeTable ItemCount" in out
    assert ("migrator filter: the source read 38 items; 15 matched source.filterExpression, 23 did not and were "
            "left out") in out
    assert "migrator verdict: OK - all 15 items matching source.filterExpression were written" in out

    check = run_submit("--validate", config, "--report", str(tmp_path / "same.json"))

    assert check.returncode == 0, describe(check.stdout)
    assert validator_counts(check.stdout) == {"source": 15, "target": 15, "missing": 0, "differing": 0, "extra": 0}
    assert ("validator verdict: IDENTICAL - all 15 source items matching source.filterExpression are on the target "
            "with equal values, and all 15 target items exist on the source") in check.stdout

    fill_table(target, target_table, [
        {"id": {"S": "zz-young"}, "age": {"N": "3"}, "state": {"S": "active"}},  # the filter leaves it out
        {"id": {"S": "zz-ghost"}, "age": {"N": "50"}, "state": {"S": "active"}},  # matches; not on the source
    ])
    report = tmp_path / "extra.json"

    check = run_submit("--validate", config, "--report", str(report))

    assert check.returncode == 1, describe(check.stdout)
    assert validator_counts(check.stdout) == {"source": 15, "target": 17, "missing": 0, "differing": 0, "extra": 2}
    assert (f"validator total: target {target_table!r}: 17 items checked: 2 extra (not on the source, or not "
            "matching source.filterExpression)") in check.stdout
    assert 'extra {"id":{"S":"zz-young"}}: does not match source.filterExpression' in check.stdout
    assert re.search(r'validator example \d/2: extra \{"id":\{"S":"zz-ghost"\}\}$', check.stdout, re.M), \
        describe(check.stdout)
    document = json.loads(report.read_text())
    assert document["filter"]["filterExpression"] == FILTER["filterExpression"]
    assert document["filter"]["expressionAttributeValues"][":min"] == {"N": "18"}
    assert sorted((e["key"]["id"]["S"], e["differences"]) for e in document["examples"]) == [
        ("zz-ghost", []), ("zz-young", ["does not match source.filterExpression"])]


def test_a_filter_the_server_refuses_stops_the_job_before_anything_is_copied(moto_source, moto_target, tmp_path):
    """A malformed expression: exit 2 with one line naming source.filterExpression and the server's message; the
    target table is never created."""
    source_table, target_table = fresh_table_name("bad-filter"), fresh_table_name("bad-filter-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    fill_table(source, source_table, [{"id": {"S": "a"}, "age": {"N": "20"}}])
    config = write_config(tmp_path / "bad.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"filterExpression": "age >>= :min",
                                        "expressionAttributeValues": {":min": {"N": "18"}}})

    run = run_submit(config)

    assert run.returncode == 2, describe(run.stdout)
    assert (f"source.filterExpression: the source table {source_table!r} refused the filter 'age >>= :min': Bad "
            "Filter Expression") in run.stdout, describe(run.stdout)
    assert "Traceback" not in run.stdout
    assert target_table not in target.list_tables()["TableNames"]
