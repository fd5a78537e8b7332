"""Sample data is valid wire format, covers the edge cases it promises, and its helpers behave."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest

from migrator.demo import sample_data
from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.sample_items import (
    ALL_BYTES, canonical, demo_items, edge_items, from_boto3, item_size, key_of, to_boto3,
)

SCALAR_TYPES = {"S", "N", "B", "BOOL", "NULL"}
SET_TYPES = {"SS", "NS", "BS"}
ALL_TYPES = SCALAR_TYPES | SET_TYPES | {"M", "L"}


def walk(value: dict, depth: int = 0):
    """Yield (type, inner value, depth) for a wire-format value and everything nested in it."""
    assert isinstance(value, dict) and len(value) == 1, value
    (kind, inner), = value.items()
    yield kind, inner, depth
    if kind == "M":
        for child in inner.values():
            yield from walk(child, depth + 1)
    elif kind == "L":
        for child in inner:
            yield from walk(child, depth + 1)


def values_of(items):
    for item in items:
        for value in item.values():
            yield from walk(value)


def assert_wire_format(kind: str, inner) -> None:
    assert kind in ALL_TYPES, kind
    if kind in ("S", "N", "B"):
        assert isinstance(inner, str)
    if kind in SET_TYPES:
        assert inner and all(isinstance(v, str) for v in inner) and len(set(inner)) == len(inner)
    if kind in ("B", "BS"):
        for text in [inner] if kind == "B" else inner:
            assert base64.b64encode(base64.b64decode(text, validate=True)).decode() == text
    if kind in ("N", "NS"):
        for text in [inner] if kind == "N" else inner:
            Decimal(text)
    if kind in ("BOOL", "NULL"):
        assert isinstance(inner, bool)


def test_edge_items_are_wire_format_json():
    """Every edge value is a one-key {type: value} dict with strings for S/N/B, and survives JSON."""
    items = edge_items()
    for kind, inner, _ in values_of(items):
        assert_wire_format(kind, inner)
    assert json.loads(json.dumps(items)) == items


def test_edge_items_have_unique_string_ids():
    """About 30 items, each keyed by a distinct non-empty S ``id``."""
    ids = [item["id"]["S"] for item in edge_items()]
    assert 25 <= len(ids) <= 40
    assert len(set(ids)) == len(ids) and all(ids)


def test_edge_items_cover_every_type_nested_four_levels_deep():
    """All ten attribute types appear, and maps/lists nest at least four levels holding every type."""
    found = list(values_of(edge_items()))
    assert {kind for kind, _, _ in found} == ALL_TYPES
    deep_types = {kind for kind, _, depth in found if depth >= 4}
    assert deep_types == ALL_TYPES


def test_edge_numbers_include_extremes():
    """38 significant digits, exponents at both ends of the range and small negatives are present."""
    numbers = {inner for kind, inner, _ in values_of(edge_items()) if kind == "N"}
    assert {"1E+125", "-1E-130", "1E-130", "-0.000001", "9.9999999999999999999999999999999999999E+125"} <= numbers
    digits = [len(Decimal(n).as_tuple().digits) for n in numbers]
    assert max(digits) == 38
    assert any(Decimal(n) < 0 for n in numbers)


def test_binary_edge_item_holds_all_256_byte_values():
    """The B attribute decodes to bytes 0..255 in order."""
    item = next(i for i in edge_items() if i["id"]["S"] == "binary-all-bytes")
    assert base64.b64decode(item["data"]["B"]) == bytes(range(256)) == ALL_BYTES


def test_empty_string_and_binary_only_on_non_key_attributes():
    """Empty S and empty B values exist, but never as the key."""
    items = edge_items()
    values = list(values_of(items))
    assert ("S", "", 0) in values and ("B", "", 0) in values
    assert all(item["id"]["S"] for item in items)


def test_edge_items_include_unicode_variety():
    """CJK, emoji (astral plane), and combining characters appear, unnormalized."""
    text = json.dumps(edge_items(), ensure_ascii=False)
    assert "漢字" in text and "😀" in text and "e\u0301" in text and "\u00e9" in text


def test_large_edge_item_is_close_to_but_under_400kb():
    """One item is between 380 KB and DynamoDB's 400 KB limit, counting attribute names."""
    sizes = sorted(item_size(item) for item in edge_items())
    assert 380_000 <= sizes[-1] < 400 * 1024
    assert sizes[-2] < 100_000


