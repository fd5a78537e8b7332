"""The scan's read-ahead thread stops when its consumer does: no request after the stop, no retries for minutes."""

import threading

from migrator.dynamo.api import DynamoApi, RetryPolicy
from migrator.readers.scan import prefetch, scan_pages
from tests.unit.fakes import FakeApi, FakePool, FakeResponse


class LongWaits(RetryPolicy):
    """Ten minutes between attempts: a reader still retrying after its task failed would hang on for that long."""

    def delay(self, attempt: int) -> float:
        return 600.0


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "scan-prefetch"]


def test_reader_sends_no_request_after_its_consumer_stops_and_closes_the_pages():
    """A consumer that stops after one page of an endless scan: the reader has asked for at most the two pages it
    could hold, then ends and closes the page generator; no Scan follows."""
    closed = threading.Event()
    api = FakeApi(lambda op, doc: {"Items": [{"id": {"S": "a"}}], "LastEvaluatedKey": {"id": {"S": "a"}}})

    def pages():
        try:
            yield from scan_pages(api, "t", 0, 1)
        finally:
            closed.set()

    before = set(reader_threads())
    stream = prefetch(pages())
    assert next(stream) == [{"id": {"S": "a"}}]
    stream.close()
    for thread in set(reader_threads()) - before:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert closed.is_set()
    assert len(api.calls) <= 3  # the page consumed, the one queued, the one held when the stop came


def test_closing_the_client_ends_the_retries_of_a_request_in_flight_when_the_consumer_stops():
    """The reader is waiting to retry a failing Scan (600 s between attempts) when the task fails: closing the
    prefetch and then the client, as a task does, ends the reader at once; no attempt is sent after the stop."""
    second_attempt_sent = threading.Event()
    page = FakeResponse(200, {"Items": [{"id": {"S": "a"}}], "LastEvaluatedKey": {"id": {"S": "a"}}})

    class Pool(FakePool):
        def post(self, url, headers, body):
            answer = super().post(url, headers, body)
            if len(self.requests) == 2:
                second_attempt_sent.set()
            return answer

    pool = Pool([page] + [FakeResponse(500, {"__type": "InternalServerError", "message": "down"})] * 5)
    api = DynamoApi("http://127.0.0.1:9", "us-east-1", None, retry=LongWaits(max_attempts=5))
    api._pool = pool
    before = set(reader_threads())
    stream = prefetch(scan_pages(api, "t", 0, 1))
    assert next(stream) == [{"id": {"S": "a"}}]
    assert second_attempt_sent.wait(timeout=30)  # the reader now waits 600 s before its next attempt
    stream.close()
    api.close()
    for thread in set(reader_threads()) - before:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert [operation for operation, _ in pool.requests] == ["Scan", "Scan"]
