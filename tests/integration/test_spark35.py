"""Spark 3.5, as EMR 7, Dataproc 2.2 and the Databricks LTS runtimes run it: dist/ submitted with its own spark-submit.

build/spark35 is a venv with pyspark==3.5.* and the runtime dependencies (`./build.sh spark35`; `./build.sh test`
makes it). Its python is the driver's and the executors': a Python worker must import the pyspark of the JVM that
started it, so .venv's PySpark 4 cannot serve a 3.5 JVM.
"""

from __future__ import annotations

import subprocess

import pytest

from migrator.demo import sample_items
from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import REPO, describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration

SPARK35_PYTHON = REPO / "build" / "spark35" / "bin" / "python"


def spark35_home() -> str:
    """SPARK_HOME of build/spark35: the folder of its pyspark package, which holds bin/spark-submit and the jars."""
    if not SPARK35_PYTHON.exists():
        pytest.fail(f"{SPARK35_PYTHON} not found: run ./build.sh spark35 (./build.sh test makes it)")
    found = subprocess.run([str(SPARK35_PYTHON), "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                           capture_output=True, text=True, check=True)
    return found.stdout.strip()


def test_spark_3_5_spark_submit_migrates_every_item_exactly(moto_source, moto_target, tmp_path):
    """SPARK_HOME=build/spark35's pyspark ./submit.sh, --py-files dist/migrator.zip: Spark 3.5 ran the driver and the
    executors, the target holds the source's items to the letter, and the task lines add up."""
    source_table, target_table = fresh_table_name("spark35"), fresh_table_name("spark35-copy")
    source, target = client_for(moto_source), client_for(moto_target)
    create_table(source, source_table, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
    items = sample_items.edge_items()
    assert fill_table(source, source_table, items) == len(items)
    config = write_config(tmp_path / "spark35.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4, "maxMapTasks": 2})

    run = run_submit(config, "--master", "local[2]", "--conf", f"spark.pyspark.python={SPARK35_PYTHON}",
                     env={"SPARK_HOME": spark35_home()})

    assert run.returncode == 0, describe(run.stdout)
    assert "Spark 3.5." in run.stdout and "PySpark 3.5." in run.stdout, describe(run.stdout)
    assert f"migrator verdict: OK - all {len(items)} scanned items were written" in run.stdout
    by_id = {item["id"]["S"]: item for item in items}
    copied = scan_all(target, target_table)
    assert len(copied) == len(items)
    for item in copied:
        assert item == by_id[item["id"]["S"]]
    counts = task_counts(run.stdout)
    assert len(counts) == 2, describe(run.stdout)
    assert sorted(s for segments, _ in counts.values() for s in segments) == list(range(4))
    assert sum(n for _, n in counts.values()) == len(items)
