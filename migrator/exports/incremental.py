"""The lines of an incremental export's data file -> the newest change of each key, as raw puts and raw deletes.

An incremental export (manifest-summary.json `exportType: INCREMENTAL_EXPORT`) holds the changes a table went through
over a time window, one JSON line per change:

    {"Metadata":{"WriteTimestampMicros":{"N":"1680109764000000"}},"Keys":{...},"NewImage":{...},"OldImage":{...}}

A line with a NewImage is a put of that image; a line without one (or with `"NewImage": null`) is a delete of its
Keys. OldImage (there with the NEW_AND_OLD_IMAGES view type, for updates and deletes) is not read. The changes are
applied on top of the table a full export (and the incremental exports before this one) was loaded into: one job
per export, in the order of their windows.

Order: the assumption. AWS writes each partition's key range to data files of its own, so every change of one key in
an export is in one data file. This reader relies on that: a file's changes collapse to the newest per key (the
highest WriteTimestampMicros; on a tie the later line wins, as lines are written in order), and the files are then
applied in any order, in parallel. A key changed in two data files of one export would end as whichever file was
applied last. Collapsing also suits BatchWriteItem, which refuses a batch that names a key twice, and makes a file
applied again (a resumed run redoes the files its savepoint does not list) leave the same state.

Keys are compared by value (`streams.changes.key_identity`: attribute order and number spelling do not matter).
A NewImage is not looked into, as a full export's Item is not: the target refuses one that is not an item. NewImage
and Keys stay the JSON fragments the export holds (msgspec `Raw`, see codec.py); without msgspec each line
is decoded with `json` and its parts re-encoded: slower, same result.

Memory: the newest change of every key of the file is held until the file is read whole, so nothing of a file
whose count or a line is wrong is written. The fragments point into the inflated text, so a file costs about its
inflated size while it is applied.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

from migrator.codec import dumps, loads
from migrator.errors import TransferError
from migrator.readers.source import Changes
from migrator.streams.changes import key_identity

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

Change = tuple  # (WriteTimestampMicros: int, Keys fragment, NewImage fragment or None for a delete)

SHAPE = '{"Metadata":{"WriteTimestampMicros":{"N":"<microseconds>"}},"Keys":{...},"NewImage":{...}}'


class NewestPerKey:
    """The newest change of each key among the lines of one data file (`where`: s3://bucket/key, for messages),
    fed a chunk of whole lines at a time."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.changes = 0  # lines that hold a change: the count the manifest's itemCount is for
        self.lines = 0  # lines read, blank ones included: the number of the next chunk's first line is this + 1
        self._newest: dict[tuple, Change] = {}

    def add(self, lines: bytes) -> None:
        """Keep each key's newest change among `lines` (whole lines); TransferError naming the line that is not a
        change with a key and a timestamp."""
        collecting = gc.isenabled()
        gc.disable()  # a chunk's thousands of kept tuples hold no cycle: collections that walk them are wasted
        try:
            self._keep(lines)
        finally:
            if collecting:
                gc.enable()
        self.lines += lines.count(b"\n") + (not lines.endswith(b"\n"))

    def _keep(self, lines: bytes) -> None:
        newest = self._newest
        try:
            changes = _changes(lines, self.where, self.lines)
            for change in changes:
                identity = key_identity(change[1])
                if not identity:
                    raise ValueError("Keys is {}")  # _change_of names it
                held = newest.get(identity)
                if held is None or change[0] >= held[0]:  # a tie: the later line wins
                    newest[identity] = change
        except (ValueError, TypeError):  # msgspec's errors are ValueErrors; a Keys of another shape a TypeError
            _refuse(lines, self.lines, self.where)
        self.changes += len(changes)

    def pages(self, page_items: int) -> Iterator[Changes]:
        """The kept changes, at most `page_items` (puts and deletes together) a page."""
        held = list(self._newest.values())
        for start in range(0, len(held), page_items):
            puts, deletes = [], []
            for _, keys, image in held[start:start + page_items]:
                if image is None:
                    deletes.append(keys)
                else:
                    puts.append(image)
            yield Changes(puts, deletes)


def _micros(text: str) -> int:
    """WriteTimestampMicros' N: ASCII digits only (int() would also take signs, spaces and underscores)."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _change_of(line: bytes, where: str, number: int) -> Change | None:
    """Line `number` decoded with every check and its fault named (TransferError); None for a blank line. The path
    without msgspec, and the one that finds the bad line of a chunk msgspec refused."""
    if not line.strip():
        return None
    here = f"{where} line {number}"
    try:
        doc = loads(line)
    except ValueError as exc:
        raise TransferError(f"{here}: not JSON ({exc}); an incremental export's line is {SHAPE}") from None
    if not isinstance(doc, dict):
        raise TransferError(f"{here}: a JSON {type(doc).__name__}, not an incremental export's line {SHAPE}")
    metadata = doc.get("Metadata")
    stamp = metadata.get("WriteTimestampMicros") if isinstance(metadata, dict) else None
    text = stamp.get("N") if isinstance(stamp, dict) else None
    try:
        micros = _micros(text)
    except (ValueError, AttributeError):
        shown = "missing" if stamp is None else dumps(stamp)[:60].decode(errors="replace")
        raise TransferError(f"{here}: Metadata.WriteTimestampMicros is {shown}, not {{\"N\": \"<microseconds>\"}}: "
                            "the change cannot be put in order; the line is not one DynamoDB wrote") from None
    keys, image = doc.get("Keys"), doc.get("NewImage")  # NewImage goes as it is, like a full export's Item
    if not isinstance(keys, dict) or not keys:
        raise TransferError(f"{here}: Keys is {'missing' if keys is None else dumps(keys)[:60].decode()}, not the "
                            "changed item's key attributes")
    keys = dumps(keys)
    try:
        key_identity(keys)
    except (ValueError, TypeError):
        raise TransferError(f"{here}: Keys is {keys[:80].decode()}, not a key in DynamoDB JSON "
                            '({"name": {"S": "..."}}, one type per attribute)') from None
    return micros, keys, None if image is None else dumps(image)


def _refuse(lines: bytes, before: int, where: str):
    """Raise the TransferError naming the first bad line of `lines`, whose first line is line `before` + 1."""
    for number, line in enumerate(lines.split(b"\n"), before + 1):
        _change_of(line, where, number)
    raise TransferError(f"{where}: lines {before + 1} to {number} are not read as an incremental export's lines "
                        f"{SHAPE}, though each decodes alone")  # not expected: _change_of is the stricter


if msgspec is not None:
    _NO_IMAGE = msgspec.Raw()

    class _Stamp(msgspec.Struct, gc=False):
        N: str

    class _Metadata(msgspec.Struct, gc=False):
        WriteTimestampMicros: _Stamp

    class _Line(msgspec.Struct, gc=False):
        Metadata: _Metadata
        Keys: msgspec.Raw
        NewImage: msgspec.Raw = _NO_IMAGE  # msgspec takes no `Raw | None`: empty means absent

    _decode_lines = msgspec.json.Decoder(_Line).decode_lines

    def _changes(lines: bytes, where: str, before: int) -> list[Change]:
        changes = []
        for line in _decode_lines(lines):  # _micros inlined: a call a line costs a tenth of the decoding
            text, image = line.Metadata.WriteTimestampMicros.N, line.NewImage
            if not (text.isascii() and text.isdigit()):
                raise ValueError(text)  # _change_of names it
            if len(image) < 5 and (not image or bytes(image) == b"null"):
                image = None
            changes.append((int(text), line.Keys, image))
        return changes

else:

    def _changes(lines: bytes, where: str, before: int) -> list[Change]:
        changes = (_change_of(line, where, number) for number, line in enumerate(lines.split(b"\n"), before + 1))
        return [change for change in changes if change is not None]
