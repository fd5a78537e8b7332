"""The migration end to end: two moto servers on loopback, the job run through ./submit.sh and spark-submit."""

from __future__ import annotations

import json
import re

import pytest

from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.sample_items import canonical
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import REPO, SparkUiWatch, describe, run_submit, task_counts, write_config
from tests.integration.unprocessed_proxy import UnprocessedProxy

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])


def assert_same_items(source_client, source_table, target_client, target_table, expected_count, *, exact=False):
    """Target == source item by item; `exact` compares the wire format to the letter (number spelling, set order)."""
    source_items = scan_all(source_client, source_table)
    target_items = scan_all(target_client, target_table)
    assert len(source_items) == expected_count
    assert len(target_items) == expected_count
    for source_item, target_item in zip(source_items, target_items):
        if exact:
            assert target_item == source_item
        else:
            assert canonical(target_item) == canonical(source_item)


def test_every_attribute_type_arrives_exactly_and_task_counts_add_up(moto_source, moto_target, tmp_path):
    """Edge values of every type, scanSegments 8 / maxMapTasks 3: target == source in wire format; task lines sum up."""
    source_table, target_table = fresh_table_name("edge"), fresh_table_name("edge-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    items = sample_items.edge_items()
    assert fill_table(source, source_table, items) == len(items)
    events = tmp_path / "events"
    events.mkdir()
    config = write_config(tmp_path / "edge.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 8, "maxMapTasks": 3})

    with SparkUiWatch() as ui:
        run = run_submit(config, "--conf", "spark.eventLog.enabled=true", "--conf",
                         f"spark.eventLog.dir=file://{events}", "--conf", "spark.eventLog.compress=false", "--conf",
                         "spark.eventLog.rolling.enabled=false", *ui.spark_args)

    assert run.returncode == 0, describe(run.stdout)
    assert_same_items(source, source_table, target, target_table, len(items), exact=True)
    assert sorted(scan_all(target, target_table), key=lambda i: i["id"]["S"]) == \
        sorted(items, key=lambda i: i["id"]["S"])
    counts = task_counts(run.stdout)
    assert len(counts) == 3, describe(run.stdout)
    assert sorted(s for segments, _ in counts.values() for s in segments) == list(range(8))
    assert sum(n for _, n in counts.values()) == len(items)
    assert f"migrator verdict: OK - all {len(items)} scanned items were written" in run.stdout
    assert "dummy-secret" not in run.stdout
    # What the Spark UI shows comes from these events: the job names both tables and the segment count.
    log_text = "".join(p.read_text() for p in events.rglob("*") if p.is_file())
    assert "dummy-secret" not in log_text
    descriptions = [json.loads(line)["Properties"].get("spark.job.description", "")
                    for line in log_text.splitlines() if '"Event":"SparkListenerJobStart"' in line]
    assert any(source_table in d and target_table in d and "8 of 8 segments" in d for d in descriptions), descriptions
    # ... and the UI's REST API, while the job ran: the job and its stage name the tables, the phase and the units.
    copy = (f"migrate dynamodb table {source_table!r} -> alternator table {target_table!r}, snapshot copy: 8 of 8 "
            "segments in 3 tasks")
    assert [job["description"] for job in ui.jobs] == [copy], ui.jobs
    assert [stage.get("description") for stage in ui.stages] == [copy], ui.stages
    # The quiet console (dist/log4j2.properties): none of Spark's INFO lines, the migrator's lines all there.
    spark_info = [line for line in run.stdout.splitlines() if re.match(r"\d\d/\d\d/\d\d [\d:]{8} INFO ", line)]
    assert spark_info == [], spark_info[:5]
    assert "Using Spark's default log4j profile" not in run.stdout
    # submit.sh's JVM options (C1 JIT, serial collector) reached the driver, and each task logged its CPU.
    environment = next(json.loads(line) for line in log_text.splitlines()
                       if '"Event":"SparkListenerEnvironmentUpdate"' in line)
    assert environment["Spark Properties"]["spark.driver.defaultJavaOptions"] == \
        f'-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "-Dlog4j2.configurationFile={REPO}/dist/log4j2.properties"'
    assert environment["Spark Properties"]["spark.executor.defaultJavaOptions"] == \
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    assert len(re.findall(r"transferred \d+ items in [\d.]+ s \(CPU [\d.]+ s", run.stdout)) == 3, describe(run.stdout)


def test_composite_key_table_gets_its_indexes_on_the_created_target(moto_source, moto_target, tmp_path):
    """A source with hash+range key, a GSI and an LSI: the created target has the same keys and indexes."""
    source_table, target_table = fresh_table_name("orders"), fresh_table_name("orders-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    sample_data.create_demo_table(source, source_table)
    count = fill_table(source, source_table, sample_items.demo_items(600))
    config = write_config(tmp_path / "composite.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4})

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert_same_items(source, source_table, target, target_table, count)
    want = source.describe_table(TableName=source_table)["Table"]
    got = target.describe_table(TableName=target_table)["Table"]
    assert got["KeySchema"] == want["KeySchema"]
    assert {tuple(sorted(a.items())) for a in got["AttributeDefinitions"]} == \
        {tuple(sorted(a.items())) for a in want["AttributeDefinitions"]}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in got[kind]] == \
            [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in want[kind]]
    assert sum(n for _, n in task_counts(run.stdout).values()) == count


def test_items_left_unprocessed_by_the_target_are_resent(moto_source, moto_target, tmp_path):
    """A target that leaves part of every batch in UnprocessedItems still ends up with every item."""
    source_table, target_table = fresh_table_name("partial"), fresh_table_name("partial-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    items = [{"id": {"S": f"item-{i:05d}"}, "n": {"N": str(i)}, "s": {"S": "x" * (i % 50)}} for i in range(1500)]
    fill_table(source, source_table, items)
    with UnprocessedProxy(moto_target.url) as proxy:
        config = write_config(tmp_path / "partial.yaml", moto_source.url, source_table, proxy.url, target_table,
                              source_extra={"scanSegments": 4})
        run = run_submit(config, "--master", "local[2]")
        returned = proxy.counts()["items_unprocessed"]

    assert run.returncode == 0, describe(run.stdout)
    assert returned > 0, "the proxy never answered with UnprocessedItems"
    assert_same_items(source, source_table, target, target_table, len(items))
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(items)


def test_target_with_another_key_schema_is_refused_before_any_write(moto_source, moto_target, tmp_path):
    """An existing target whose key differs from the source's stops the job with a message naming both."""
    source_table, target_table = fresh_table_name("keys"), fresh_table_name("keys-other")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    fill_table(source, source_table, [{"id": {"S": "a"}}])
    create_table(target, target_table, key_schema=[{"AttributeName": "other", "KeyType": "HASH"}],
                 attribute_definitions=[{"AttributeName": "other", "AttributeType": "N"}])
    config = write_config(tmp_path / "keys.yaml", moto_source.url, source_table, moto_target.url, target_table)

    run = run_submit(config, "--master", "local[1]")

    assert run.returncode == 1, describe(run.stdout)
    assert (f"target table {target_table!r} has key schema (other HASH N) but source table {source_table!r} has "
            "(id HASH S)" in run.stdout)
    assert target.scan(TableName=target_table)["Count"] == 0


def test_missing_source_table_is_a_clear_error(moto_source, moto_target, tmp_path):
    """A source table that does not exist is named in a one-line error, exit status 1."""
    config = write_config(tmp_path / "missing.yaml", moto_source.url, "no-such-table", moto_target.url, "whatever")
    run = run_submit(config, "--master", "local[1]")
    assert run.returncode == 1, describe(run.stdout)
    assert "migrator: error: source table 'no-such-table' does not exist at " in run.stdout
    assert "Traceback" not in run.stdout


@pytest.mark.parametrize("source_extra, top, message", [
    ({"scanSegments": 0}, {}, "migrator: error: source.scanSegments: must be"),
    ({"tabel": "x"}, {}, "migrator: error: source.tabel: unknown key; did you mean 'table'?"),
    ({}, {"renames": [{"from": "a", "to": "b"}, {"from": "c", "to": "b"}]},
     "migrator: error: renames[1].to: 'b' is also the new name of 'a' (renames[0])"),
])
def test_bad_config_through_spark_submit_is_one_line_and_status_2(moto_source, moto_target, tmp_path,
                                                                  source_extra, top, message):
    """spark-submit exits 2 and prints one error line naming the key; no Python traceback."""
    config = write_config(tmp_path / "bad.yaml", moto_source.url, "src", moto_target.url, "dst",
                          source_extra=source_extra, top=top)
    run = run_submit(config, "--master", "local[1]")
    assert run.returncode == 2, describe(run.stdout)
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error:")]
    assert len(errors) == 1 and errors[0].startswith(message), describe(run.stdout)
    assert "Traceback" not in run.stdout


def test_a_scylla_migrator_config_runs_unchanged(moto_source, moto_target, tmp_path):
    """scylla-migrator's own DynamoDB -> Alternator YAML (savepoints, validation, renames: []) runs as it is,
    and writes its final savepoint, without the credentials."""
    from pathlib import Path

    text = (Path(__file__).parent / "configs" / "scylla-migrator-dynamodb-to-alternator.yaml").read_text()
    config = tmp_path / "config.dynamodb.yaml"
    savepoints = tmp_path / "savepoints"
    config.write_text(text.replace("SOURCE_PORT", str(moto_source.port)).replace("TARGET_PORT", str(moto_target.port))
                      .replace("path: /app/savepoints", f"path: {savepoints}"))
    source = client_for(moto_source, region="us-west-1")
    target = client_for(moto_target, region="us-west-1")
    for client in (source, target):
        if "Example" in client.list_tables()["TableNames"]:
            client.delete_table(TableName="Example")
    create_table(source, "Example", **HASH_KEY)
    items = [{"id": {"S": str(i)}, "foo": {"S": "bar"}, "n": {"N": str(i * 1.5)}} for i in range(50)]
    fill_table(source, "Example", items)

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert_same_items(source, "Example", target, "Example", len(items))
    final = sorted(savepoints.glob("savepoint_*.yaml"))[-1].read_text()
    assert "(final)" in final.splitlines()[0] and "skipSegments: [0, 1, 2]" in final
    assert "dummy" not in final  # the access and secret keys
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(items)


def test_throttling_overload_and_server_errors_are_retried_without_failing_a_task(moto_source, moto_target, tmp_path):
    """Throttles, Alternator's RequestLimitExceeded and 500s on writes are retried; no task attempt fails."""
    source_table, target_table = fresh_table_name("flaky"), fresh_table_name("flaky-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    items = [{"id": {"S": f"item-{i:04d}"}} for i in range(300)]
    fill_table(source, source_table, items)
    errors = [(400, "ProvisionedThroughputExceededException"), (400, "RequestLimitExceeded"),
              (500, "InternalServerError"), (400, "ThrottlingException")] * 2
    with UnprocessedProxy(moto_target.url, forward_every=1, scripted_errors=errors) as proxy:
        config = write_config(tmp_path / "flaky.yaml", moto_source.url, source_table, proxy.url, target_table,
                              source_extra={"scanSegments": 2})
        run = run_submit(config, "--master", "local[2]")
        sent = proxy.errors_sent

    assert run.returncode == 0, describe(run.stdout)
    assert sent == len(errors)
    assert "Lost task" not in run.stdout, describe(run.stdout)
    assert_same_items(source, source_table, target, target_table, len(items))


def test_a_task_that_fails_is_run_again_by_spark(moto_source, moto_target, tmp_path):
    """A refused write fails the task with table, segment and cause; Spark's retry then copies the segment.
    (AccessDeniedException: a ValidationException would be split to find a refused item instead.)"""
    source_table, target_table = fresh_table_name("retry"), fresh_table_name("retry-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, **HASH_KEY)
    items = [{"id": {"S": f"item-{i:04d}"}} for i in range(200)]
    fill_table(source, source_table, items)
    with UnprocessedProxy(moto_target.url, forward_every=1, scripted_errors=[(400, "AccessDeniedException")]) as proxy:
        config = write_config(tmp_path / "retry.yaml", moto_source.url, source_table, proxy.url, target_table,
                              source_extra={"scanSegments": 1})
        run = run_submit(config)  # submit.sh's default master allows 4 attempts per task

    assert run.returncode == 0, describe(run.stdout)
    assert "Lost task 0.0" in run.stdout, describe(run.stdout)
    assert (f"TransferError: segment 0/1 of source table {source_table!r} -> target table {target_table!r}: "
            f"BatchWriteItem of table {target_table!r} to ") in run.stdout
    assert "AccessDeniedException: injected by the test" in run.stdout
    assert_same_items(source, source_table, target, target_table, len(items))
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(items)
