"""The run report: its JSON document from a RunRecord, its HTML page, the files, and the CLI writing it whatever
the outcome."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from migrator import cli
from migrator.config.parse import build_config
from migrator.errors import ConfigError, Interrupted, TransferError
from migrator.progress.counts import Counts, Sample
from migrator.reports.document import FAILED, FROM_LIVE, FROM_NOTHING, FROM_RESULTS, STOPPED, SUCCEEDED, Outcome, build
from migrator.reports.files import check_report_path, page_path, write_run_report
from migrator.reports.page import render
from migrator.reports.record import RunRecord
from migrator.schema import TableInfo
from migrator.transfer import TaskResult
from tests.html_page import Page

SECRET = "wJalrXUtnFEMI-very-secret"
EVIL = "<script>alert('x')</script>&"


def config(tmp_path: Path | None = None, table: str = "src"):
    raw = {
        "source": {"type": "dynamodb", "table": table, "region": "us-east-1",
                   "credentials": {"accessKey": "AKIAEXAMPLE", "secretKey": SECRET}},
        "target": {"type": "alternator", "table": "dst", "region": "us-east-1",
                   "endpoint": {"host": "http://127.0.0.1", "port": 8000},
                   "credentials": {"accessKey": "a", "secretKey": SECRET}, "streamChanges": False},
    }
    if tmp_path is not None:
        raw["progress"] = {"reportPath": str(tmp_path / "run.json")}
    return build_config(raw)


@dataclasses.dataclass
class FakeLive:
    """Stands in for progress/live.py's LiveProgress: the attributes the report reads."""

    samples: list[Sample] = dataclasses.field(default_factory=list)
    counts: dict[int, Counts] = dataclasses.field(default_factory=dict)
    expected: int | None = None
    expected_from: str = "DescribeTable ItemCount, about"
    units_done: int = 0
    units_total: int = 0

    def task_counts(self) -> dict[int, Counts]:
        return dict(self.counts)

    def total(self) -> Counts:
        return sum(self.counts.values(), Counts())


SAMPLES = [Sample(1.0, 100, 100.0), Sample(2.0, 250, 150.0, throttled=2, retries=1), Sample(3.0, 300, 50.0, 3, 1)]


def finished_record(cfg, table: str = "src") -> RunRecord:
    """A run that copied 300 items in two tasks over four segments."""
    record = RunRecord(cfg, started=1_700_000_000.0)
    record.source, record.target = f"source table {table!r}", "target table 'dst'"
    record.source_info = TableInfo(table, (("id", "HASH"),), 300, 30_000, "PAY_PER_REQUEST", {})
    record.units_total, record.units_planned, record.partitions = 4, 4, 2
    record.phases.append("snapshot")
    record.results = [
        TaskResult(1, (1, 3), 120, 120, 1.5, 0.4, throttled_retries=3, other_retries=1, unprocessed_resent=2,
                   unit_items=(70, 50), bytes_read=1200, bytes_written=1100),
        TaskResult(0, (0, 2), 180, 180, 1.25, 0.5, unit_items=(), bytes_read=1800, bytes_written=1700),
    ]
    record.seconds = 3.0
    record.verdict = "OK - all 300 scanned items were written"
    record.live = FakeLive(samples=list(SAMPLES), expected=300)
    return record


def test_a_finished_run_has_per_task_and_per_unit_counts_that_add_up_to_the_totals():
    """Tasks in order with their counts; units paired with their items (unknown when a task of several units sent
    none)."""
    record = finished_record(config())
    doc = build(record, Outcome(SUCCEEDED, 0), ended=1_700_000_004.5)
    assert doc["outcome"] == SUCCEEDED and doc["exitStatus"] == 0 and doc["failure"] is None
    assert doc["started"] == "2023-11-14T22:13:20.000Z" and doc["ended"] == "2023-11-14T22:13:24.500Z"
    assert doc["seconds"] == 4.5 and doc["copySeconds"] == 3.0
    assert doc["countsFrom"] == FROM_RESULTS
    assert [t["task"] for t in doc["tasks"]] == [0, 1]
    assert doc["tasks"][1]["units"] == [{"unit": 1, "items": 70}, {"unit": 3, "items": 50}]
    assert doc["tasks"][0]["units"] == [{"unit": 0, "items": None}, {"unit": 2, "items": None}]
    one_unit = dataclasses.replace(record.results[0], segments=(5,), unit_items=())
    assert build(dataclasses.replace(record, results=[one_unit]), Outcome(SUCCEEDED, 0))["tasks"][0]["units"] == \
        [{"unit": 5, "items": 120}]
    totals = doc["totals"]
    assert totals["items"] == 300 == sum(t["items"] for t in doc["tasks"])
    assert (totals["throttled"], totals["retries"], totals["unprocessedResent"]) == (3, 1, 2)
    assert (totals["bytesRead"], totals["bytesWritten"], totals["cpuSeconds"]) == (3000, 2800, 0.9)
    assert totals["itemsPerSecond"] == 100.0 and totals["tasks"] == 2
    assert doc["source"] == {"title": "source table 'src'", "itemCount": 300, "sizeBytes": 30000}
    assert doc["plan"] == {"unitKind": "segment", "unitsTotal": 4, "unitsPlanned": 4, "partitions": 2}
    assert doc["expected"] == {"items": 300, "from": "DescribeTable ItemCount, about"}
    assert [s["itemsPerSecond"] for s in doc["throughput"]["samples"]] == [100.0, 150.0, 50.0]
    assert doc["verdict"] == "OK - all 300 scanned items were written"


