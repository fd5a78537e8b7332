import threading

import pytest

from migrator.errors import RequestError
from migrator.items import key_projection
from migrator.readers.scan import first_items, prefetch, scan_pages
from tests.unit.fakes import FakeApi


def test_scan_follows_last_evaluated_key_within_its_segment():
    """Pages are read until LastEvaluatedKey is absent, always with the same Segment/TotalSegments."""
    pages = [
        {"Items": [{"id": {"S": "a"}}], "LastEvaluatedKey": {"id": {"S": "a"}}},
        {"Items": [{"id": {"S": "b"}}], "LastEvaluatedKey": {"id": {"S": "b"}}},
        {"Items": []},
    ]
    api = FakeApi(lambda op, doc: pages.pop(0))
    got = list(scan_pages(api, "t", 3, 8))
    assert got == [[{"id": {"S": "a"}}], [{"id": {"S": "b"}}], []]
    assert [doc.get("ExclusiveStartKey") for _, doc in api.calls] == [None, {"id": {"S": "a"}}, {"id": {"S": "b"}}]
    assert all(doc["Segment"] == 3 and doc["TotalSegments"] == 8 for _, doc in api.calls)


def test_scan_sends_limit_and_projection_with_every_page():
    """limit and a key projection go into every Scan request of the segment."""
    pages = [{"Items": [{"id": {"S": "a"}}], "LastEvaluatedKey": {"id": {"S": "a"}}}, {"Items": []}]
    api = FakeApi(lambda op, doc: pages.pop(0))
    list(scan_pages(api, "t", 0, 1, limit=5, projection=key_projection(["id"])))
    assert all(doc["Limit"] == 5 and doc["ProjectionExpression"] == "#k0" and
               doc["ExpressionAttributeNames"] == {"#k0": "id"} for _, doc in api.calls)
    assert len(api.calls) == 2


def test_first_items_stops_reading_once_it_has_enough():
    """first_items cuts the page that passes the count and does not ask for the next page."""
    asked = []

    def pages():
        for page in ([1, 2], [3, 4, 5], [6]):
            asked.append(page)
            yield page

    assert list(first_items(pages(), 4)) == [[1, 2], [3, 4]]
    assert asked == [[1, 2], [3, 4, 5]]
    assert list(first_items(iter([[1], []]), 5)) == [[1], []]


def test_prefetch_yields_every_page_in_order():
    """Prefetching changes timing only, never content or order."""
    assert list(prefetch(iter([[1], [2], [3]]))) == [[1], [2], [3]]


def test_prefetch_reads_ahead_while_the_caller_works():
    """The next page is requested before the caller is done with the current one."""
    second_requested = threading.Event()

    def pages():
        yield [1]
        second_requested.set()
        yield [2]

    stream = prefetch(pages())
    assert next(stream) == [1]
    assert second_requested.wait(2), "the second page was not read ahead"
    assert list(stream) == [[2]]


def test_prefetch_raises_the_reader_error_in_the_caller():
    """A failed page read is raised where the page would have been, not lost in the thread."""

    def pages():
        yield [1]
        raise RequestError("Scan refused")

    stream = prefetch(pages())
    assert next(stream) == [1]
    with pytest.raises(RequestError, match="Scan refused"):
        next(stream)


def test_a_last_evaluated_key_that_does_not_advance_is_an_error():
    """A LastEvaluatedKey equal to the ExclusiveStartKey just sent fails the scan instead of looping forever."""
    stuck = {"id": {"S": "b"}}
    pages = [{"Items": [{"id": {"S": "a"}}], "LastEvaluatedKey": stuck}]
    api = FakeApi(lambda op, doc: pages[0] if "ExclusiveStartKey" not in doc
                  else {"Items": [], "LastEvaluatedKey": stuck})
    for raw in (False, True):
        api.calls.clear()
        with pytest.raises(RequestError, match=r"^Scan of table 't': the LastEvaluatedKey \{'id': \{'S': 'b'\}\} "
                                               "does not advance"):
            list(scan_pages(api, "t", 0, 1, raw=raw))
        assert len(api.calls) == 2


def test_scan_names_its_table_to_the_client():
    """Each Scan call carries the table, so that the client's errors name it."""
    tables = []
    api = FakeApi(lambda op, doc: {"Items": []})
    call = api.call
    api.call = lambda op, request, decode=None, table=None: tables.append(table) or call(op, request, decode)
    list(scan_pages(api, "t", 0, 1))
    assert tables == ["t"]
