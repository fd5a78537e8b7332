"""One data file of a DynamoDB export: a gzip of DynamoDB JSON lines, `{"Item":{...}}`, cut into raw items.

The file's bytes are checked against the manifest's MD5 before any item leaves it, so a corrupted or replaced file
writes nothing. It is then inflated a chunk at a time and each line's Item is cut out as the JSON fragment it is
(msgspec `Raw`, as codec.py does for Scan pages): the bytes DynamoDB exported are the bytes BatchWriteItem sends.
At the end the items counted must be the manifest's itemCount for the file.

A data file of an incremental export holds changes instead of items (incremental.py): `change_pages` reads it as
`Changes(puts, deletes)` pages, the newest change of each key, with the same MD5 and count checks.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

from migrator.codec import dumps, loads
from migrator.errors import TransferError
from migrator.exports.incremental import NewestPerKey
from migrator.exports.manifest import DataFile
from migrator.readers.source import Changes

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

PAGE_ITEMS = 1000  # items handed to the sink at a time
CHUNK_BYTES = 1 << 20  # compressed bytes inflated at a time
GZIP = 16 + zlib.MAX_WBITS  # zlib's wbits for a gzip member

if msgspec is not None:
    class _Line(msgspec.Struct, gc=False):
        Item: msgspec.Raw

    _decode_lines = msgspec.json.Decoder(_Line).decode_lines

    def _items(lines: bytes) -> list:
        return [line.Item for line in _decode_lines(lines)]

else:
    def _items(lines: bytes) -> list:
        items = []
        for line in lines.splitlines():
            if line.strip():
                doc = loads(line)
                if not isinstance(doc, dict) or not isinstance(doc.get("Item"), dict):
                    raise ValueError(f"a line is not an object with an Item: {line[:80]!r}")
                items.append(dumps(doc["Item"]))
        return items


def pages(data: bytes, file: DataFile, where: str, page_items: int = PAGE_ITEMS) -> Iterator[list]:
    """The items of the data file whose gzip bytes are `data`, page by page; `where` names it in errors
    (s3://bucket/key). TransferError when its MD5 or item count differs from the manifest's, or it does not
    inflate or decode."""
    _check_md5(data, file, where)
    count = 0
    for lines in _lines(data, where):
        try:
            items = _items(lines)
        except ValueError as exc:  # msgspec's DecodeError and ValidationError are ValueErrors
            raise TransferError(f"{where}: a line after item {count} is not a DynamoDB JSON line "
                                f"{{\"Item\": ...}}: {exc}") from None
        count += len(items)
        for start in range(0, len(items), page_items):
            yield items[start:start + page_items]
    if count != file.item_count:
        raise TransferError(f"{where}: it holds {count} items but the manifest's itemCount is {file.item_count}")


def change_pages(data: bytes, file: DataFile, where: str, page_items: int = PAGE_ITEMS) -> Iterator[Changes]:
    """The data file of an incremental export as Changes pages: the newest change of each key (incremental.py),
    handed out once all of the file is read, so that nothing of it is written when its MD5, its line count or one
    of its lines is wrong (TransferError)."""
    _check_md5(data, file, where)
    newest = NewestPerKey(where)
    for lines in _lines(data, where):
        newest.add(lines)
    if newest.changes != file.item_count:
        raise TransferError(f"{where}: it holds {newest.changes} changes but the manifest's itemCount is "
                            f"{file.item_count}; nothing of it was written")
    yield from newest.pages(page_items)


def _check_md5(data: bytes, file: DataFile, where: str) -> None:
    if hashlib.md5(data, usedforsecurity=False).digest() != file.md5:
        raise TransferError(f"{where}: its MD5 differs from the manifest's md5Checksum: the file is corrupted or not "
                            "the one exported; nothing of it was written; export the table again or restore the file")


def _lines(data: bytes, where: str) -> Iterator[bytes]:
    """Whole lines of the inflated file, a chunk at a time; concatenated gzip members are read one after another."""
    inflater, rest, start = zlib.decompressobj(GZIP), b"", 0
    try:
        while start < len(data) or inflater.unused_data:
            if inflater.eof:  # the next gzip member starts in what the last one left
                data, start = inflater.unused_data + data[start:], 0
                inflater = zlib.decompressobj(GZIP)
            text = rest + inflater.decompress(data[start:start + CHUNK_BYTES])
            start += CHUNK_BYTES
            cut = text.rfind(b"\n") + 1
            rest = text[cut:]
            if cut:
                yield text[:cut]
        rest += inflater.flush()
    except zlib.error as exc:
        raise TransferError(f"{where}: not a gzip file, or a damaged one ({exc})") from None
    if not inflater.eof:
        raise TransferError(f"{where}: the gzip data ends before its end: the file is truncated")
    if rest.strip():
        yield rest
