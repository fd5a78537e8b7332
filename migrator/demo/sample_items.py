"""Deterministic DynamoDB items in wire format: edge cases, demo items, and helpers to convert and compare them.

Items are the JSON the DynamoDB API sends (``{"price": {"N": "1.5"}}``, binaries as
base64 strings), never Python types, because the migrator moves that JSON unchanged.
boto3's low-level client wants raw bytes for ``B``/``BS`` instead: ``to_boto3`` and
``from_boto3`` convert between the two.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterable, Iterator
from decimal import Context, Decimal

ALL_BYTES = bytes(range(256))
LARGE_ITEM_BYTES = 390_000  # DynamoDB's limit is 400 KB including attribute names
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
