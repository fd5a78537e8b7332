import gc
import json

import pytest

from migrator import codec
from migrator.demo.sample_items import edge_items
from tests.unit.fakes import both_decoders


def scan_answer(items, **extra) -> bytes:
    """A Scan answer as a server writes it: items in the middle, other fields around them."""
    return json.dumps({"Count": len(items), "Items": items, "ScannedCount": len(items), **extra},
                      ensure_ascii=False).encode()


@pytest.fixture(params=["msgspec", "json"])
def any_codec(request, monkeypatch):
    """The codec as imported, and the codec of an environment without msgspec (the stdlib json fallback)."""
    yield from both_decoders(codec, request.param, monkeypatch)


def test_raw_items_decode_to_exactly_the_items_of_the_page(any_codec):
    """Every edge value (38-digit numbers, all bytes in B, unicode, nesting) survives the cut unchanged."""
    items = edge_items()
    page = any_codec.raw_scan_page(scan_answer(items, LastEvaluatedKey={"id": {"S": "x"}}))
    assert [json.loads(bytes(fragment)) for fragment in page.items] == items
    assert page.last_key == {"id": {"S": "x"}}
    assert page.consumed_units is None


def test_raw_items_are_the_bytes_the_server_sent():
    """With msgspec the fragments are slices of the answer, not a re-encoding of it."""
    answer = b'{"Items":[{"n":{"N":"1.500"}} , {"s":{"S":"\\u00e9\\/"}}],"Count":2}'
    assert [bytes(f) for f in codec.raw_scan_page(answer).items] == [b'{"n":{"N":"1.500"}}',
                                                                       b'{"s":{"S":"\\u00e9\\/"}}']


def test_consumed_capacity_and_an_empty_last_page(any_codec):
    page = any_codec.raw_scan_page(scan_answer([], ConsumedCapacity={"TableName": "t", "CapacityUnits": 2.5}))
    assert (page.items, page.last_key, page.consumed_units) == ([], None, 2.5)


def test_dict_pages_match_raw_pages(any_codec):
    data = scan_answer(edge_items(), LastEvaluatedKey={"id": {"S": "k"}})
    decoded, raw = any_codec.scan_page(data), any_codec.raw_scan_page(data)
    assert decoded.items == [json.loads(bytes(f)) for f in raw.items]
    assert decoded.last_key == raw.last_key


@pytest.mark.parametrize("answer", [b'{"Items":[{"a":{"S":"x"}}', b'{"Items":[{"a":]}', b"not json"])
def test_malformed_answers_raise_value_error(any_codec, answer):
    with pytest.raises(ValueError):
        any_codec.raw_scan_page(answer)


def test_collection_is_paused_only_while_a_large_answer_is_decoded(monkeypatch):
    seen = []
    monkeypatch.setattr(codec, "_loads", lambda data: seen.append(gc.isenabled()) or {})
    codec.loads(b"{}")
    codec.loads(b" " * codec.GC_PAUSE_BYTES + b"{}")
    assert seen == [True, False]
    assert gc.isenabled()


def test_dumps_is_compact_utf8(any_codec):
    assert any_codec.dumps({"a": {"S": "é"}, "b": [1]}) == '{"a":{"S":"é"},"b":[1]}'.encode()


@pytest.mark.parametrize("answer, message, code", [
    (b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"busy"}',
     "a 200 answer carries the error InternalServerError: busy", "InternalServerError"),
    (b'{"Items":[],"__type":"x#ThrottlingException"}', "carries the error ThrottlingException", "ThrottlingException"),
    (b'{"Count":0,"ScannedCount":0}', "the answer has no Items", ""),
])
def test_answers_that_are_not_scan_answers_raise_answer_error(any_codec, answer, message, code):
    """An error body or a body without Items is an AnswerError (raw and dict pages), never an empty last page."""
    for decode in (any_codec.raw_scan_page, any_codec.scan_page):
        with pytest.raises(any_codec.AnswerError, match=message) as info:
            decode(answer)
        assert info.value.code == code


def test_a_body_that_is_not_an_object_is_not_a_scan_answer(any_codec):
    """A JSON array, string or null, or Items that are not an array, raise ValueError from both page decoders."""
    for body in (b"[]", b'"Items"', b"null", b'{"Items":null}', b'{"Items":{}}'):
        for decode in (any_codec.raw_scan_page, any_codec.scan_page):
            with pytest.raises(ValueError):
                decode(body)