def test_to_boto3_decodes_binaries_recursively_and_from_boto3_reverses_it():
    """B and BS become bytes everywhere (also inside M and L); from_boto3 restores the wire form."""
    for item in edge_items():
        converted = to_boto3(item)
        for kind, inner, _ in (v for value in converted.values() for v in walk(value)):
            if kind == "B":
                assert isinstance(inner, bytes)
            if kind == "BS":
                assert all(isinstance(b, bytes) for b in inner)
        assert from_boto3(converted) == item


def test_to_boto3_leaves_its_input_unchanged():
    """Conversion copies; the caller's wire-format item is not mutated."""
    item = next(i for i in edge_items() if i["id"]["S"] == "nested-deep")
    before = json.dumps(item)
    to_boto3(item)
    assert json.dumps(item) == before


def test_demo_items_are_deterministic_and_prefix_stable():
    """Same seed, same items; the first k items do not depend on n; another seed differs."""
    assert list(demo_items(50)) == list(demo_items(50))
    assert list(demo_items(200))[:50] == list(demo_items(50))
    assert list(demo_items(50, seed=8)) != list(demo_items(50))


def test_demo_items_fit_the_demo_table_and_hold_every_type():
    """Unique pk/sk keys, index attributes present, all ten types, about 300 bytes each."""
    items = list(demo_items(2000))
    assert len({(i["pk"]["S"], i["sk"]["N"]) for i in items}) == 2000
    assert all("S" in i["gsi_pk"] and "S" in i["lsi_sk"] for i in items)
    for kind, inner, _ in values_of(items):
        assert_wire_format(kind, inner)
    assert {kind for kind, _, _ in values_of(items[:1])} == ALL_TYPES
    mean_size = sum(map(item_size, items)) / len(items)
    assert 250 <= mean_size <= 350


def test_canonical_ignores_set_order_and_number_spelling():
    """Sets in any order and numbers like 1E+2 / 100 / 100.0 compare equal; 38 digits are kept."""
    a = {"ns": {"NS": ["1E+2", "-0.50"]}, "ss": {"SS": ["b", "a"]}, "l": {"L": [{"N": "1.0"}]}}
    b = {"ns": {"NS": ["-0.5", "100"]}, "ss": {"SS": ["a", "b"]}, "l": {"L": [{"N": "1"}]}}
    assert canonical(a) == canonical(b)
    long = "12345678901234567890123456789012345678"
    assert canonical({"n": {"N": long}}) != canonical({"n": {"N": long[:-1] + "9"}})
    assert canonical({"n": {"N": "-0"}}) == canonical({"n": {"N": "0"}})


def test_key_of_orders_numbers_numerically():
    """Numeric sort keys sort by value, not as text."""
    items = [{"pk": {"S": "a"}, "sk": {"N": n}} for n in ("10", "9", "-1E+2", "0.5")]
    ordered = sorted(items, key=lambda i: key_of(i, ["pk", "sk"]))
    assert [i["sk"]["N"] for i in ordered] == ["-1E+2", "0.5", "9", "10"]


def no_sleep(monkeypatch) -> None:
    """Replace the time module seen by sample_data with one whose sleep returns at once."""
    monkeypatch.setattr(sample_data, "time", SimpleNamespace(sleep=lambda s: None, monotonic=time.monotonic))


