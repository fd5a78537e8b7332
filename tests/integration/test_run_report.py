"""The run report end to end through ./submit.sh: a successful run's JSON and HTML carry the total, the per-task
counts and the items/s series without the config's secrets; a failed run's report says what failed."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from migrator.demo.sample_data import create_table, fill_table
from migrator.demo.servers import client_for, start_dynalite
from migrator.reports.document import FAILED, FROM_LIVE, FROM_NOTHING, FROM_RESULTS, STOPPED, SUCCEEDED
from tests.conftest import fresh_table_name
from tests.html_page import Page
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.test_refused_items import BAD, GOOD, KEYS
from tests.integration.test_savepoints import submitted, wait_until

pytestmark = pytest.mark.integration

SECRET = "dummy-secret"  # write_config's secretKey on both sides
ITEMS = [{"pk": {"S": f"p{i % 50:03d}"}, "sk": {"N": str(i)}, "v": {"S": "x" * 40}} for i in range(300)]


def test_a_successful_run_writes_a_report_with_the_total_the_tasks_and_the_series(moto_source, moto_target,
                                                                                   tmp_path):
    """--report PATH --progress-interval 1, a 3-second copy (writeThroughput 100): the JSON's total is the
    source's item count and the tasks add up to it; no secret in JSON or HTML; the page has the chart and bars."""
    source_table, target_table = fresh_table_name("report"), fresh_table_name("report-copy")
    create_table(client_for(moto_source), source_table, **KEYS)
    assert fill_table(client_for(moto_source), source_table, ITEMS) == len(ITEMS)
    config = write_config(tmp_path / "report.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4},
                          target_extra={"writeThroughput": 100, "throughputWritePercent": 1.0})
    path = tmp_path / "run.json"

    run = run_submit(config, "--master", "local[2]", "--report", str(path), "--progress-interval", "1")

    assert run.returncode == 0, describe(run.stdout)
    assert f"migrator run report: {path} (and {tmp_path / 'run.html'})" in run.stdout
    text = path.read_text()
    doc = json.loads(text)
    assert (doc["outcome"], doc["exitStatus"], doc["failure"]) == (SUCCEEDED, 0, None)
    assert doc["verdict"] == f"OK - all {len(ITEMS)} scanned items were written"
    assert doc["countsFrom"] == FROM_RESULTS
    assert doc["totals"]["items"] == len(ITEMS) == sum(t["items"] for t in doc["tasks"])
    assert doc["totals"]["tasks"] == len(doc["tasks"]) == doc["plan"]["partitions"]
    assert sorted(u["unit"] for t in doc["tasks"] for u in t["units"]) == [0, 1, 2, 3]
    assert doc["plan"]["unitsTotal"] == 4 and doc["source"]["title"] == f"dynamodb table {source_table!r}"
    assert doc["config"]["source"]["credentials"]["secretKey"] == "<redacted>" and SECRET not in text
    assert doc["started"] < doc["ended"] and doc["seconds"] >= doc["copySeconds"] > 0
    samples = doc["throughput"]["samples"]
    assert len(samples) >= 2 and samples[-1]["copied"] <= len(ITEMS), samples
    # moto's DescribeTable counts items: each line has the expected total, and its percentage is that of the items
    # written (a page read ahead is not done yet)
    lines = re.findall(r"migrator progress: ([\d,]+) of ~300 items \(([\d.]+)%\)", run.stdout)
    assert len(lines) == len(samples) and lines[-1] == ("300", "100.0"), lines
    assert all(float(pct) == round(100 * int(copied.replace(",", "")) / 300, 1) for copied, pct in lines), lines
    assert all(sum(u["items"] for u in t["units"]) == t["items"] for t in doc["tasks"])
    assert doc["totals"]["bytesWritten"] > 0 and doc["totals"]["bytesRead"] > 0
    html = (tmp_path / "run.html").read_text()
    page = Page.of(html)
    assert SECRET not in html and "<script" not in html
    assert page.count("tasks", "rect", "bar") == len(doc["tasks"])
    assert page.count("throughput", "circle", "point") == len(samples)
    assert f"{len(ITEMS)}" in page.text and "items copied" in page.text


