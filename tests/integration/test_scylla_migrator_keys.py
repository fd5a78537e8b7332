"""A config that scylla-migrator runs runs here: keys it accepts but that have no effect here are one warning line
each, end to end through ./submit.sh and spark-submit."""

from __future__ import annotations

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, write_config


def test_target_max_map_tasks_and_skip_token_ranges_run_with_one_warning_each(moto_source, moto_target, tmp_path):
    """scylla-migrator's test configs put maxMapTasks under target and skipTokenRanges at the top: the copy runs
    (exit 0, every item) and each key gets one warning naming why it has no effect and where it would have one."""
    source_table, target_table = fresh_table_name("upstream"), fresh_table_name("upstream-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
    items = [{"id": {"S": f"item-{i:03d}"}} for i in range(40)]
    fill_table(source, source_table, items, threads=1)
    config = write_config(tmp_path / "upstream.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 2}, target_extra={"maxMapTasks": 4},
                          top={"skipTokenRanges": []})

    run = run_submit(config, "--master", "local[1]")  # one task at a time: moto loses concurrent writes (issue 10)

    assert run.returncode == 0, describe(run.stdout)
    assert len(scan_all(target, target_table)) == len(items)
    warnings = [line for line in run.stdout.splitlines() if "has no effect" in line]
    assert len(warnings) == 2, describe(run.stdout)
    assert warnings[0].endswith("WARNING migrator: skipTokenRanges: has no effect; it lists the CQL token ranges a "
                                "run has done, read only with a Cassandra or Scylla source")
    assert warnings[1].endswith("WARNING migrator: target.maxMapTasks: has no effect; the number of tasks comes "
                                "from source.maxMapTasks")
