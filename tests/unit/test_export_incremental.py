"""An incremental export's data files read as changes: the newest per key, as raw puts and deletes (exports/).

Each test runs with msgspec and with the stdlib json fallback (an executor without msgspec)."""

from __future__ import annotations

import gzip
import hashlib
import importlib

import pytest

from migrator.codec import dumps, loads
from migrator.errors import TransferError
from migrator.exports import data_file, incremental
from migrator.exports.manifest import DataFile
from migrator.readers.source import Changes
from tests.unit.fakes import both_decoders

WHERE = "s3://b/export/data/f.json.gz"


@pytest.fixture(params=["msgspec", "json"])
def reader(request, monkeypatch):
    """data_file.py over incremental.py as imported, and as an environment without msgspec has it."""
    for _ in both_decoders(incremental, request.param, monkeypatch):
        yield importlib.reload(data_file)  # it takes NewestPerKey from the incremental module just loaded
    importlib.reload(data_file)


def line(micros, keys: dict, image: dict | None = None, old: dict | None = None) -> bytes:
    """One line as AWS writes it; `micros` goes in as it is given (an int is written as its digits)."""
    doc = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)} if isinstance(micros, int) else micros},
           "Keys": keys}
    if image is not None:
        doc["NewImage"] = image
    if old is not None:
        doc["OldImage"] = old
    return dumps(doc) + b"\n"


def file_of(lines: list[bytes], *, count: int | None = None) -> tuple[bytes, DataFile]:
    data = gzip.compress(b"".join(lines))
    return data, DataFile("export/data/f.json.gz", len(lines) if count is None else count,
                          hashlib.md5(data, usedforsecurity=False).digest())


def applied(reader, lines: list[bytes], **kwargs) -> list[Changes]:
    data, file = file_of(lines)
    return list(reader.change_pages(data, file, WHERE, **kwargs))


def final(pages: list[Changes]) -> tuple[list, list]:
    """Every put and delete of the pages, decoded, in order."""
    return ([loads(put) for page in pages for put in page.puts],
            [loads(key) for page in pages for key in page.deletes])


def key(pk: str) -> dict:
    return {"pk": {"S": pk}}


def test_a_line_with_a_new_image_is_a_put_and_one_without_is_a_delete_byte_for_byte(reader):
    """The put is the NewImage's bytes and the delete the Keys' bytes as the file holds them; OldImage is unread."""
    image = {"pk": {"S": "a"}, "n": {"N": "1.50"}, "b": {"BS": ["AAE="]}, "é": {"S": "ü"}}
    lines = [line(1, key("a"), image, old={"pk": {"S": "a"}}), line(2, key("b"), old={"pk": {"S": "b"}})]
    (page,) = applied(reader, lines)
    assert isinstance(page, Changes)
    assert [bytes(put) for put in page.puts] == [dumps(image)]
    assert [bytes(keys) for keys in page.deletes] == [dumps(key("b"))]


def test_the_newest_change_of_a_key_wins_whatever_the_line_order(reader):
    """Timestamps decide, not lines: a key updated then deleted, deleted then re-put, and one whose older change
    comes last."""
    lines = [
        line(10, key("updated-then-deleted"), {"pk": {"S": "updated-then-deleted"}, "v": {"N": "1"}}),
        line(30, key("put-again"), {"pk": {"S": "put-again"}, "v": {"N": "2"}}),
        line(20, key("updated-then-deleted")),
        line(50, key("older-last"), {"pk": {"S": "older-last"}, "v": {"S": "newest"}}),
        line(10, key("put-again")),
        line(40, key("older-last"), {"pk": {"S": "older-last"}, "v": {"S": "older"}}),
    ]
    puts, deletes = final(applied(reader, lines))
    assert sorted(puts, key=str) == sorted([{"pk": {"S": "put-again"}, "v": {"N": "2"}},
                                            {"pk": {"S": "older-last"}, "v": {"S": "newest"}}], key=str)
    assert deletes == [key("updated-then-deleted")]


def test_on_a_timestamp_tie_the_later_line_wins(reader):
    """Two changes in the same microsecond: the file's order is the write order."""
    lines = [line(7, key("a"), {"pk": {"S": "a"}, "v": {"N": "1"}}), line(7, key("a")),
             line(7, key("b")), line(7, key("b"), {"pk": {"S": "b"}, "v": {"N": "2"}})]
    assert final(applied(reader, lines)) == ([{"pk": {"S": "b"}, "v": {"N": "2"}}], [key("a")])


def test_keys_are_the_same_key_whatever_their_attribute_order_or_number_spelling(reader):
    """{"pk","sk"} and {"sk","pk"}, 1.50 and 1.5: one key, so one change survives."""
    first = {"pk": {"S": "a"}, "sk": {"N": "1.50"}}
    second = {"sk": {"N": "1.5"}, "pk": {"S": "a"}}
    puts, deletes = final(applied(reader, [line(2, first, {**first, "v": {"S": "x"}}), line(1, second)]))
    assert (puts, deletes) == ([{**first, "v": {"S": "x"}}], [])


