"""Renames end to end through ./submit.sh on two moto servers: the created target's schema, every item, the verdict,
the validator with the same config, and an item that already holds a new name."""

from __future__ import annotations

import json

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from migrator.items import renamed
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, write_config

pytestmark = pytest.mark.integration

# the hash key, the range key, the GSI's hash key and a plain attribute (in the GSI's INCLUDE projection)
RENAMES = {"id": "pk", "ts": "sk", "g": "group", "n": "count"}
SOURCE_SCHEMA = dict(
    key_schema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
    attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"},
                           {"AttributeName": "g", "AttributeType": "S"},
                           {"AttributeName": "when", "AttributeType": "N"}],
    GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                {"AttributeName": "ts", "KeyType": "RANGE"}],
                             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]}}],
    LocalSecondaryIndexes=[{"IndexName": "by_when", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"},
                                                                  {"AttributeName": "when", "KeyType": "RANGE"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
)


def source_items() -> list[dict]:
    """30 items: numbers spelt "7.50", the GSI key on every other item, `n` of several types, and nested maps whose
    names are renamed names (they stay as they are)."""
    values = [{"N": "1.50"}, {"SS": ["b", "a"]}, {"B": "AAEC/w=="}, {"M": {"n": {"N": "1"}}}, {"NULL": True}]
    items = []
    for i in range(30):
        item = {"id": {"S": f"user#{i % 7}"}, "ts": {"N": f"{i}.50"}, "when": {"N": str(1000 - i)},
                "n": values[i % len(values)], "m": {"M": {"n": {"S": "inner"}, "id": {"L": [{"N": "01"}]}}}}
        if i % 2 == 0:
            item["g"] = {"S": f"group-{i % 3}"}
        items.append(item)
    return items


def key_schema(keys: list[dict]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in keys]


def test_renamed_keys_index_and_attribute_reach_a_created_target_and_the_validator_agrees(moto_source, moto_target,
                                                                                          tmp_path):
    """Renames of the hash key, the range key, a GSI key and a plain attribute in one run: the created target has
    the new names in its key schema, attribute definitions and indexes; every item arrives renamed with its values
    as sent; the validator with the same config finds no difference, and finds a changed item under its new names."""
    source_table, target_table = fresh_table_name("renames"), fresh_table_name("renames-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **SOURCE_SCHEMA)
    items = source_items()
    assert fill_table(source, source_table, items) == len(items)
    config = write_config(tmp_path / "renames.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 3},
                          top={"renames": [{"from": old, "to": new} for old, new in RENAMES.items()]})

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert f"target table {target_table!r} does not exist; creating it (PAY_PER_REQUEST, 1 GSI, 1 LSI)" in run.stdout
    assert f"migrator verdict: OK - all {len(items)} scanned items were written" in run.stdout
    assert (f"renames: id -> pk (hash key), ts -> sk (range key), g -> group (key of index by_g), n -> count; items "
            f"are written to alternator table {target_table!r} under the new names") in run.stdout
    table = target.describe_table(TableName=target_table)["Table"]
    assert key_schema(table["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert sorted((d["AttributeName"], d["AttributeType"]) for d in table["AttributeDefinitions"]) == [
        ("group", "S"), ("pk", "S"), ("sk", "N"), ("when", "N")]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert key_schema(gsi["KeySchema"]) == [("group", "HASH"), ("sk", "RANGE")]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["count"]}
    (lsi,) = table["LocalSecondaryIndexes"]
    assert key_schema(lsi["KeySchema"]) == [("pk", "HASH"), ("when", "RANGE")]
    expected = sorted((renamed(item, RENAMES) for item in items), key=lambda i: (i["pk"]["S"], float(i["sk"]["N"])))
    assert sorted(scan_all(target, target_table), key=lambda i: (i["pk"]["S"], float(i["sk"]["N"]))) == expected
    assert expected[0]["m"] == {"M": {"n": {"S": "inner"}, "id": {"L": [{"N": "01"}]}}}  # nested names kept

    report = tmp_path / "same.json"
    same = run_submit("--validate", config, "--report", str(report), "--master", "local[2]")

    assert same.returncode == 0, describe(same.stdout)
    assert ("renames: id -> pk (hash key), ts -> sk (range key), g -> group (key of index by_g), n -> count; source "
            "items are compared under the new names, target keys looked up on the source under the old ones") \
        in same.stdout
    assert (f"validator verdict: IDENTICAL - all {len(items)} source items are on the target with equal values, "
            f"and all {len(items)} target items exist on the source") in same.stdout

    changed = renamed(items[4], RENAMES)  # an item of the GSI: its renamed index key changes
    target.put_item(TableName=target_table, Item={**changed, "group": {"S": "moved"}})
    report = tmp_path / "diff.json"
    different = run_submit("--validate", config, "--report", str(report), "--master", "local[2]")

    assert different.returncode == 1, describe(different.stdout)
    assert (f"validator verdict: DIFFERENT - 0 missing, 1 differing, 0 extra ({len(items)} source and {len(items)} "
            "target items checked)") in different.stdout
    key = {"pk": changed["pk"], "sk": changed["sk"]}
    assert json.loads(report.read_text())["examples"] == [
        {"kind": "differing", "key": key, "differences": [f'group: S "{changed["group"]["S"]}" != S "moved"']}]


def test_an_item_that_already_has_a_new_name_fails_the_job_naming_its_key_and_both_attributes(moto_source,
                                                                                             moto_target, tmp_path):
    """One source item holds both `n` and `count` with renames n -> count: exit 1, one error line naming the item's
    key and both attributes; that item is not on the target, under either name."""
    source_table, target_table = fresh_table_name("conflict"), fresh_table_name("conflict-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
    items = [{"id": {"S": f"item-{i}"}, "n": {"N": str(i)}} for i in range(10)]
    items[6]["count"] = {"N": "600"}
    fill_table(source, source_table, items)
    config = write_config(tmp_path / "conflict.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 1},
                          top={"renames": [{"from": "id", "to": "pk"}, {"from": "n", "to": "count"}]})

    run = run_submit(config, "--master", "local[1]")

    assert run.returncode == 1, describe(run.stdout)
    conflict = ("""the item with key {"id":{"S":"item-6"}} has both 'n' and 'count', and renames map 'n' to 'count': """
                """one value would overwrite the other; remove 'count' from such items, or rename 'n' to a name no """
                """item uses""")
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error:")]
    assert errors == [f"migrator: error: the Spark job failed: TransferError: segment 0/1 of source table "
                      f"{source_table!r} -> target table {target_table!r}: {conflict}"], describe(run.stdout)
    assert "migrator verdict: OK" not in run.stdout
    assert {"pk": {"S": "item-6"}} not in [{"pk": i["pk"]} for i in scan_all(target, target_table)]
