"""Items the target refuses, end to end: a moto source holds empty string sets, which dynalite (like DynamoDB)
refuses with ValidationException; the job names the item, or writes it to the dead-letter file, and exits 1."""

from __future__ import annotations

import json

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration

KEYS = dict(key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            attribute_definitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                   {"AttributeName": "sk", "AttributeType": "N"}])
GOOD = [{"pk": {"S": f"p{i % 40:03d}"}, "sk": {"N": str(i)}, "v": {"S": "x" * 50}, "tags": {"SS": ["a", "b"]}}
        for i in range(400)]
# moto stores an empty string set; DynamoDB and dynalite refuse it: "An string set  may not be empty".
BAD = [{"pk": {"S": "p007"}, "sk": {"N": "1007"}, "tags": {"SS": []}},
       {"pk": {"S": "p031"}, "sk": {"N": "2031"}, "tags": {"SS": []}, "v": {"S": "y"}}]


@pytest.fixture(scope="module")
def dynalite_target(tmp_path_factory):
    with start_dynalite(tmp_path_factory.mktemp("dynalite")) as server:
        yield server


def source_with_refused_items(moto_source) -> str:
    table = fresh_table_name("refused")
    source = client_for(moto_source)
    create_table(source, table, **KEYS)
    assert fill_table(source, table, GOOD + BAD) == len(GOOD) + len(BAD)
    assert sum(1 for i in scan_all(source, table) if i["tags"] == {"SS": []}) == len(BAD)  # moto kept them as they are
    return table


def by_key(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(i["pk"]["S"], i["sk"]["N"]): i for i in items}


def test_an_item_the_target_refuses_fails_the_job_naming_its_key(moto_source, dynalite_target, tmp_path):
    """Without a dead-letter directory: exit 1, and the error names the item's key, the tables, the segment and
    the server's reason; the other items of its batch are written."""
    source_table, target_table = source_with_refused_items(moto_source), fresh_table_name("refused-copy")
    config = write_config(tmp_path / "refused.yaml", moto_source.url, source_table, dynalite_target.url,
                          target_table, source_extra={"scanSegments": 1})

    run = run_submit(config, "--master", "local[1]")

    assert run.returncode == 1, describe(run.stdout)
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error:")]
    assert len(errors) == 1, describe(run.stdout)
    assert (f"segment 0/1 of source table {source_table!r} -> target table {target_table!r}: target table "
            f"{target_table!r} refused the item with key ") in errors[0], errors[0]
    named = [f'{{"pk":{{"S":"{b["pk"]["S"]}"}},"sk":{{"N":"{b["sk"]["N"]}"}}}}' for b in BAD]
    assert any(key in errors[0] for key in named), errors[0]
    assert "ValidationException: One or more parameter values were invalid" in errors[0], errors[0]
    assert "set target.deadLetterPath" in errors[0]
    assert "migrator verdict: OK" not in run.stdout


def test_with_a_dead_letter_directory_refused_items_go_to_its_file_and_the_job_exits_1(
        moto_source, dynalite_target, tmp_path):
    """deadLetterPath: every other item is on the target, the file holds exactly the refused items in DynamoDB
    JSON ({"Item": ...} per line), the verdict counts them, and the exit status is 1."""
    source_table, target_table = source_with_refused_items(moto_source), fresh_table_name("refused-copy")
    dead = tmp_path / "rejected"
    config = write_config(tmp_path / "dead.yaml", moto_source.url, source_table, dynalite_target.url, target_table,
                          source_extra={"scanSegments": 4}, target_extra={"deadLetterPath": str(dead)})

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 1, describe(run.stdout)
    target_items = scan_all(client_for(dynalite_target), target_table)
    assert by_key(target_items) == by_key(GOOD)
    files = list(dead.iterdir())
    assert len(files) == 1 and files[0].name.startswith(f"{target_table}-rejected-"), files
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert all(set(record) == {"Item"} for record in records) and len(records) == len(BAD)
    assert by_key([record["Item"] for record in records]) == by_key(BAD)
    assert (f"migrator verdict: FAILED - {len(BAD)} items rejected by the target, written to {files[0]}; the other "
            f"{len(GOOD)} of {len(GOOD) + len(BAD)} scanned items were written") in run.stdout, describe(run.stdout)
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(GOOD)
    assert run.stdout.count("kept for the dead-letter file") >= len(BAD)
