import logging

import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import RequestError, TransferError
from migrator.readers.scan_source import ScanSegment, ScanSource
from migrator.transfer import TransferSettings, transfer
from migrator.writers.table_sink import BatchWriteSink
from tests.unit.fakes import FakeApi

FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)


def settings(read_units: float = 0.0, write_units: float = 0.0) -> TransferSettings:
    return TransferSettings(
        source=ScanSource(Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), "src", retry=FAST,
                          units_per_second=read_units),
        sink=BatchWriteSink(Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), "dst",
                            batch_size=10, retry=FAST, units_per_second=write_units),
    )


def segments(*numbers: int) -> list[ScanSegment]:
    return [ScanSegment(n, 4) for n in numbers]


def wire(apis: dict, monkeypatch) -> None:
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: apis[self.side])


def test_task_copies_its_segments_and_logs_the_counts(monkeypatch, caplog):
    """Each segment's items are written; one line per segment and a summary line in the documented format."""
    per_segment = {1: 7, 3: 12}
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": f"{doc['Segment']}-{i}"}}
                                                for i in range(per_segment[doc["Segment"]])]})
    target = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    wire({"source": source, "target": target}, monkeypatch)
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(settings(), segments(1, 3), task=5)
    assert (result.segments, result.scanned, result.written) == ((1, 3), 19, 19)
    assert source.closed and target.closed  # Alternator routers' refresh threads end with the task
    written = [r["PutRequest"]["Item"]["id"]["S"] for _, doc in target.calls for r in doc["RequestItems"]["dst"]]
    assert sorted(written) == sorted([f"1-{i}" for i in range(7)] + [f"3-{i}" for i in range(12)])
    lines = [r.getMessage() for r in caplog.records]
    assert "migrator task 5: segment 1/4 transferred 7 items" in lines
    assert "migrator task 5: segment 3/4 transferred 12 items" in lines
    assert any(line.startswith("migrator task 5: segments [1, 3] transferred 19 items in ") for line in lines)


def test_failed_write_names_table_segment_and_cause(monkeypatch):
    """A write that fails for good fails the task with the tables, the segment and the server's reason."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": "a"}}]})

    def refuse(op, doc):
        raise RequestError("BatchWriteItem to http://127.0.0.1:2/ was refused: HTTP 400 ValidationException: too big")

    wire({"source": source, "target": FakeApi(refuse)}, monkeypatch)
    with pytest.raises(TransferError) as info:
        transfer(settings(), segments(2), task=0)
    assert str(info.value) == (
        "segment 2/4 of source table 'src' -> target table 'dst': BatchWriteItem to http://127.0.0.1:2/ was "
        "refused: HTTP 400 ValidationException: too big"
    )


def test_each_segment_is_reported_done_only_after_its_writes_are_acknowledged(monkeypatch):
    """on_unit_done gets (segment, items) once per segment, after the target acknowledged all its items."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": f"{doc['Segment']}-{i}"}} for i in range(13)]})
    acknowledged = []
    target = FakeApi(lambda op, doc: acknowledged.extend(doc["RequestItems"]["dst"]) or {"UnprocessedItems": {}})
    wire({"source": source, "target": target}, monkeypatch)
    reports = []
    transfer(settings(), segments(0, 2), task=1,
             on_unit_done=lambda segment, items: reports.append((segment, items, len(acknowledged))))
    assert reports == [(0, 13, 13), (2, 13, 26)]


def test_a_segment_that_fails_is_not_reported_done(monkeypatch):
    """A segment whose write fails never reaches on_unit_done."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": "a"}}]})

    def refuse(op, doc):
        raise RequestError("refused")

    wire({"source": source, "target": FakeApi(refuse)}, monkeypatch)
    reports = []
    with pytest.raises(TransferError):
        transfer(settings(), segments(1), task=0, on_unit_done=lambda *args: reports.append(args))
    assert reports == []


def test_retries_and_resends_are_summed_per_task_at_info(monkeypatch, caplog):
    """One INFO line per task sums throttled retries, other retries (both sides) and unprocessed items re-sent."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": f"{doc['Segment']}-{i}"}} for i in range(10)]})
    source.throttled_retries, source.other_retries = 12, 1
    sent = []

    def half_once(op, doc):
        requests = doc["RequestItems"]["dst"]
        sent.append(len(requests))
        return {"UnprocessedItems": {"dst": requests[:4]} if len(sent) == 1 else {}}

    target = FakeApi(half_once)
    target.other_retries = 1
    wire({"source": source, "target": target}, monkeypatch)
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(settings(), segments(1), task=3)
    assert "migrator task 3: 12 throttled requests retried, 2 other retries, 4 unprocessed items re-sent" in \
        caplog.messages
    assert (result.throttled_retries, result.other_retries, result.unprocessed_resent) == (12, 2, 4)


def test_no_retry_line_when_nothing_was_retried(monkeypatch, caplog):
    """A task without retries or re-sends logs no retry line."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": "a"}}]})
    wire({"source": source, "target": FakeApi(lambda op, doc: {"UnprocessedItems": {}})}, monkeypatch)
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        transfer(settings(), segments(1), task=0)
    assert not [m for m in caplog.messages if "retried" in m]


def test_credential_failures_fail_the_task_naming_table_segments_and_cause(monkeypatch):
    """Credentials that cannot be resolved when the task builds its clients give a TransferError with context."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-for-this-test")
    with pytest.raises(TransferError, match=r"^task 4, segments \[1, 2\] of source table 'src' -> target table "
                                            r"'dst': source: the AWS credentials could not be resolved: "
                                            r"ProfileNotFound: .*no-such-profile-for-this-test"):
        transfer(settings(), iter(segments(1, 2)), task=4)


def test_the_driver_total_sums_the_tasks_retries(caplog):
    """report() logs one total retry line summing every task's counters, and none when all are zero."""
    from types import SimpleNamespace

    from migrator.jobs.migrate import report
    from migrator.transfer import TaskResult

    results = [TaskResult(0, (0,), 5, 5, 1.0, 0.1, throttled_retries=12, other_retries=1, unprocessed_resent=40),
               TaskResult(1, (1,), 5, 5, 1.0, 0.1, other_retries=1)]
    with caplog.at_level(logging.INFO, logger="migrator"):
        assert report(results, SimpleNamespace(item_count=10), "src", "dst", 2.0) == 0
    assert "migrator total: 12 throttled requests retried, 2 other retries, 40 unprocessed items re-sent" in \
        caplog.messages
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="migrator"):
        report([TaskResult(0, (0,), 5, 5, 1.0, 0.1)], SimpleNamespace(item_count=5), "src", "dst", 2.0)
    assert not [m for m in caplog.messages if "retried" in m]


def test_a_tasks_share_of_the_budgets_is_the_budget_divided_by_the_tasks_running_now(monkeypatch, caplog):
    """Budgets 400 RCU/s and 200 WCU/s, 4 tasks running now by the driver's count (static estimate 1): the task
    logs and uses a quarter of each."""
    import dataclasses

    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": "a"}}]})
    target = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    wire({"source": source, "target": target}, monkeypatch)
    s = dataclasses.replace(settings(read_units=400, write_units=200), tasks_at_once=1)
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(s, segments(0), task=2, running_tasks=lambda: 4)
    assert result.written == 1
    assert ("migrator task 2: budget 400.0 RCU/s read, 200.0 WCU/s write for the job; 4 tasks run now, this one's "
            "share: 100.0 RCU/s read, 50.0 WCU/s write") in [r.getMessage() for r in caplog.records]