def test_a_failed_run_writes_a_report_that_says_what_failed(moto_source, tmp_path_factory, tmp_path):
    """An item the target (dynalite) refuses, no deadLetterPath: exit 1, and the report's outcome is failed with
    the error line the CLI printed, naming the target table and the segment."""
    source_table, target_table = fresh_table_name("report-refused"), fresh_table_name("report-refused-copy")
    create_table(client_for(moto_source), source_table, **KEYS)
    assert fill_table(client_for(moto_source), source_table, GOOD + BAD) == len(GOOD) + len(BAD)
    path = tmp_path / "failed-run.json"
    with start_dynalite(tmp_path_factory.mktemp("dynalite")) as dynalite:
        config = write_config(tmp_path / "refused.yaml", moto_source.url, source_table, dynalite.url, target_table,
                              source_extra={"scanSegments": 1}, top={"progress": {"reportPath": str(path)}})
        run = run_submit(config, "--master", "local[1]", "--progress-interval", "1")

    assert run.returncode == 1, describe(run.stdout)
    doc = json.loads(path.read_text())
    assert (doc["outcome"], doc["exitStatus"]) == (FAILED, 1)
    assert f"migrator: error: {doc['failure']}" in run.stdout.splitlines(), describe(run.stdout)
    assert f"segment 0/1 of source table {source_table!r}" in doc["failure"]
    assert f"target table {target_table!r} refused the item with key" in doc["failure"]
    assert doc["verdict"] is None and doc["phases"] == ["snapshot"]
    assert doc["countsFrom"] in (FROM_LIVE, FROM_NOTHING) and (doc["tasks"] != []) == (doc["countsFrom"] == FROM_LIVE)
    html = (tmp_path / "failed-run.html").read_text()
    assert "failed" in html and "refused the item with key" in html


@pytest.mark.parametrize("how, status, reported", [("kill PID", 143, None), ("Ctrl-C", 130, 130)])
def test_a_stopped_run_writes_a_report_with_the_counts_last_reported(tmp_path_factory, tmp_path, how, status,
                                                                      reported):
    """kill PID (SIGTERM to spark-submit) or Ctrl-C (SIGINT to the process group) while a throttled copy runs: the
    report, written from the JVM's shutdown hook before spark-submit exits, says stopped, with the tasks' last
    reported counts (the job never ended, so there are no results) and its progress samples. After kill PID the
    exit status is spark-submit's, which the driver cannot see; after Ctrl-C the driver saw SIGINT: 130."""
    items = [{"id": {"S": f"k{i:05d}"}, "pad": {"S": "p" * 100}} for i in range(3000)]
    path = tmp_path / "stopped.json"
    logs = tmp_path_factory.mktemp("dynalite")
    with start_dynalite(logs) as source_server, start_dynalite(logs) as target_server:
        source_table, target_table = fresh_table_name("report-stop"), fresh_table_name("report-stop-copy")
        create_table(client_for(source_server), source_table, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
        fill_table(client_for(source_server), source_table, items)
        config = write_config(tmp_path / "stop.yaml", source_server.url, source_table, target_server.url,
                              target_table, source_extra={"scanSegments": 2},
                              target_extra={"writeThroughput": 100, "throughputWritePercent": 1.0})
        log = tmp_path / "stop.log"
        with submitted(config, log, "--master", "local[2]", "--report", str(path), "--progress-interval", "1") as run:
            wait_until(lambda: re.search(r"migrator progress: [1-9][\d,]* items", log.read_text()),
                       "a progress line with items copied", run, log)
            if how == "Ctrl-C":
                os.killpg(run.pid, signal.SIGINT)
            else:
                run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=120) == status, describe(log.read_text())

    doc = json.loads(path.read_text())
    assert (doc["outcome"], doc["exitStatus"]) == (STOPPED, reported), doc
    why = "spark-submit is shutting down" if reported is None else "SIGINT"
    assert doc["failure"].startswith(f"stopped by {why}; no savepoints configured"), doc
    assert doc["countsFrom"] == FROM_LIVE and doc["tasks"], doc
    assert all(t["units"] is None for t in doc["tasks"])
    copied = doc["totals"]["items"]
    assert 0 < copied < len(items) and copied == sum(t["items"] for t in doc["tasks"]), doc["totals"]
    assert doc["throughput"]["samples"] and doc["throughput"]["samples"][-1]["copied"] <= copied
    html = (tmp_path / "stopped.html").read_text()
    shown = "that of spark-submit (143 after kill" if reported is None else f"{reported};"
    assert "stopped" in html and f"exit status {shown}" in html and f"{copied:,}" in html