def test_the_config_in_the_report_is_redacted():
    """The secret key appears nowhere in the JSON or the page; the keys' names stay readable."""
    doc = build(finished_record(config()), Outcome(SUCCEEDED, 0))
    text = json.dumps(doc)
    assert SECRET not in text and SECRET not in render(doc)
    assert doc["config"]["source"]["credentials"]["secretKey"] == "<redacted>"
    assert doc["config"]["source"]["table"] == "src"


def test_a_failed_job_reports_the_last_counts_the_tasks_sent_and_says_so():
    """No task results: the live progress's newest counts per task, marked as the last reported ones."""
    record = RunRecord(config(), started=1_700_000_000.0)
    record.live = FakeLive(samples=SAMPLES[:2], counts={1: Counts(scanned=40, written=40, throttled=2, units_done=1),
                                                         0: Counts(scanned=60, written=55, rejected=5)})
    doc = build(record, Outcome(FAILED, 1, "the Spark job failed: ItemRejected: ..."), ended=1_700_000_002.0)
    assert doc["outcome"] == FAILED and doc["failure"].startswith("the Spark job failed")
    assert doc["countsFrom"] == FROM_LIVE and "last reported" in FROM_LIVE
    assert [(t["task"], t["items"], t["refused"], t["units"]) for t in doc["tasks"]] == [(0, 55, 5, None),
                                                                                          (1, 40, 0, None)]
    assert doc["totals"]["items"] == 95 and doc["totals"]["throttled"] == 2 and doc["totals"]["cpuSeconds"] is None
    assert doc["copySeconds"] == 2.0 and doc["totals"]["itemsPerSecond"] == 47.5
    assert doc["verdict"] is None and doc["source"] == {"title": None}


def test_a_run_that_stopped_before_any_count_has_an_empty_report_that_still_renders():
    """Nothing known but the config and the outcome: no tasks, no samples, unknown totals; the page says so."""
    doc = build(RunRecord(config()), Outcome(STOPPED, 130, "stopped by SIGINT"))
    assert doc["countsFrom"] == FROM_NOTHING and doc["tasks"] == [] and doc["totals"]["items"] is None
    assert doc["expected"] == {"items": None, "from": "unknown"}
    page = Page.of(render(doc))
    assert page.svg_classes == [] and "No progress samples" in page.text and "stopped" in page.text


def test_the_page_shows_the_verdict_the_total_a_point_per_sample_and_a_bar_per_task():
    """The chart has one point per sample and labelled axes; the bars one per task; no script, no link."""
    page = Page.of(render(build(finished_record(config()), Outcome(SUCCEEDED, 0))))
    assert page.svg_classes == ["throughput", "tasks"]
    assert page.count("throughput", "circle", "point") == len(SAMPLES)
    assert page.count("throughput", "polyline", "line") == 1
    assert page.count("tasks", "rect", "bar") == 2
    assert "migrator verdict: OK - all 300 scanned items were written" in page.text
    assert "items copied" in page.text and "300" in page.text
    assert "items/s" in page.text and "seconds since the copy started" in page.text
    assert page.external == []


def test_every_text_on_the_page_is_escaped():
    """A table name holding markup shows as text: no element comes from it."""
    cfg = config(table=EVIL)
    record = finished_record(cfg, table=EVIL)
    record.verdict = f"OK - {EVIL}"
    html = render(build(record, Outcome(FAILED, 1, EVIL)))
    page = Page.of(html)
    assert "<script>" not in html and page.external == []
    assert f"source table {EVIL!r}" in page.text and f"OK - {EVIL}" in page.text


def test_the_report_files_are_the_json_path_and_the_page_beside_it(tmp_path, caplog):
    """run.json and run.html; a path not ending in .json gets .html appended; one log line names both."""
    assert page_path(Path("a/run.json")) == Path("a/run.html")
    assert page_path(Path("a/run.out")) == Path("a/run.out.html")
    caplog.set_level("INFO", logger="migrator")
    record = finished_record(config(tmp_path))
    json_path, html_path = write_run_report(record, Outcome(SUCCEEDED, 0))
    assert json.loads(json_path.read_text())["totals"]["items"] == 300
    assert "<svg" in html_path.read_text()
    assert f"migrator run report: {json_path} (and {html_path})" in caplog.text


