"""Deterministic DynamoDB items in wire format, and helpers to load and read them back.

Items are the JSON the DynamoDB API sends (``{"price": {"N": "1.5"}}``, binaries as
base64 strings), never Python types, because the migrator moves that JSON unchanged.
boto3's low-level client wants raw bytes for ``B``/``BS`` instead: ``to_boto3`` and
``from_boto3`` convert between the two.
"""

from __future__ import annotations

import base64
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from decimal import Context, Decimal

logger = logging.getLogger(__name__)

ALL_BYTES = bytes(range(256))
LARGE_ITEM_BYTES = 390_000  # DynamoDB's limit is 400 KB including attribute names
MAX_WRITE_ATTEMPTS = 12
_WIDE_CONTEXT = Context(prec=60)  # DynamoDB numbers have up to 38 significant digits


# ---------------------------------------------------------------- wire <-> boto3


def to_boto3(item: dict) -> dict:
    """Copy of a wire-format item with ``B``/``BS`` base64 strings decoded to bytes, for boto3 requests."""
    return {name: _convert(value, base64.b64decode) for name, value in item.items()}


def from_boto3(item: dict) -> dict:
    """Copy of a boto3 item with ``B``/``BS`` bytes encoded to base64 strings: the wire format."""
    return {name: _convert(value, _b64) for name, value in item.items()}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _convert(value: dict, binary: Callable) -> dict:
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": binary(inner)}
    if kind == "BS":
        return {"BS": [binary(b) for b in inner]}
    if kind == "M":
        return {"M": {k: _convert(v, binary) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_convert(v, binary) for v in inner]}
    return {kind: inner}


def canonical(item: dict) -> dict:
    """Copy of a wire-format item with sets sorted and numbers normalized, for comparing across servers.

    DynamoDB does not keep the order of set members, and servers spell numbers differently
    ("1.50" vs "1.5", "1E+2" vs "100"); two canonical items are equal iff they hold the same data.
    """
    return {name: _canonical_value(value) for name, value in item.items()}


