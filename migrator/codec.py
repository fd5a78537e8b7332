"""DynamoDB JSON in and out of the data path: msgspec where it is installed, the stdlib's json otherwise.

A Scan page is not decoded item by item. Its Items are cut out of the answer as raw JSON fragments (msgspec's
`Raw`, which points into the answer's buffer), and the writer splices those fragments into BatchWriteItem bodies
unchanged: the bytes the source sent are the bytes the target receives. Decoding a page into dicts costs about
9 us per item and re-encoding 2 more (measured on 640-byte items); cutting it costs under 1.

Without msgspec (an executor environment without the compiled wheel) the page is decoded with `json` and each
item re-encoded: slower, same result.
"""

from __future__ import annotations

import gc
from typing import Any, NamedTuple

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

# Decoding a large answer allocates thousands of objects at once, and each burst sets off garbage collections
# that walk the whole heap (measured: 133 ms with GC on, 39 ms off, for a 2.7 MB page decoded to dicts). The
# decoded values hold no reference cycles, so collection is paused while large answers are decoded.
GC_PAUSE_BYTES = 64 * 1024


class AnswerError(ValueError):
    """A 200 answer that is not what the operation returns: not a JSON object, an error `__type` in its body, or
    without a field the operation always returns. `code` is the error code the body carries, if any."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def checked(answer: Any, required: tuple[str, ...] = ()) -> dict:
    """`answer` when it is a JSON object without an error `__type` and with every `required` field; else
    AnswerError."""
    if not isinstance(answer, dict):
        raise AnswerError(f"the answer is a JSON {type(answer).__name__}, not an object")
    if "__type" in answer:
        code = str(answer["__type"]).rsplit("#", 1)[-1]
        message = answer.get("message") or answer.get("Message") or ""
        raise AnswerError(f"a 200 answer carries the error {code}: {message}", code=code)
    missing = [name for name in required if name not in answer]
    if missing:
        raise AnswerError(f"the answer has no {' and no '.join(missing)}")
    return answer


class ScanPage(NamedTuple):
    """One Scan answer: its items (dicts, or JSON fragments from `raw_scan_page`), and what the next request
    needs."""

    items: list
    last_key: dict | None
    consumed_units: float | None  # ConsumedCapacity.CapacityUnits, when the server reported it
    size: int  # of the answer, in bytes
    scanned_count: int | None = None  # ScannedCount: the items read before the FilterExpression, when reported


if msgspec is not None:
    _encode = msgspec.json.Encoder().encode
    _decode = msgspec.json.Decoder().decode

    class _ScanAnswer(msgspec.Struct):
        Items: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET  # absent: `checked` reports it
        LastEvaluatedKey: dict | None = None
        ConsumedCapacity: dict | None = None
        ScannedCount: int | None = None
        error_type: Any = msgspec.field(default=None, name="__type")

    _decode_scan = msgspec.json.Decoder(_ScanAnswer).decode

    def dumps(obj: Any) -> bytes:
        """Compact JSON as UTF-8 bytes."""
        return _encode(obj)

    def _loads(data: bytes) -> Any:
        return _decode(data)

    def _raw_page(data: bytes) -> ScanPage:
        answer = _decode_scan(data)
        if answer.Items is msgspec.UNSET or answer.error_type is not None:
            checked(_decode(data), ("Items",))  # raises AnswerError, naming the error or the missing field
        consumed = answer.ConsumedCapacity
        return ScanPage(answer.Items, answer.LastEvaluatedKey, consumed.get("CapacityUnits") if consumed else None,
                        len(data), answer.ScannedCount)

else:
    import json

    def dumps(obj: Any) -> bytes:
        """Compact JSON as UTF-8 bytes."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    def _raw_page(data: bytes) -> ScanPage:
        page = _page_of(json.loads(data), len(data))
        return page._replace(items=[dumps(item) for item in page.items])


def loads(data: bytes) -> Any:
    """Decode JSON; raises ValueError (msgspec's DecodeError is one) when it is malformed."""
    return _paused(_loads, data)


def scan_page(data: bytes) -> ScanPage:
    """A Scan answer with its items decoded to dicts; raises ValueError when it is malformed (AnswerError when
    it is JSON but not a Scan answer)."""
    return _page_of(loads(data), len(data))


def raw_scan_page(data: bytes) -> ScanPage:
    """Cut a Scan answer into its items' JSON fragments; raises ValueError when it is malformed (AnswerError when
    it is JSON but not a Scan answer)."""
    return _paused(_raw_page, data)


def _page_of(answer: Any, size: int) -> ScanPage:
    consumed = checked(answer, ("Items",)).get("ConsumedCapacity")
    if not isinstance(answer["Items"], list):
        raise AnswerError(f"the answer's Items is a JSON {type(answer['Items']).__name__}, not an array")
    scanned = answer.get("ScannedCount")
    if scanned is not None and (not isinstance(scanned, int) or isinstance(scanned, bool)):
        raise AnswerError(f"the answer's ScannedCount is not a number: {str(scanned)[:200]}")
    return ScanPage(answer["Items"], answer.get("LastEvaluatedKey"),
                    consumed.get("CapacityUnits") if consumed else None, size, scanned)


def _paused(decode, data: bytes):
    if len(data) < GC_PAUSE_BYTES or not gc.isenabled():
        return decode(data)
    gc.disable()
    try:
        return decode(data)
    finally:
        gc.enable()
