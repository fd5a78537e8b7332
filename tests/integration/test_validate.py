"""The validator end to end: two moto servers on loopback, ./submit.sh --validate through spark-submit."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from migrator.demo import sample_items
from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, validator_counts, write_config

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
COMPOSITE_KEY = dict(key_schema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}],
                     attribute_definitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                            {"AttributeName": "sk", "AttributeType": "N"}])
TOLERANCE = 0.001


def tables(moto_source, moto_target, prefix: str, source_items: list[dict], target_items: list[dict],
           key: dict) -> tuple[str, str]:
    source_table, target_table = fresh_table_name(prefix), fresh_table_name(f"{prefix}-copy")
    for server, table, items in ((moto_source, source_table, source_items), (moto_target, target_table, target_items)):
        client = client_for(server)
        create_table(client, table, **key)
        fill_table(client, table, items)
    return source_table, target_table


def validate(config, *args: str):
    return run_submit("--validate", config, *args)


def injected(items: list[dict]) -> tuple[list[dict], dict]:
    """The target for the difference tests, and the source keys of what was changed.

    Item 10 missing, one extra item, item 20's price beyond the tolerance, item 30's within it, item 40's tags in
    another order, item 50's address.geo[1] changed.
    """
    target = copy.deepcopy(items)
    changed = {name: {k: items[i][k] for k in ("pk", "sk")}
               for name, i in (("missing", 10), ("beyond", 20), ("within", 30), ("order", 40), ("nested", 50))}
    target[20]["price"] = {"N": str(Decimal(items[20]["price"]["N"]) + 1)}
    target[30]["price"] = {"N": str(Decimal(items[30]["price"]["N"]) + Decimal("0.0005"))}
    target[40]["tags"] = {"SS": list(reversed(items[40]["tags"]["SS"]))}
    geo = target[50]["address"]["M"]["geo"]["L"]
    geo[1] = {"N": str(int(geo[1]["N"]) + 1)}
    del target[10]
    extra = {"pk": {"S": "customer#extra"}, "sk": {"N": "1"}, "title": {"S": "only on the target"}}
    changed["extra"] = {k: extra[k] for k in ("pk", "sk")}
    return target + [extra], changed


def test_identical_tables_exit_0_with_all_counts_0(moto_source, moto_target, tmp_path):
    """Every attribute type, edge values and a 390 KB item: exit 0, every item checked both ways, nothing differs;
    the Spark UI's job descriptions name both tables, the mode and the pass."""
    items = sample_items.edge_items() + [{"id": {"S": f"plain-{i:04d}"}, "n": {"N": str(i)}} for i in range(200)]
    source_table, target_table = tables(moto_source, moto_target, "same", items, items, HASH_KEY)
    events = tmp_path / "events"
    events.mkdir()
    config = write_config(tmp_path / "same.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 5, "maxMapTasks": 2})
    report = tmp_path / "report.json"

    run = validate(config, "--report", str(report), "--master", "local[2]", "--conf", "spark.eventLog.enabled=true",
                   "--conf", f"spark.eventLog.dir=file://{events}", "--conf", "spark.eventLog.compress=false",
                   "--conf", "spark.eventLog.rolling.enabled=false")

    assert run.returncode == 0, describe(run.stdout)
    assert validator_counts(run.stdout) == {"source": len(items), "target": len(items), "missing": 0,
                                            "differing": 0, "extra": 0}
    assert (f"validator verdict: IDENTICAL - all {len(items)} source items are on the target with equal values, and "
            f"all {len(items)} target items exist on the source") in run.stdout
    document = json.loads(report.read_text())
    assert document["verdict"] == "identical" and document["examples"] == []
    assert document["counts"] == {"sourceItemsChecked": len(items), "targetItemsChecked": len(items), "missing": 0,
                                  "differing": 0, "extra": 0, "copied": 0, "rewritten": 0, "deleted": 0,
                                  "expired": 0}
    assert "dummy-secret" not in run.stdout and "dummy-secret" not in report.read_text()
    log_text = "".join(p.read_text() for p in events.rglob("*") if p.is_file())
    assert "dummy-secret" not in log_text
    descriptions = [json.loads(line)["Properties"].get("spark.job.description", "")
                    for line in log_text.splitlines() if '"Event":"SparkListenerJobStart"' in line]
    for number in (1, 2):
        assert any(f"validate (full) pass {number}/2" in d and source_table in d and target_table in d
                   and "5 of 5 segments in 2 tasks" in d for d in descriptions), descriptions


def test_injected_differences_are_counted_and_shown_exactly(moto_source, moto_target, tmp_path):
    """A missing item, an extra one, a number beyond the tolerance, one within it, a set in another order and a
    changed nested number: 1 missing, 2 differing, 1 extra, with their keys and attribute paths; exit 1. CQL-only
    keys are ignored with a log line."""
    items = list(sample_items.demo_items(300))
    target_items, changed = injected(items)
    source_table, target_table = tables(moto_source, moto_target, "diff", items, target_items, COMPOSITE_KEY)
    stored = {(i["pk"]["S"], i["sk"]["N"]): i for i in scan_all(client_for(moto_target), target_table)}
    order = changed["order"]
    assert stored[(order["pk"]["S"], order["sk"]["N"])]["tags"]["SS"] == list(reversed(items[40]["tags"]["SS"])), \
        "the target server did not keep the other set order, so this test would not check it"
    config = write_config(tmp_path / "diff.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4},
                          top={"validation": {"failuresToFetch": 10, "floatingPointTolerance": TOLERANCE,
                                              "compareTimestamps": True, "ttlToleranceMillis": 60000}})
    report = tmp_path / "report.json"

    run = validate(config, "--report", str(report), "--master", "local[2]")

    assert run.returncode == 1, describe(run.stdout)
    assert "validation: compareTimestamps, ttlToleranceMillis accepted for scylla-migrator configs and ignored" \
        in run.stdout
    assert validator_counts(run.stdout) == {"source": 300, "target": 300, "missing": 1, "differing": 2, "extra": 1}
    assert "validator verdict: DIFFERENT - 1 missing, 2 differing, 1 extra (300 source and 300 target items checked)" \
        in run.stdout
    price, new_price = items[20]["price"]["N"], target_items[19]["price"]["N"]
    geo, new_geo = items[50]["address"]["M"]["geo"]["L"][1]["N"], target_items[49]["address"]["M"]["geo"]["L"][1]["N"]
    document = json.loads(report.read_text())
    assert sorted(document["examples"], key=lambda e: (e["kind"], e["key"]["sk"]["N"])) == sorted([
        {"kind": "missing", "key": changed["missing"], "differences": []},
        {"kind": "differing", "key": changed["beyond"],
         "differences": [f"price: N {price} != N {new_price} (off by 1, tolerance {TOLERANCE})"]},
        {"kind": "differing", "key": changed["nested"],
         "differences": [f"address.geo[1]: N {geo} != N {new_geo} (off by 1, tolerance {TOLERANCE})"]},
        {"kind": "extra", "key": changed["extra"], "differences": []},
    ], key=lambda e: (e["kind"], e["key"]["sk"]["N"]))
    assert document["counts"]["missing"] == 1 and document["counts"]["extra"] == 1
    key_text = json.dumps(changed["nested"], separators=(",", ":"))
    assert f"differing {key_text}: address.geo[1]: N {geo} != N {new_geo}" in run.stdout
    assert f"missing {json.dumps(changed['missing'], separators=(',', ':'))}" in run.stdout


def test_repair_then_validate_again_exits_0(moto_source, moto_target, tmp_path):
    """copyMissingRows, copyDifferingRows and deleteExtraRows repair the target; the next validation finds nothing."""
    items = list(sample_items.demo_items(300))
    target_items, _ = injected(items)
    source_table, target_table = tables(moto_source, moto_target, "repair", items, target_items, COMPOSITE_KEY)
    repair = {"floatingPointTolerance": TOLERANCE, "copyMissingRows": True, "copyDifferingRows": True,
              "deleteExtraRows": True}
    repair_config = write_config(tmp_path / "repair.yaml", moto_source.url, source_table, moto_target.url,
                                 target_table, source_extra={"scanSegments": 4}, top={"validation": repair})
    check_config = write_config(tmp_path / "check.yaml", moto_source.url, source_table, moto_target.url,
                                target_table, source_extra={"scanSegments": 4},
                                top={"validation": {"floatingPointTolerance": TOLERANCE}})

    repaired = validate(repair_config, "--report", str(tmp_path / "repair.json"), "--master", "local[2]")
    again = validate(check_config, "--report", str(tmp_path / "again.json"), "--master", "local[2]")

    assert repaired.returncode == 1, describe(repaired.stdout)  # differences were found (and repaired)
    assert (f"validator repair: target {target_table!r}: 1 missing copied, 2 differing rewritten, 1 extra deleted; "
            "run the validator again to confirm") in repaired.stdout
    assert again.returncode == 0, describe(again.stdout)
    assert validator_counts(again.stdout) == {"source": 300, "target": 300, "missing": 0, "differing": 0, "extra": 0}
    assert json.loads((tmp_path / "again.json").read_text())["verdict"] == "identical"


def test_sample_of_a_whole_small_table_finds_the_difference(moto_source, moto_target, tmp_path):
    """--sample larger than the table reads every segment: all 200 items each way, the one changed item found."""
    items = [{"id": {"S": f"item-{i:04d}"}, "n": {"N": str(i)}, "s": {"SS": ["a", f"b{i}"]}} for i in range(200)]
    target_items = copy.deepcopy(items)
    target_items[123]["s"] = {"SS": ["a", "changed"]}
    source_table, target_table = tables(moto_source, moto_target, "sample", items, target_items, HASH_KEY)
    config = write_config(tmp_path / "sample.yaml", moto_source.url, source_table, moto_target.url, target_table)
    report = tmp_path / "report.json"

    run = validate(config, "--sample", "2000", "--report", str(report), "--master", "local[2]")

    assert run.returncode == 1, describe(run.stdout)
    assert "sample of 2000 items on each side: all of 200 segments" in run.stdout
    assert validator_counts(run.stdout) == {"source": 200, "target": 200, "missing": 0, "differing": 1, "extra": 0}
    document = json.loads(report.read_text())
    assert document["mode"] == "sample" and document["sample"]["totalSegments"] == 200
    assert document["examples"] == [{"kind": "differing", "key": {"id": {"S": "item-0123"}}, "differences": [
        's: SS members differ: only on the source ["b123"]; only on the target ["changed"]']}]


def test_a_validation_that_cannot_run_exits_2(moto_source, moto_target, tmp_path):
    """A target table that does not exist is an error (status 2, one line), not a difference (status 1)."""
    source_table = fresh_table_name("lonely")
    create_table(client_for(moto_source), source_table, **HASH_KEY)
    config = write_config(tmp_path / "missing.yaml", moto_source.url, source_table, moto_target.url, "no-such-table")

    run = validate(config, "--master", "local[1]")

    assert run.returncode == 2, describe(run.stdout)
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error:")]
    assert errors == [f"migrator: error: target table 'no-such-table' does not exist at {moto_target.url}; "
                      "check target.table and target.endpoint"], describe(run.stdout)
    assert "Traceback" not in run.stdout
