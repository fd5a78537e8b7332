"""The migration on a Spark standalone cluster: code and dependencies reach executors as on a real cluster."""

from __future__ import annotations

import pytest

from migrator.demo import sample_data, sample_items
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import StandaloneCluster, describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration


def test_migration_on_a_standalone_cluster_ships_code_and_environment(moto_source, moto_target, tmp_path):
    """Master and worker on 127.0.0.1: executors run from --py-files and --archives; their task lines add up;
    they report finished segments to the driver, whose savepoint counts the items they reported."""
    source_table, target_table = fresh_table_name("cluster"), fresh_table_name("cluster-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    sample_data.create_demo_table(source, source_table)
    count = sample_data.fill_table(source, source_table, sample_items.demo_items(1000))
    config = write_config(tmp_path / "cluster.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 6, "maxMapTasks": 3},
                          top={"savepoints": {"path": str(tmp_path / "savepoints"), "intervalSeconds": 60}})

    with StandaloneCluster(tmp_path / "spark") as cluster:
        run = run_submit(config, "--master", cluster.master_url, "--conf", "spark.executor.memory=1g")
        app_dirs = list((tmp_path / "spark" / "work").glob("app-*/*"))

    assert run.returncode == 0, describe(run.stdout)
    assert "migrator verdict: OK" in run.stdout
    # The executors ran in their own folders, with the shipped archive unpacked and the package zip beside it.
    assert app_dirs, "no executor ran on the worker"
    assert all((d / "environment" / "bin" / "python").exists() for d in app_dirs)
    assert all((d / "migrator.zip").exists() for d in app_dirs)
    # On a cluster the task lines are in the executors' stderr logs, not in the driver's output.
    executor_logs = "".join((d / "stderr").read_text() for d in app_dirs)
    counts = task_counts(executor_logs)
    assert len(counts) == 3, executor_logs[-3000:]
    assert sorted(s for segments, _ in counts.values() for s in segments) == list(range(6))
    assert sum(n for _, n in counts.values()) == count
    assert target.scan(TableName=target_table, Select="COUNT")["Count"] == count
    # Item counts reach a savepoint only through the executors' progress reports to the driver.
    final = sorted((tmp_path / "savepoints").glob("savepoint_*.yaml"))[-1].read_text()
    assert f"# progress: 6 of 6 segments done, 0 remain; {count} items copied" in final
    assert "could not report segment" not in executor_logs