@pytest.mark.parametrize("path, message", [
    ("s3://bucket/run.json", "not to S3; give a local path"),
    ("{tmp}", "is a directory"),
    ("{tmp}/missing/run.json", "does not exist"),
])
def test_a_report_path_that_cannot_work_is_refused_before_the_run(tmp_path, path, message):
    """S3, a directory, a missing directory: a one-line ConfigError naming the key and the fix."""
    with pytest.raises(ConfigError, match=message) as caught:
        check_report_path(path.format(tmp=tmp_path))
    assert "progress.reportPath (or --report)" in str(caught.value)


class FakeMigrate:
    """Stands in for jobs/migrate.run: fills the record, then returns `status` or raises `error`."""

    def __init__(self, status: int = 0, error: BaseException | None = None) -> None:
        self.status, self.error = status, error

    def run(self, spark, cfg, record=None):
        record.source, record.verdict = "source table 'src'", "FAILED - 3 items scanned but 2 written"
        if self.error is not None:
            raise self.error
        return self.status


@pytest.fixture
def fake_migrate(monkeypatch):
    def use(**kwargs) -> None:
        import migrator.jobs.migrate as migrate

        monkeypatch.setattr(migrate, "run", FakeMigrate(**kwargs).run)
    return use


@pytest.mark.parametrize("status, error, outcome, exit_status, failure", [
    (0, None, SUCCEEDED, 0, None),
    (1, None, FAILED, 1, "FAILED - 3 items scanned but 2 written"),
    (0, Interrupted("stopped by SIGTERM; no savepoint written", 143), STOPPED, 143, "stopped by SIGTERM"),
    (0, Interrupted("stopped by spark-submit is shutting down; ...", 1), STOPPED, None,
     "stopped by spark-submit is shutting down"),
    (0, TransferError("segment 0/1 of source table 'src' failed"), FAILED, 1, "segment 0/1 of source table"),
    (0, RuntimeError("boom"), FAILED, 1, "RuntimeError: boom"),
])
def test_the_cli_writes_the_report_whatever_the_outcome(tmp_path, fake_migrate, status, error, outcome,
                                                        exit_status, failure):
    """Success, a failed verdict, a stop, a migrator error, any other exception (which still propagates)."""
    fake_migrate(status=status, error=error)
    cfg = config(tmp_path)
    if error is None:
        assert cli._migrate(None, cfg) == status
    else:
        with pytest.raises(type(error)):
            cli._migrate(None, cfg)
    doc = json.loads((tmp_path / "run.json").read_text())
    assert (doc["outcome"], doc["exitStatus"]) == (outcome, exit_status)
    assert (doc["failure"] is None) if failure is None else (failure in doc["failure"])
    html = (tmp_path / "run.html").read_text()
    shown = "that of spark-submit (143 after kill, 130 after Ctrl-C)" if exit_status is None else exit_status
    assert f"exit status {shown}; started" in html


def test_a_spark_task_failure_is_reported_with_the_cause_the_cli_prints():
    """A Py4JJavaError's text gives the migrator error inside it, as on the console."""
    java_error = type("Py4JJavaError", (Exception,), {})
    text = "An error occurred\nmigrator.errors.ItemRejected: target table 'dst' refused the item with key {...}\n"
    found = cli._outcome(java_error(text))
    assert found == Outcome(FAILED, 1, "the Spark job failed: ItemRejected: target table 'dst' refused the item "
                                       "with key {...}")


def test_a_report_that_cannot_be_written_is_an_error_and_fails_a_successful_run(tmp_path, fake_migrate, caplog,
                                                                                  capsys):
    """The directory vanished during the run: an error line naming the path, and exit status 1 instead of 0."""
    fake_migrate(status=0)
    cfg = config(tmp_path / "gone")
    caplog.set_level("INFO", logger="migrator")
    assert cli._migrate(None, cfg) == 1
    assert f"cannot write the run report {str(tmp_path / 'gone' / 'run.json')!r}: No such file or directory" \
        in caplog.text
    assert "could not be written" in capsys.readouterr().err


def test_without_a_report_path_no_record_is_made(monkeypatch):
    """progress.reportPath unset: migrate.run is called as before, with no record."""
    import migrator.jobs.migrate as migrate

    calls = []
    monkeypatch.setattr(migrate, "run", lambda spark, cfg, record=None: calls.append(record) or 0)
    assert cli._migrate(None, config()) == 0 and calls == [None]