def test_a_null_new_image_is_a_delete_and_blank_lines_are_not_changes(reader):
    """`"NewImage": null` carries no item; blank lines are skipped and not counted against itemCount."""
    lines = [b'{"Metadata":{"WriteTimestampMicros":{"N":"5"}},"Keys":{"pk":{"S":"a"}},"NewImage":null}\n', b"\n",
             line(6, key("b"), key("b"))]
    data, file = file_of(lines, count=2)
    assert final(list(reader.change_pages(data, file, WHERE))) == ([key("b")], [key("a")])


def test_pages_hold_at_most_page_items_changes_and_every_key_once(reader, monkeypatch):
    """2,500 keys changed twice each, the file inflated 97 bytes at a time: lines cut across chunks all count."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", 97)
    lines = [line(i % 7, key(f"k{i % 2500}"), None if i % 3 else {"pk": {"S": f"k{i % 2500}"}, "i": {"N": str(i)}})
             for i in range(5000)]
    pages = applied(reader, lines, page_items=1000)
    assert [len(page.puts) + len(page.deletes) for page in pages] == [1000, 1000, 500]
    puts, deletes = final(pages)
    assert len({dumps(item["pk"]) for item in puts} | {dumps(keys["pk"]) for keys in deletes}) == 2500


def test_an_empty_incremental_file_has_no_pages(reader):
    assert applied(reader, []) == []


@pytest.mark.parametrize(("bad", "message"), [
    (b'{"Keys":{"pk":{"S":"x"}},"NewImage":{"pk":{"S":"x"}}}',
     r"line 3: Metadata\.WriteTimestampMicros is missing, not \{\"N\": \"<microseconds>\"\}"),
    (line({"N": "12a"}, key("x")), r'line 3: Metadata\.WriteTimestampMicros is \{"N":"12a"\}'),
    (line({"N": "-12"}, key("x")), r'line 3: Metadata\.WriteTimestampMicros is \{"N":"-12"\}'),
    (line({"N": 12}, key("x")), r'line 3: Metadata\.WriteTimestampMicros is \{"N":12\}'),
    (line({"S": "12"}, key("x")), r'line 3: Metadata\.WriteTimestampMicros is \{"S":"12"\}'),
    (b'{"Metadata":{"WriteTimestampMicros":{"N":"1"}},"NewImage":{"pk":{"S":"x"}}}', "line 3: Keys is missing"),
    (line(1, {"pk": {"S": "x", "N": "1"}}), r"line 3: Keys is .*, not a key in DynamoDB JSON"),
    (line(1, {"pk": {"N": 1}}), r"line 3: Keys is .*, not a key in DynamoDB JSON"),
    (line(1, {}), r"line 3: Keys is \{\}, not the changed item's key attributes"),
    (b'{"Item":{"pk":{"S":"x"}}}', r"line 3: Metadata\.WriteTimestampMicros is missing"),
    (b"[1, 2]", "line 3: a JSON list, not an incremental export's line"),
    (b'{"Metadata":', "line 3: not JSON"),
])
def test_a_line_that_is_not_a_change_names_the_file_and_line(reader, monkeypatch, bad, message):
    """Line 3 is wrong, in a file inflated a few bytes at a time so that it is in a later chunk: nothing is
    written."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", 40)
    lines = [line(1, key("a"), key("a")), b"\n", bad.rstrip(b"\n") + b"\n", line(2, key("b"))]
    data, file = file_of(lines, count=3)
    with pytest.raises(TransferError, match=f"^{WHERE} {message}"):
        next(reader.change_pages(data, file, WHERE))


def test_a_line_count_that_differs_from_the_manifest_fails_before_any_change(reader):
    data, file = file_of([line(1, key("a")), line(2, key("a"))], count=3)
    with pytest.raises(TransferError, match=f"^{WHERE}: it holds 2 changes but the manifest's itemCount is 3; "
                                            "nothing of it was written"):
        next(reader.change_pages(data, file, WHERE))


def test_a_corrupted_incremental_file_writes_nothing(reader):
    data, file = file_of([line(1, key("a"))])
    with pytest.raises(TransferError, match="its MD5 differs from the manifest's md5Checksum"):
        next(reader.change_pages(data[:-1] + bytes([data[-1] ^ 1]), file, WHERE))


def test_a_full_export_file_is_refused_as_changes_naming_the_line(reader):
    """A full export's `{"Item": ...}` line read as a change has no timestamp: refused, not guessed."""
    data, file = file_of([dumps({"Item": key("a")}) + b"\n"])
    with pytest.raises(TransferError, match=r"line 1: Metadata\.WriteTimestampMicros is missing"):
        list(reader.change_pages(data, file, WHERE))
