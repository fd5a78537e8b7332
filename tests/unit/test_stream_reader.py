"""The Streams client and GetRecords' decoding: the streams API on the source's endpoint, records cut raw (with
or without msgspec), and the CPU a change costs from answer to BatchWriteItem body."""

from __future__ import annotations

import json

import pytest

from migrator.codec import loads
from migrator.config import Credentials
from migrator.dynamo.api import DynamoApi, RetryPolicy
from migrator.dynamo.database import Database
from migrator.streams import reader
from tests.unit.fakes import FakeResponse, both_decoders

FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)
KEYS = Credentials("AKIDEXAMPLE", "secret")


def test_streams_requests_name_the_streams_api_and_sign_for_dynamodb():
    """X-Amz-Target is DynamoDBStreams_20120810.<operation>; the signature's service stays dynamodb."""
    from botocore.credentials import Credentials as BotoCredentials

    seen = {}

    class Pool:
        def post(self, url, headers, body):
            seen.update(headers)
            return FakeResponse(200, {"ShardIterator": "it-1"})

    api = DynamoApi("http://127.0.0.1:1", "eu-west-1", BotoCredentials("AKIDEXAMPLE", "secret"), retry=FAST,
                    target_prefix="DynamoDBStreams_20120810.")
    api._pool = Pool()
    assert api.call("GetShardIterator", {"ShardId": "s"})["ShardIterator"] == "it-1"
    assert seen["X-Amz-Target"] == "DynamoDBStreams_20120810.GetShardIterator"
    assert "/eu-west-1/dynamodb/aws4_request" in seen["Authorization"]


@pytest.mark.parametrize(("kind", "endpoint", "url"), [
    ("dynamodb", None, "https://streams.dynamodb.eu-west-1.amazonaws.com"),
    ("dynamodb", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("alternator", "http://scylla-1:8000", "http://scylla-1:8000"),
])
def test_streams_are_served_at_the_custom_endpoint_or_the_regions_streams_endpoint(kind, endpoint, url):
    """A custom endpoint (Alternator's too, without node routing) serves Streams at its own URL; AWS at
    streams.dynamodb.<region>.amazonaws.com."""
    database = Database("source", kind, "eu-west-1", endpoint_url=endpoint, credentials=KEYS)
    with database.streams_api() as api:
        assert api.url == url
        assert api._target_prefix == "DynamoDBStreams_20120810."


def answer(records: list[dict], next_iterator: str | None = "it-2") -> bytes:
    doc = {"Records": records}
    if next_iterator is not None:
        doc["NextShardIterator"] = next_iterator
    return json.dumps(doc, ensure_ascii=False).encode()


def record(event: str, sequence: str, image: dict | None = None, created=1700000000.5, keys=None) -> dict:
    data = {"Keys": keys or {"pk": {"S": "é-1"}}, "SequenceNumber": sequence, "SizeBytes": 40,
            "ApproximateCreationDateTime": created, "StreamViewType": "NEW_IMAGE"}
    if image is not None:
        data["NewImage"] = image
    return {"eventID": "e", "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": data}


@pytest.fixture(params=["msgspec", "json"])
def any_reader(request, monkeypatch):
    """reader.py as imported, and as an environment without msgspec has it (the stdlib json fallback)."""
    yield from both_decoders(reader, request.param, monkeypatch)


def test_records_are_cut_into_raw_keys_and_images(any_reader):
    """Keys and NewImage decode to what the stream sent; a REMOVE has no image; the last page of a closed shard
    has no next iterator."""
    image = {"pk": {"S": "é-1"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}}
    page = any_reader.records_page(answer([record("INSERT", "101", image), record("REMOVE", "102")], None))
    first, second = page.records
    assert (first.event, first.sequence, loads(first.keys), loads(first.image)) == (
        "INSERT", "101", {"pk": {"S": "é-1"}}, image)
    assert first.created == 1700000000.5
    assert (second.event, second.image) == ("REMOVE", None)
    assert page.next_iterator is None


def test_an_empty_page_keeps_its_next_iterator(any_reader):
    """An open shard read to its end: no record, and the iterator to poll it again."""
    page = any_reader.records_page(b'{"Records":[],"NextShardIterator":"it-9"}')
    assert (page.records, page.next_iterator) == ([], "it-9")


def test_a_creation_time_sent_as_text_is_read(any_reader):
    """A server that sends ApproximateCreationDateTime as an ISO time or a numeric string still gives the lag."""
    page = any_reader.records_page(answer([record("REMOVE", "1", created="2023-11-14T22:13:20+00:00"),
                                           record("REMOVE", "2", created="1700000000")]))
    assert [r.created for r in page.records] == [1700000000.0, 1700000000.0]


def test_an_error_in_a_200_answer_is_not_an_empty_page(any_reader):
    """A 200 answer carrying an error __type raises AnswerError (retried by the client), not 'caught up'."""
    from migrator.codec import AnswerError

    with pytest.raises(AnswerError, match="ExpiredIteratorException"):
        any_reader.records_page(b'{"__type":"x#ExpiredIteratorException","message":"old"}')
