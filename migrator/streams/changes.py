"""Stream records -> the changes to write: the newest change per key, as raw put items and raw delete keys.

A page of GetRecords may change one key several times; BatchWriteItem refuses a batch that names a key twice, and
only the last change matters to the target. So a page collapses to one change per key: INSERT and MODIFY become a
put of the record's NewImage, REMOVE a delete of its Keys, both as the JSON fragments the stream sent (see
codec.py). Keys are compared by value: attribute names sorted, numbers normalized ("1.50" is "1.5").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

from migrator.codec import loads
from migrator.errors import TransferError
from migrator.items import canonical_number

PUT_EVENTS = frozenset({"INSERT", "MODIFY"})
REMOVE = "REMOVE"


class StreamRecord(NamedTuple):
    """One stream record as the replay uses it; `keys` and `image` are raw JSON fragments (bytes-like)."""

    event: str  # INSERT, MODIFY or REMOVE
    keys: bytes
    image: bytes | None  # NewImage; None when the stream carries none (REMOVE, or a KEYS_ONLY/OLD_IMAGE stream)
    sequence: str
    created: float | None  # ApproximateCreationDateTime, epoch seconds


class Changes(NamedTuple):
    """A page's changes, one per key, in the order of each key's last change."""

    puts: list  # NewImage fragments
    deletes: list  # Keys fragments

    @property
    def count(self) -> int:
        return len(self.puts) + len(self.deletes)


def key_identity(keys: bytes) -> tuple:
    """Equal for two Keys fragments naming the same item, whatever their attribute order or number spelling."""
    doc = _decode_keys(keys)
    if len(doc) == 1:  # a hash key: ("pk", "S", "a")
        ((name, typed),) = doc.items()
        return _part(name, typed)
    if len(doc) == 2:  # hash and range: their parts by name, without a general sort (about 1.5 us a key)
        (first, first_typed), (second, second_typed) = doc.items()
        a, b = _part(first, first_typed), _part(second, second_typed)
        return (a, b) if first < second else (b, a)
    return tuple(sorted(_part(name, typed) for name, typed in doc.items()))


def _part(name: str, typed: dict) -> tuple:
    ((kind, value),) = typed.items()
    return name, kind, _number(value) if kind == "N" else value


def _number(text: str) -> str:
    """canonical_number, without Decimal for the usual key: digits with no leading or trailing zero."""
    return text if text.isdigit() and text[0] != "0" and text[-1] != "0" else canonical_number(text)


# Keys decoded to their one shape: faster than a general decode (loads without msgspec)
_decode_keys = msgspec.json.Decoder(dict[str, dict[str, str]]).decode if msgspec is not None else loads


def newest_per_key(records: Iterable[StreamRecord], shard: str, table: str) -> Changes:
    """The last change of each key among `records` (in stream order), as puts and deletes.

    An INSERT or MODIFY without a NewImage cannot be replayed (the stream's view type is KEYS_ONLY or OLD_IMAGE,
    which the setup refuses): TransferError naming the shard. So is an event the replay does not know."""
    newest: dict[tuple, StreamRecord] = {}
    for record in records:
        if record.event in PUT_EVENTS:
            if record.image is None:
                raise TransferError(
                    f"stream of table {table!r}, shard {shard}: the {record.event} record at sequence number "
                    f"{record.sequence} has no NewImage, so it cannot be replayed; the stream's view type must be "
                    "NEW_IMAGE or NEW_AND_OLD_IMAGES")
        elif record.event != REMOVE:
            raise TransferError(f"stream of table {table!r}, shard {shard}: the record at sequence number "
                                f"{record.sequence} has the unknown eventName {record.event[:100]!r}")
        identity = key_identity(record.keys)
        newest.pop(identity, None)  # re-inserted: the dict's order is that of each key's last change
        newest[identity] = record
    puts, deletes = [], []
    for record in newest.values():
        if record.event == REMOVE:
            deletes.append(record.keys)
        else:
            puts.append(record.image)
    return Changes(puts, deletes)
