import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.errors import RequestError, TransferError
from migrator.writers import batch_writer
from migrator.writers.batch_writer import BatchWriter
from tests.unit.fakes import FakeApi

FAST = RetryPolicy(max_attempts=5, base_delay=0.0001, max_delay=0.001)


def items(n: int) -> list[dict]:
    return [{"id": {"S": f"k{i}"}, "n": {"N": str(i)}} for i in range(n)]


def sent_items(api: FakeApi, table: str = "t") -> list[dict]:
    return [r["PutRequest"]["Item"] for _, doc in api.calls for r in doc["RequestItems"][table]]


def test_items_are_sent_in_batches_of_batch_size():
    """60 items with batch size 25 make requests of 25, 25 and 10, each item once."""
    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
        writer.put_many(items(60))
    sizes = sorted(len(doc["RequestItems"]["t"]) for _, doc in api.calls)
    assert sizes == [10, 25, 25]
    assert sorted(i["id"]["S"] for i in sent_items(api)) == sorted(i["id"]["S"] for i in items(60))
    assert writer.written == 60


def test_unprocessed_items_are_resent_until_written():
    """A server that leaves half of every batch unprocessed still gets every item exactly once in the end."""
    stored: dict[str, dict] = {}

    def half(op, doc):
        requests = doc["RequestItems"]["t"]
        keep, back = requests[: (len(requests) + 1) // 2], requests[(len(requests) + 1) // 2 :]
        for r in keep:
            key = r["PutRequest"]["Item"]["id"]["S"]
            assert key not in stored
            stored[key] = r["PutRequest"]["Item"]
        return {"UnprocessedItems": {"t": back} if back else {}}

    api = FakeApi(half)
    with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
        writer.put_many(items(100))
    assert stored == {i["id"]["S"]: i for i in items(100)}
    assert writer.written == 100
    assert writer.unprocessed_resent > 0


def test_writer_gives_up_when_nothing_is_processed():
    """A batch that makes no progress for max_attempts rounds fails the writer instead of looping or dropping."""
    api = FakeApi(lambda op, doc: {"UnprocessedItems": doc["RequestItems"]})
    with pytest.raises(TransferError, match="25 items still unprocessed after 5 attempts"):
        with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
            writer.put_many(items(25))
    assert len(api.calls) == 5


def test_request_errors_surface_from_flush():
    """A refused batch raises from the writer; it is never swallowed."""

    def refuse(op, doc):
        raise RequestError("BatchWriteItem was refused: ValidationException")

    api = FakeApi(refuse)
    with pytest.raises(RequestError, match="ValidationException"):
        with BatchWriter(api, "t", batch_size=10, retry=FAST) as writer:
            writer.put_many(items(5))


def test_oversized_batches_are_split(monkeypatch):
    """A batch whose request would pass the request-size limit is split in smaller requests."""
    monkeypatch.setattr(batch_writer, "MAX_REQUEST_BYTES", 2000)
    big = [{"id": {"S": f"k{i}"}, "blob": {"S": "x" * 600}} for i in range(8)]
    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    with BatchWriter(api, "t", batch_size=8, retry=FAST) as writer:
        writer.put_many(big)
    assert len(api.calls) > 1
    assert sorted(i["id"]["S"] for i in sent_items(api)) == sorted(i["id"]["S"] for i in big)
    assert writer.written == 8


def test_flush_waits_for_every_batch_in_flight():
    """After flush, every submitted item has been acknowledged."""
    import threading
    import time

    done = []
    lock = threading.Lock()

    def slow(op, doc):
        time.sleep(0.01)
        with lock:
            done.extend(doc["RequestItems"]["t"])
        return {"UnprocessedItems": {}}

    api = FakeApi(slow)
    with BatchWriter(api, "t", batch_size=5, max_in_flight=4, retry=FAST) as writer:
        writer.put_many(items(40))
        writer.flush()
        assert len(done) == 40


def test_deletes_are_sent_as_delete_requests_with_the_key_and_counted_apart():
    """delete(key) sends a DeleteRequest carrying only the key; puts and deletes share batches and counters differ."""
    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
        writer.put_many(items(3))
        writer.delete({"id": {"S": "gone-1"}})
        writer.delete({"id": {"S": "gone-2"}})
    requests = [r for _, doc in api.calls for r in doc["RequestItems"]["t"]]
    assert [r["DeleteRequest"]["Key"] for r in requests if "DeleteRequest" in r] == [
        {"id": {"S": "gone-1"}}, {"id": {"S": "gone-2"}}]
    assert len([r for r in requests if "PutRequest" in r]) == 3
    assert (writer.written, writer.deleted) == (3, 2)


def test_unprocessed_deletes_are_resent_as_deletes():
    """A delete left unprocessed is sent again as the same DeleteRequest, and counted once when done."""
    answers = iter([
        lambda doc: {"UnprocessedItems": {"t": [r for r in doc["RequestItems"]["t"] if "DeleteRequest" in r]}},
        lambda doc: {"UnprocessedItems": {}},
    ])
    api = FakeApi(lambda op, doc: next(answers)(doc))
    with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
        writer.put(items(1)[0])
        writer.delete({"id": {"S": "gone"}})
    assert api.calls[1][1]["RequestItems"]["t"] == [{"DeleteRequest": {"Key": {"id": {"S": "gone"}}}}]
    assert (writer.written, writer.deleted, writer.unprocessed_resent) == (1, 1, 1)


def test_raw_items_reach_the_server_byte_for_byte_in_batches():
    """put_raw_many splices each JSON fragment into the body unchanged, 25 to a request, after what is pending."""
    bodies = []
    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    api.call = lambda op, body, table=None: bodies.append(body) or {"UnprocessedItems": {}}
    fragments = [b'{"id":{"S":"k%d"},"n":{"N":"1.50"},"pad":{"S":"\\u00e9 x"}}' % i for i in range(60)]
    with BatchWriter(api, "t", batch_size=25, retry=FAST) as writer:
        writer.put({"id": {"S": "first"}})
        writer.put_raw_many(fragments[:30])
        writer.put_raw_many(fragments[30:])
    sent = [fragment for body in bodies for fragment in fragments if fragment in body]
    assert sorted(sent) == sorted(fragments)  # each fragment is in exactly one body, unchanged
    assert [body.count(b'{"PutRequest":{"Item":') for body in bodies] == [25, 25, 11]
    assert writer.written == 61


def test_write_units_are_charged_by_item_size_for_raw_items():
    """The limiter is charged 1 unit per started KB of each item's JSON, the same rule as for dict items."""
    charged = []

    class Recorder:
        def charge(self, units):
            charged.append(units)

        def refund(self, units):
            charged.append(-units)

    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    small, big = b'{"id":{"S":"a"}}', b'{"id":{"S":"b"},"blob":{"S":"' + b"x" * 2100 + b'"}}'
    with BatchWriter(api, "t", batch_size=25, retry=FAST, limiter=Recorder()) as writer:
        writer.put_raw_many([small, big])
    assert charged == [1 + 3]


ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def test_unprocessed_items_under_the_table_arn_are_resent():
    """DynamoDB may key UnprocessedItems by the table's ARN; those items are re-sent, not taken as written."""
    answers = []

    def arn_once(op, doc):
        requests = doc["RequestItems"]["t"]
        answers.append(len(requests))
        return {"UnprocessedItems": {ARN: requests[1:]} if len(answers) == 1 else {}}

    api = FakeApi(arn_once)
    with BatchWriter(api, "t", batch_size=5, retry=FAST) as writer:
        writer.put_many(items(5))
    assert answers == [5, 4]
    assert (writer.written, writer.unprocessed_resent) == (5, 4)


def test_unprocessed_items_under_another_table_are_an_error():
    """UnprocessedItems under a name that is neither this table nor its ARN cannot be accounted for: an error."""
    for name in ("other", "arn:aws:dynamodb:us-east-1:123456789012:table/tt"):
        api = FakeApi(lambda op, doc, name=name: {"UnprocessedItems": {name: doc["RequestItems"]["t"]}})
        with pytest.raises(RequestError, match=f"BatchWriteItem of table 't': the answer's UnprocessedItems names "
                                               f"another table, '{name}'"):
            with BatchWriter(api, "t", batch_size=5, retry=FAST) as writer:
                writer.put_many(items(5))


def test_an_answer_without_unprocessed_items_is_not_all_written():
    """A BatchWriteItem answer without UnprocessedItems (past DynamoApi's checks) is an error, not a success."""
    api = FakeApi(lambda op, doc: {"ConsumedCapacity": []})
    with pytest.raises(RequestError, match="BatchWriteItem of table 't': the answer's UnprocessedItems is missing"):
        with BatchWriter(api, "t", batch_size=5, retry=FAST) as writer:
            writer.put_many(items(5))
    assert writer.written == 0


def test_the_writer_names_its_table_to_the_client():
    """Each BatchWriteItem call carries the table, so that the client's errors name it."""
    tables = []
    api = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    api.call = lambda op, body, table=None: tables.append(table) or {"UnprocessedItems": {}}
    with BatchWriter(api, "t", batch_size=5, retry=FAST) as writer:
        writer.put_many(items(10))
    assert tables == ["t", "t"]


class Recorder:
    """A limiter that keeps what it was charged: refunds as negative charges."""

    def __init__(self):
        self.charged = []

    def charge(self, units):
        self.charged.append(units)

    def refund(self, units):
        self.charged.append(-units)


def test_consumed_capacity_reported_under_the_table_arn_settles_the_charge():
    """ConsumedCapacity filed under the table's ARN corrects the advance charge like one under its name."""
    for name in ("t", ARN):
        api = FakeApi(lambda op, doc, name=name: {"UnprocessedItems": {},
                                                  "ConsumedCapacity": [{"TableName": name, "CapacityUnits": 5.0}]})
        limiter = Recorder()
        with BatchWriter(api, "t", batch_size=25, retry=FAST, limiter=limiter, report_capacity=True) as writer:
            writer.put_many(items(3))
        assert limiter.charged == [3, 2.0]  # 1 WCU per item in advance, then 2 more: the reported 5


def test_consumed_capacity_not_asked_for_or_below_one_unit_per_item_is_not_trusted():
    """moto answers ConsumedCapacity 1.0 per batch, asked or not: unasked, the advance charge stands; asked, it is
    never taken below 1 WCU per item written, the least DynamoDB charges."""
    for report_capacity in (False, True):
        api = FakeApi(lambda op, doc: {"UnprocessedItems": {},
                                       "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0}]})
        limiter = Recorder()
        with BatchWriter(api, "t", batch_size=25, retry=FAST, limiter=limiter,
                         report_capacity=report_capacity) as writer:
            writer.put_many(items(10))
        assert sum(limiter.charged) == 10, (report_capacity, limiter.charged)