def _canonical_value(value: dict) -> dict:
    (kind, inner), = value.items()
    if kind == "N":
        return {"N": _canonical_number(inner)}
    if kind == "NS":
        return {"NS": sorted((_canonical_number(n) for n in inner), key=Decimal)}
    if kind in ("SS", "BS"):
        return {kind: sorted(inner)}
    if kind == "M":
        return {"M": {k: _canonical_value(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_canonical_value(v) for v in inner]}
    return {kind: inner}


def _canonical_number(text: str) -> str:
    number = Decimal(text).normalize(_WIDE_CONTEXT)
    return "0" if number.is_zero() else str(number)


def key_of(item: dict, key_names: Iterable[str]) -> tuple:
    """Sortable tuple of an item's key values (numbers as Decimal, binaries as bytes)."""
    parts = []
    for name in key_names:
        (kind, inner), = item[name].items()
        if kind == "N":
            parts.append((kind, Decimal(inner)))
        elif kind == "B":
            parts.append((kind, inner if isinstance(inner, bytes) else base64.b64decode(inner)))
        else:
            parts.append((kind, inner))
    return tuple(parts)


# ---------------------------------------------------------------- edge items

# Each of these becomes its own item: the extremes of DynamoDB's number range and
# spellings a naive float conversion would break.
EDGE_NUMBERS = {
    "zero": "0",
    "integer-38-digits": "12345678901234567890123456789012345678",
    "negative-38-digits": "-98765432109876543210987654321098765432",
    "fraction-38-digits": "0.12345678901234567890123456789012345678",
    "mixed-38-digits": "-1234567890123456789.0123456789012345678",
    "max-positive": "9.9999999999999999999999999999999999999E+125",
    "min-negative": "-9.9999999999999999999999999999999999999E+125",
    "exponent-large": "1E+125",
    "exponent-tiny": "1E-130",
    "exponent-tiny-negative": "-1E-130",
    "small-negative-fraction": "-0.000001",
    "negative-integer": "-42",
    "beyond-float64": "123456789012345678.9",
    "two-to-the-64": "18446744073709551616",
}

UNICODE_STRINGS = {
    "cjk": "漢字とひらがなとカタカナ、한국어, 中文简体",
    "emoji": "😀🚀🎉 family 👩‍👩‍👧‍👦 flag 🇯🇵 skin 👍🏽",
    "combining": "e\u0301 vs \u00e9, a\u0308\u0323, Z\u0351\u0362\u0337",  # NFD and NFC must both survive
    "rtl": "مرحبا بالعالم שלום",
    "controls": "tab\tnewline\ncarriage\rquote\"backslash\\nul\u0000end",
    "astral": "\U0001d11e\U0001f600\U00010348",
    "bom-and-zwsp": "\ufeffstart\u200bmiddle\u2028line-sep",
}


def edge_items() -> list[dict]:
    """About 30 items keyed by ``id`` (S) that cover every attribute type with awkward values."""
    items = [{"id": {"S": f"number-{name}"}, "value": {"N": number}, "as_string": {"S": number}}
             for name, number in EDGE_NUMBERS.items()]
    items.append({"id": {"S": "number-sets"}, "values": {"NS": list(EDGE_NUMBERS.values())}})
    items += [{"id": {"S": f"unicode-{name}"}, "text": {"S": text}, "in_set": {"SS": [text, "plain"]}}
              for name, text in UNICODE_STRINGS.items()]
    items += [
        {"id": {"S": "binary-all-bytes"}, "data": {"B": _b64(ALL_BYTES)},
         "reversed": {"B": _b64(ALL_BYTES[::-1])}},
        {"id": {"S": "binary-set"},
         "blobs": {"BS": [_b64(b"\x00"), _b64(b"\xff" * 3), _b64(ALL_BYTES), _b64("é".encode())]}},
        {"id": {"S": "empty-values"}, "empty_s": {"S": ""}, "empty_b": {"B": ""},
         "empty_m": {"M": {}}, "empty_l": {"L": []},
         "in_map": {"M": {"s": {"S": ""}, "b": {"B": ""}}}, "in_list": {"L": [{"S": ""}, {"B": ""}]}},
        {"id": {"S": "bool-and-null"}, "yes": {"BOOL": True}, "no": {"BOOL": False}, "nothing": {"NULL": True}},
        {"id": {"S": "string-set"}, "tags": {"SS": ["a", "B", "b", " ", "😀", "漢字", "e\u0301", "\u00e9"]}},
        {"id": {"S": "nested-deep"}, "tree": _nested(depth=6)},
        {"id": {"S": "list-of-everything"}, "list": {"L": [{"M": _all_scalars()}, *_all_scalars().values()]}},
        {"id": {"S": "awkward-attribute-names"}, **_awkward_names()},
        {"id": {"S": "many-attributes"}, **{f"attr_{i:03d}": {"N": str(i)} for i in range(200)}},
        {"id": {"S": "key-漢字-😀-e\u0301"}, "note": {"S": "unicode in the key"}},
        {"id": {"S": " leading and trailing spaces "}, "note": {"S": "spaces in the key"}},
        _large_item(),
    ]
    return items


def _all_scalars() -> dict[str, dict]:
    return {
        "s": {"S": "text ✓"}, "n": {"N": "-1.5E-7"}, "b": {"B": _b64(b"\x00\x01\xfe\xff")},
        "bool": {"BOOL": True}, "null": {"NULL": True}, "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "-2.5", "3E+10"]}, "bs": {"BS": [_b64(b"\x01"), _b64(b"\x02")]},
        "empty_s": {"S": ""}, "empty_b": {"B": ""},
    }


def _nested(depth: int) -> dict:
    """Alternating map and list, ``depth`` levels deep, every level holding every type."""
    inner: dict = {"M": {"leaf": {"S": "bottom"}, "n": {"N": str(depth)}}}
    for level in range(depth, 0, -1):
        if level % 2:
            inner = {"L": [inner, *_all_scalars().values(), {"N": str(level)}]}
        else:
            inner = {"M": {"child": inner, **_all_scalars(), "level": {"N": str(level)}}}
    return inner


def _awkward_names() -> dict:
    names = ["with space", "a.b", "#hash", ":colon", "名前", "emoji😀", "UPPER", "upper",
             "[0]", "-dash", "x" * 255]
    return {name: {"S": f"value of {name[:20]}"} for name in names}


def _large_item() -> dict:
    rng = random.Random(400)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    text = "".join(rng.choices(alphabet, k=LARGE_ITEM_BYTES - 4_096))
    blob = rng.randbytes(3_000)
    return {"id": {"S": "large-390kb"}, "text": {"S": text}, "blob": {"B": _b64(blob)},
            "n": {"N": "1"}}


def item_size(item: dict) -> int:
    """Approximate DynamoDB item size: attribute names plus values, in bytes (upper bound for nesting)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind == "N":
        return len(inner.encode())  # DynamoDB stores up to 21 bytes; the text is an upper bound here
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(len(n.encode()) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in inner.items())
    return 3 + sum(1 + _value_size(v) for v in inner)  # L


# ---------------------------------------------------------------- demo items

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "québec", "東京", "🚀"]
ITEMS_PER_PARTITION = 4
GSI_PARTITIONS = 64


def demo_items(n: int, seed: int = 7) -> Iterator[dict]:
    """``n`` items (~300 bytes each) for ``create_demo_table``; the first k items do not depend on ``n``."""
    rng = random.Random(seed)
    for i in range(n):
        words = rng.sample(_WORDS, 3)
        cents = rng.randrange(-50_000, 5_000_000)
        yield {
            "pk": {"S": f"customer#{i // ITEMS_PER_PARTITION:07d}"},
            "sk": {"N": str(i)},
            "gsi_pk": {"S": f"region#{rng.randrange(GSI_PARTITIONS):02d}"},
            "lsi_sk": {"S": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{i % 24:02d}:00:00Z"},
            "title": {"S": " ".join(words)},
            "price": {"N": _decimal_text(Decimal(cents).scaleb(-2))},
            "ratio": {"N": _decimal_text(Decimal(rng.randrange(1, 10**9)).scaleb(-rng.randrange(0, 15)))},
            "active": {"BOOL": rng.random() < 0.5},
            "deleted_at": {"NULL": True},
            "checksum": {"B": _b64(rng.randbytes(rng.randrange(8, 24)))},
            "tags": {"SS": words},
            "scores": {"NS": [str(v) for v in rng.sample(range(-1000, 1000), 3)]},
            "thumbnails": {"BS": [_b64(bytes([k]) + rng.randbytes(6)) for k in range(2)]},
            "address": {"M": {
                "city": {"S": rng.choice(_WORDS)},
                "zip": {"N": str(rng.randrange(10_000, 99_999))},
                "geo": {"L": [{"N": str(rng.randrange(-90, 90))}, {"N": str(rng.randrange(-180, 180))}]},
                "verified": {"BOOL": rng.random() < 0.2},
            }},
            "history": {"L": [{"S": rng.choice(_WORDS)}, {"N": str(rng.randrange(1000))},
                              {"M": {"ok": {"BOOL": True}, "note": {"NULL": True}}}]},
        }


def _decimal_text(number: Decimal) -> str:
    """Plain decimal notation without trailing zeros, as DynamoDB prints such numbers."""
    text = format(number.normalize(_WIDE_CONTEXT), "f")
    return "0" if Decimal(text).is_zero() else text


# ---------------------------------------------------------------- tables


def create_table(client, name: str, key_schema: list[dict], attribute_definitions: list[dict], *,
                 billing: str = "PAY_PER_REQUEST", capacity: int = 100, timeout: float = 60.0,
                 **extra) -> dict:
    """Create a table and wait until it and its indexes are ACTIVE; ``extra`` goes to CreateTable.

    With ``billing="PROVISIONED"`` the table and its GSIs get ``capacity`` read and write units.
    Returns the final DescribeTable ``Table``.
    """
    request = {"TableName": name, "KeySchema": key_schema,
               "AttributeDefinitions": attribute_definitions, "BillingMode": billing, **extra}
    if billing == "PROVISIONED":
        throughput = {"ReadCapacityUnits": capacity, "WriteCapacityUnits": capacity}
        request["ProvisionedThroughput"] = throughput
        for index in request.get("GlobalSecondaryIndexes", []):
            index.setdefault("ProvisionedThroughput", throughput)
    client.create_table(**request)
    return wait_active(client, name, timeout)


def wait_active(client, name: str, timeout: float = 60.0) -> dict:
    """Poll DescribeTable until the table and all its GSIs are ACTIVE."""
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=name)["Table"]
        statuses = [table["TableStatus"]] + [g["IndexStatus"] for g in table.get("GlobalSecondaryIndexes", [])]
        if all(status == "ACTIVE" for status in statuses):
            return table
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {name!r} not ACTIVE after {timeout:.0f} s: {statuses}")
        time.sleep(0.1)


def create_demo_table(client, name: str, billing: str = "PAY_PER_REQUEST") -> dict:
    """Table for ``demo_items``: key pk (S) + sk (N), GSI ``by_gsi_pk``, LSI ``by_lsi_sk``."""
    return create_table(
        client, name,
        key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        attribute_definitions=[{"AttributeName": n, "AttributeType": t}
                               for n, t in (("pk", "S"), ("sk", "N"), ("gsi_pk", "S"), ("lsi_sk", "S"))],
        billing=billing,
        GlobalSecondaryIndexes=[{
            "IndexName": "by_gsi_pk",
            "KeySchema": [{"AttributeName": "gsi_pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "by_lsi_sk",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "lsi_sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


# ---------------------------------------------------------------- load and read back


def fill_table(client, table: str, items: Iterable[dict], batch_size: int = 25, threads: int = 4) -> int:
    """Write wire-format ``items`` with BatchWriteItem from ``threads`` threads; returns the count written.

    UnprocessedItems are re-sent with exponential backoff; after MAX_WRITE_ATTEMPTS the call raises.
    """
    if not 1 <= batch_size <= 25:
        raise ValueError(f"batch_size must be 1..25, got {batch_size}")
    batches = _chunks((to_boto3(item) for item in items), batch_size)
    written = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fill") as pool:
        pending: set = set()
        for batch in batches:
            if len(pending) >= threads * 2:  # bound memory for long generators
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                written += sum(f.result() for f in done)
            pending.add(pool.submit(_write_batch, client, table, batch))
        written += sum(f.result() for f in pending)
    return written


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _write_batch(client, table: str, batch: list[dict]) -> int:
    request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
    rng = random.Random(threading.get_ident())
    for attempt in range(MAX_WRITE_ATTEMPTS):
        unprocessed = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if not unprocessed:
            return len(batch)
        request = unprocessed
        time.sleep(rng.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    left = sum(len(requests) for requests in request.values())
    raise RuntimeError(f"{left} of {len(batch)} items still unprocessed in table {table!r} "
                       f"after {MAX_WRITE_ATTEMPTS} BatchWriteItem attempts")


def scan_all(client, table: str, segments: int = 1) -> list[dict]:
    """Every item of ``table`` in wire format, sorted by key; ``segments`` > 1 scans in parallel threads."""
    key_names = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    if segments == 1:
        items = _scan_segment(client, table, {})
    else:
        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
            parts = pool.map(lambda s: _scan_segment(client, table, {"Segment": s, "TotalSegments": segments}),
                             range(segments))
            items = [item for part in parts for item in part]
    return sorted(items, key=lambda item: key_of(item, key_names))


def _scan_segment(client, table: str, segment: dict) -> list[dict]:
    items: list[dict] = []
    request = {"TableName": table, **segment}
    while True:
        page = client.scan(**request)
        items += (from_boto3(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count_items(client, table: str) -> int:
    """Exact count by a COUNT scan (DescribeTable's ItemCount is approximate on AWS)."""
    total, request = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = client.scan(**request)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
