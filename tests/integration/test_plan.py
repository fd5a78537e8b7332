"""./submit.sh CONFIG --plan against moto: the plan's figures for a table of known size, and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.demo.sample_data import create_table, fill_table
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.export_files import build_export, new_bucket, s3_client
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.test_export_source import demo_files, export_config
from tests.integration.test_export_target import export_config as to_export_config

pytestmark = pytest.mark.integration


def planned(config: Path) -> tuple[list[str], str]:
    """./submit.sh CONFIG --plan, which must exit 0: its lines without the `migrator plan: ` prefix, and their text."""
    run = run_submit(config, "--plan", "--master", "local[2]")
    assert run.returncode == 0, describe(run.stdout)
    lines = [line.removeprefix("migrator plan: ") for line in run.stdout.splitlines()
             if line.startswith("migrator plan: ")]
    return lines, "\n".join(lines)


def test_the_plan_prints_tables_tasks_budgets_units_and_duration_and_writes_nothing(moto_source, moto_target,
                                                                                    tmp_path):
    """300 items of about 1.5 KB, 6 segments of which 2 are done, 2 tasks, budgets of 50 RCU/s and 25 WCU/s:
    2 WCU per item, 600 WCU, 24 s of writing; no target table, no savepoint."""
    source_table, target_table = fresh_table_name("plan"), fresh_table_name("plan-copy")
    source = client_for(moto_source)
    create_table(source, source_table, [{"AttributeName": "id", "KeyType": "HASH"}],
                 [{"AttributeName": "id", "AttributeType": "S"}])
    fill_table(source, source_table, ({"id": {"S": f"k{i:04d}"}, "body": {"S": "x" * 1500}} for i in range(300)))
    savepoints = tmp_path / "savepoints"
    config = write_config(tmp_path / "plan.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 6, "maxMapTasks": 2, "readThroughput": 100},
                          target_extra={"writeThroughput": 50},
                          top={"renames": [{"from": "id", "to": "key"}], "skipSegments": [1, 4],
                               "savepoints": {"path": str(savepoints), "intervalSeconds": 60}})

    lines, text = planned(config)

    assert f"source: dynamodb table {source_table!r}" in lines, text
    assert "  keys: id HASH S; indexes: none" in lines, text
    assert ("  DescribeTable: ItemCount 300, TableSizeBytes 0 (0 B); approximate: AWS refreshes them about every "
            "six hours") in lines, text
    assert f"target: alternator table {target_table!r}" in lines, text
    assert any(line.startswith("  does not exist; the copy would create it (the source's under source.renames: "
                               "{'id': 'key'}): keys key HASH S;") for line in lines), text
    assert "segments: 6 segments from source.scanSegments" in lines, text
    assert "  skipped, done by an earlier run: 2 segments [1, 4]; 4 remain" in lines, text
    assert any(line.startswith("tasks: 2 Spark tasks (source.maxMapTasks 2), 2 segments each") for line in lines)
    assert "  task 0: segments [0, 3]" in lines and "  task 1: segments [2, 5]" in lines, text
    assert any(line.startswith("read budget: 50 RCU/s (source.readThroughput 100 x 0.5)") for line in lines), text
    assert any(line.startswith("write budget: 25 WCU/s (target.writeThroughput 50 x 0.5)") for line in lines), text
    read = re.search(r"^read: about (\d+) RCU \(([\d.]+) KB / 4 KB x 0.5", text, re.M)
    assert read and 55 <= int(read.group(1)) <= 70, text  # 300 x ~1.55 KB of DynamoDB JSON / 4 KB / 2
    assert any(line.startswith("write: about 600 WCU (300 items x 2 WCU: items of 1.5 KB on average") for line in lines)
    assert any(line.startswith("duration: at least 24 s at these budgets") for line in lines), text
    assert lines[-1].startswith("nothing was written"), text
    # nothing written: no target table, no savepoint directory
    assert target_table not in client_for(moto_target).list_tables()["TableNames"]
    assert not savepoints.exists()


def test_the_plan_of_an_export_import_lists_its_files_and_items_and_writes_nothing(moto_source, moto_target,
                                                                                   tmp_path):
    """An S3 export of three data files (200, 0 and 100 items) into a table: the files per task with their
    manifest counts, no read units, at least 1 WCU per item, the duration at the write budget; no table made."""
    s3 = s3_client(moto_source.url)
    export = build_export(s3, new_bucket(s3), demo_files([200, 0, 100]))
    table = fresh_table_name("plan-export")
    config = export_config(tmp_path / "plan.yaml", moto_source, export.bucket, export.manifest_key,
                           moto_target.url, table, target_extra={"writeThroughput": 20})

    lines, text = planned(config)

    assert f"source: dynamodb-s3-export s3://{export.bucket}/{export.manifest_key}" in text, text
    assert "  export: FULL_EXPORT, 300 items in 3 data files (the manifest's counts, exact)" in lines, text
    assert "files: 3 data files listed in the manifest" in lines, text
    tasks = [line for line in lines if re.match(r"  task \d+: files \[", line)]
    assert sum(int(re.search(r", (\d+) items$", line).group(1)) for line in tasks) == 300, text
    assert any(line.startswith("read budget: none") for line in lines), text
    assert "read: none: S3 reads cost no capacity units" in lines, text
    assert any(line.startswith("write: at least 300 WCU (1 per item") for line in lines), text
    assert any(line.startswith("duration: at least 30 s at these budgets (writing 30 s;") for line in lines), text
    assert lines[-1].startswith("nothing was written"), text
    assert client_for(moto_target).list_tables()["TableNames"].count(table) == 0


def test_the_plan_of_an_export_to_a_directory_writes_no_file(moto_source, tmp_path):
    """A table written as an export to a local directory: the output is said to be empty, the S3 side has no
    capacity units, and the plan leaves the directory as it found it."""
    source_table = fresh_table_name("plan-to-export")
    source = client_for(moto_source)
    create_table(source, source_table, [{"AttributeName": "id", "KeyType": "HASH"}],
                 [{"AttributeName": "id", "AttributeType": "S"}])
    fill_table(source, source_table, ({"id": {"S": f"k{i:03d}"}, "v": {"N": str(i)}} for i in range(50)))
    output = tmp_path / "export"
    output.mkdir()
    config = to_export_config(tmp_path, moto_source.url, source_table, str(output), segments=2)

    lines, text = planned(config)

    assert f"  output: {output}: empty" in lines, text
    assert "write: none: an S3 export is written without capacity units" in lines, text
    assert any(line.startswith("read: about ") for line in lines), text
    assert lines[-1].startswith("nothing was written"), text
    assert list(output.iterdir()) == []
