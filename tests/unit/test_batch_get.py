import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.errors import RequestError, TransferError
from migrator.items import key_id
from migrator.readers.batch_get import BatchGetter
from tests.unit.fakes import FakeApi

FAST = RetryPolicy(max_attempts=5, base_delay=0.0001, max_delay=0.001)
KEYS = ("pk", "sk")


def stored(n: int) -> dict[str, dict]:
    items = [{"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}, "v": {"S": "x" * i}} for i in range(n)]
    return {key_id(item, KEYS): item for item in items}


def server(table: dict[str, dict], *, leave_unprocessed=lambda keys: []):
    """A fake BatchGetItem: answers the stored items of the requested keys, leaves some keys unprocessed."""

    def handle(op, doc):
        assert op == "BatchGetItem"
        (name, request), = doc["RequestItems"].items()
        assert len(request["Keys"]) <= 100
        back = leave_unprocessed(request["Keys"])
        served = [k for k in request["Keys"] if k not in back]
        items = [table[key_id(k, KEYS)] for k in served if key_id(k, KEYS) in table]
        if "ProjectionExpression" in request:
            names = [request["ExpressionAttributeNames"][p.strip()] for p in request["ProjectionExpression"].split(",")]
            items = [{n: i[n] for n in names} for i in items]
        return {"Responses": {name: items}, "UnprocessedKeys": {name: {"Keys": back}} if back else {}}

    return FakeApi(handle)


def key(i: int) -> dict:
    return {"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}}


def test_keys_are_read_100_per_request_and_found_items_returned_by_key():
    """250 keys make requests of 100, 100 and 50; found items come back under their key id, absent keys do not."""
    table = stored(200)
    api = server(table)
    with BatchGetter(api, "t", KEYS, retry=FAST) as getter:
        found = getter.get([key(i) for i in range(250)])
    assert sorted(len(doc["RequestItems"]["t"]["Keys"]) for _, doc in api.calls) == [50, 100, 100]
    assert found == table
    assert all(doc["RequestItems"]["t"]["ConsistentRead"] is True for _, doc in api.calls)


def test_numbers_in_keys_match_whatever_the_server_spells():
    """A key asked as 1.50 finds the item the server returns as 1.5."""
    api = FakeApi(lambda op, doc: {"Responses": {"t": [{"pk": {"S": "a"}, "sk": {"N": "1.5"}}]}, "UnprocessedKeys": {}})
    with BatchGetter(api, "t", KEYS, retry=FAST) as getter:
        found = getter.get([{"pk": {"S": "a"}, "sk": {"N": "1.50"}}])
    assert list(found) == [key_id({"pk": {"S": "a"}, "sk": {"N": "1.5"}}, KEYS)]


def test_unprocessed_keys_are_resent_until_read():
    """A server that leaves half of every request unprocessed still returns every item, each key asked again."""
    table = stored(300)
    api = server(table, leave_unprocessed=lambda keys: keys[len(keys) // 2 :] if len(keys) > 1 else [])
    with BatchGetter(api, "t", KEYS, retry=FAST) as getter:
        found = getter.get([key(i) for i in range(300)])
    assert found == table
    assert getter.unprocessed_resent > 0


def test_keys_only_reads_project_the_key_attributes_through_placeholders():
    """keys_only sends a ProjectionExpression of #k0, #k1 naming the key attributes, and gets only them back."""
    table = stored(10)
    api = server(table)
    with BatchGetter(api, "t", KEYS, keys_only=True, retry=FAST) as getter:
        found = getter.get([key(i) for i in range(10)])
    request = api.calls[0][1]["RequestItems"]["t"]
    assert request["ProjectionExpression"] == "#k0, #k1"
    assert request["ExpressionAttributeNames"] == {"#k0": "pk", "#k1": "sk"}
    assert all(set(item) == {"pk", "sk"} for item in found.values()) and len(found) == 10


def test_duplicate_keys_are_asked_once():
    """BatchGetItem refuses duplicate keys in one request, so the getter sends each key once."""
    api = server(stored(5))
    with BatchGetter(api, "t", KEYS, retry=FAST) as getter:
        getter.get([key(1), key(1), {"pk": {"S": "p1"}, "sk": {"N": "1.0"}}])
    assert api.calls[0][1]["RequestItems"]["t"]["Keys"] == [key(1)]


def test_getter_gives_up_when_no_key_is_ever_processed():
    """Keys that stay unprocessed for max_attempts rounds fail the read with the table named; none is dropped."""
    api = server(stored(5), leave_unprocessed=lambda keys: keys)
    with pytest.raises(TransferError, match="BatchGetItem from table 't': 3 keys still unprocessed after 5 attempts"):
        with BatchGetter(api, "t", KEYS, retry=FAST) as getter:
            getter.get([key(i) for i in range(3)])
    assert len(api.calls) == 5


def test_request_errors_are_raised():
    """A refused request raises from get(); it is never taken for 'not found'."""

    def refuse(op, doc):
        raise RequestError("BatchGetItem was refused: ValidationException")

    with pytest.raises(RequestError, match="ValidationException"):
        with BatchGetter(FakeApi(refuse), "t", KEYS, retry=FAST) as getter:
            getter.get([key(1)])


ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def test_responses_and_unprocessed_keys_under_the_table_arn_are_taken():
    """Items and unprocessed keys the server files under the table's ARN are found and re-sent."""
    table = stored(10)
    inner = server(table, leave_unprocessed=lambda keys: keys[5:])

    def by_arn(op, doc):
        answer = inner.handler(op, doc)
        return {field: {ARN: value for value in entries.values()}  # noqa: B035 - the one table, filed under its ARN
                for field, entries in answer.items()}

    with BatchGetter(FakeApi(by_arn), "t", KEYS, retry=FAST) as getter:
        found = getter.get([key(i) for i in range(10)])
    assert found == table and getter.unprocessed_resent == 5


def test_answers_under_another_table_or_without_their_maps_are_errors():
    """Responses or UnprocessedKeys under another table's name, or missing, fail the read; never "not found"."""
    cases = [({"Responses": {"other": []}, "UnprocessedKeys": {}}, "Responses names another table, 'other'"),
             ({"Responses": {}, "UnprocessedKeys": {"x": {"Keys": [key(1)]}}}, "UnprocessedKeys names another table"),
             ({"UnprocessedKeys": {}}, "Responses is missing"),
             ({"Responses": {}}, "UnprocessedKeys is missing")]
    for answer, message in cases:
        with pytest.raises(RequestError, match=f"^BatchGetItem of table 't': the answer's {message}"):
            with BatchGetter(FakeApi(lambda op, doc, answer=answer: answer), "t", KEYS, retry=FAST) as getter:
                getter.get([key(1)])


class Charges:
    """A limiter that records what it is charged."""

    def __init__(self) -> None:
        self.units: list[float] = []

    def charge(self, units: float) -> None:
        self.units.append(units)

    def refund(self, units: float) -> None:
        self.units.append(-units)


def test_each_answer_is_charged_by_dynamodb_rules_when_the_server_reports_no_capacity():
    """5 items found (under 4 KB: 1 RCU each), 3 keys not found (1 RCU each), 2 left unprocessed (not charged until
    re-sent); charged 1 RCU per key before each request goes out, then corrected."""
    table = stored(5)
    api = server(table, leave_unprocessed=lambda keys: keys[-2:] if len(keys) == 10 else [])
    charges = Charges()
    with BatchGetter(api, "t", KEYS, retry=FAST, limiter=charges) as getter:
        getter.get([key(i) for i in range(10)])
    # 10 in advance, 2 refunded (the unprocessed keys); then the 2 re-sent keys, not found: 1 RCU each
    assert charges.units == [10, -2, 2, 0]
    assert sum(charges.units) == 10
    assert "ReturnConsumedCapacity" not in api.calls[0][1]


def test_each_answer_is_charged_the_capacity_the_server_reports():
    """With report_capacity the request asks for TOTAL and the limiter is charged the answer's CapacityUnits."""
    api = FakeApi(lambda op, doc: {"Responses": {"t": []}, "UnprocessedKeys": {},
                                   "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 42.5}]})
    charges = Charges()
    with BatchGetter(api, "t", KEYS, retry=FAST, limiter=charges, report_capacity=True) as getter:
        getter.get([key(i) for i in range(3)])
    assert charges.units == [3, 39.5]  # 1 RCU per key in advance, then 39.5 more: the reported 42.5
    assert sum(charges.units) == 42.5
    assert api.calls[0][1]["ReturnConsumedCapacity"] == "TOTAL"