class FakeClient:
    """Fake boto3 client; the first ``hold_rounds`` BatchWriteItem calls write only the first request."""

    def __init__(self, hold_rounds: int = 1, pages: list | None = None, statuses=("ACTIVE",)):
        self.hold_rounds = hold_rounds
        self.written: list[dict] = []
        self.calls = 0
        self.pages = pages or []
        self.scans: list[dict] = []
        self.statuses = list(statuses)
        self.created: dict = {}

    def batch_write_item(self, RequestItems):
        self.calls += 1
        (table, writes), = RequestItems.items()
        if self.hold_rounds > 0:
            self.hold_rounds -= 1
            keep = 1 if len(writes) > 1 else 0
            self.written += [w["PutRequest"]["Item"] for w in writes[:keep]]
            return {"UnprocessedItems": {table: writes[keep:]}}
        self.written += [w["PutRequest"]["Item"] for w in writes]
        return {"UnprocessedItems": {}}

    def describe_table(self, TableName):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"Table": {"TableStatus": status, "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}}

    def scan(self, **request):
        self.scans.append(dict(request))
        return self.pages[len(self.scans) - 1]

    def create_table(self, **request):
        self.created = request


def test_fill_table_resends_unprocessed_items_and_converts_binaries(monkeypatch):
    """Held-back writes are retried until written; B values reach boto3 as bytes."""
    no_sleep(monkeypatch)
    client = FakeClient(hold_rounds=3)
    items = list(demo_items(60))
    assert fill_table(client, "t", items, batch_size=25, threads=1) == 60
    assert len(client.written) == 60 and client.calls == 3 + 3
    assert sorted(from_boto3(i)["sk"]["N"] for i in client.written) == sorted(i["sk"]["N"] for i in items)
    assert all(isinstance(i["checksum"]["B"], bytes) for i in client.written)


def test_fill_table_gives_up_when_items_stay_unprocessed(monkeypatch):
    """A batch that never fully succeeds raises after a bounded number of attempts."""
    no_sleep(monkeypatch)
    client = FakeClient(hold_rounds=10**6)
    with pytest.raises(RuntimeError, match="still unprocessed"):
        fill_table(client, "t", demo_items(10), threads=1)
    assert client.calls == sample_data.MAX_WRITE_ATTEMPTS


def test_scan_all_follows_pages_converts_binaries_and_sorts_by_key():
    """LastEvaluatedKey is followed, bytes become base64, output is sorted by pk then numeric sk."""
    def item(pk: str, sk: str) -> dict:
        return {"pk": {"S": pk}, "sk": {"N": sk}, "b": {"B": b"\x00\xff"}}

    pages = [{"Items": [item("b", "1"), item("a", "10")], "LastEvaluatedKey": {"pk": {"S": "a"}}},
             {"Items": [item("a", "9")]}]
    client = FakeClient(pages=pages)
    result = scan_all(client, "t")
    assert [(i["pk"]["S"], i["sk"]["N"]) for i in result] == [("a", "9"), ("a", "10"), ("b", "1")]
    assert result[0]["b"] == {"B": "AP8="}
    assert client.scans[1]["ExclusiveStartKey"] == {"pk": {"S": "a"}}


def test_create_table_waits_for_active_and_provisions_gsis(monkeypatch):
    """PROVISIONED billing gives the table and each GSI throughput; the call returns once ACTIVE."""
    no_sleep(monkeypatch)
    client = FakeClient(statuses=["CREATING", "CREATING", "ACTIVE"])
    gsi = {"IndexName": "g", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "ALL"}}
    table = create_table(client, "t", [{"AttributeName": "pk", "KeyType": "HASH"}],
                         [{"AttributeName": "pk", "AttributeType": "S"}],
                         billing="PROVISIONED", capacity=7, GlobalSecondaryIndexes=[gsi])
    assert table["TableStatus"] == "ACTIVE"
    assert client.created["ProvisionedThroughput"] == {"ReadCapacityUnits": 7, "WriteCapacityUnits": 7}
    assert client.created["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
