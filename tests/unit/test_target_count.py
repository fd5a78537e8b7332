"""target.verifyCount: the key parses, and a segment's count is summed over pages and checked."""

from __future__ import annotations

import pytest

from migrator.errors import RequestError, TransferError
from migrator.readers.scan import count_segment
from tests.unit.fakes import FakeApi
from tests.unit.test_config import config, error, load  # noqa: F401 - fixtures


def test_verify_count_defaults_to_false_and_parses_on_both_target_types(load):  # noqa: F811 - a fixture
    """verifyCount is off unless set; true is accepted under type alternator and type dynamodb."""
    assert load(config()).target.verify_count is False
    assert load(config(target={"verifyCount": True})).target.verify_count is True
    dynamodb = {"type": "dynamodb", "region": "us-east-1", "endpoint": {"host": "http://x", "port": 1},
                "verifyCount": True}
    assert load(config(target=dynamodb)).target.verify_count is True


def test_verify_count_must_be_a_boolean(error):  # noqa: F811 - a fixture
    """A non-boolean verifyCount names the key and the value."""
    message = error(config(target={"verifyCount": "sometimes"}))
    assert message.startswith("target.verifyCount") and "sometimes" in message


def test_count_segment_sums_the_count_of_every_page():
    """Pages are followed by LastEvaluatedKey, strongly consistent, with Select COUNT; their Counts add up."""
    pages = [{"Count": 3, "LastEvaluatedKey": {"id": {"S": "c"}}}, {"Count": 2, "LastEvaluatedKey": {"id": {"S": "e"}}},
             {"Count": 0}]
    api = FakeApi(lambda op, doc: pages.pop(0))
    assert count_segment(api, "t", 2, 5) == 5
    assert all(op == "Scan" and doc["Select"] == "COUNT" and doc["ConsistentRead"] is True and doc["Segment"] == 2
               and doc["TotalSegments"] == 5 for op, doc in api.calls)
    assert [doc.get("ExclusiveStartKey") for _, doc in api.calls] == [None, {"id": {"S": "c"}}, {"id": {"S": "e"}}]


def test_a_count_answer_without_count_is_refused_by_its_decoder():
    """A Select COUNT answer without Count (or with an error body) is an AnswerError, which DynamoApi retries."""
    from migrator.codec import AnswerError, dumps
    from migrator.readers.scan import _count_page

    assert _count_page(dumps({"Count": 2, "ScannedCount": 2})) == {"Count": 2, "ScannedCount": 2}
    for answer in ({"Items": []}, {"__type": "x#InternalServerError"}, [1]):
        with pytest.raises(AnswerError):
            _count_page(dumps(answer))


@pytest.mark.parametrize("answer, reason", [
    ({"Count": "3"}, "Count is not a number"),
    ({"Count": True}, "Count is not a number"),
    ({"Count": 1, "LastEvaluatedKey": {"id": {"S": "a"}}}, "did not advance"),
])
def test_count_segment_refuses_an_answer_it_cannot_trust(answer, reason):
    """A page without an integer Count, or a LastEvaluatedKey that repeats, fails naming the table and segment."""
    first = {"Count": 1, "LastEvaluatedKey": {"id": {"S": "a"}}}
    pages = [first, answer]
    api = FakeApi(lambda op, doc: pages.pop(0))
    with pytest.raises(TransferError, match=f"segment 1/4 of table 't': .*{reason}"):
        count_segment(api, "t", 1, 4)


def test_count_segment_failure_names_the_table_and_segment():
    """A request that fails for good becomes a TransferError naming the table and the segment."""
    def refuse(op, doc):
        raise RequestError("Scan to fake was refused: HTTP 400 ValidationException: no")

    with pytest.raises(TransferError, match=r"Scan \(Select COUNT\) of segment 0/2 of table 't' failed: .*refused"):
        count_segment(FakeApi(refuse), "t", 0, 2)
