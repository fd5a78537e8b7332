"""The transform step between a source and a sink: it changes a page of raw items on its way to the target.

Two things happen here, a page at a time, on the raw JSON fragments the source sent (codec.py):

- renames: an item's top-level attribute names are rewritten; its values stay the bytes the source sent. The item
  is cut into `{name: raw value}` (msgspec parses only the top level and points into the fragment) and joined
  again under the new names. An item that already holds an attribute under a new name stops the job: one of the
  two values would be lost.
- TTL: with the source table's TTL attribute set, an item whose value there is a number of epoch seconds in the
  past is dropped: DynamoDB deletes it within days anyway. An item without the attribute, or with a value that is
  not a number, is kept (scylla-migrator drops those: its issue #233). So is one whose value is more than five
  years in the past: DynamoDB never deletes those.

With neither, `apply` hands back the page itself, so a plain copy pays nothing per item. Filters are not here: the
source server applies them (transforms/filters.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.codec import dumps
from migrator.errors import MigratorError

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

# DynamoDB's TTL deletes an item only when its expiry is at most five years in the past; older values are left alone
# (Time to Live docs, "Formatting an item's TTL attribute").
TTL_HORIZON_SECONDS = 5 * 365 * 24 * 3600

if msgspec is not None:
    _split_item = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
    _decode = msgspec.json.decode
else:
    import json

    def _split_item(raw: bytes) -> dict:
        return json.loads(raw)

    def _decode(raw: Any) -> Any:
        return raw  # json.loads already decoded the values


class RenameConflict(MigratorError):
    """An item holds an attribute under a rename's new name as well as its old one."""


def renamed_attributes(attributes: Mapping, names: Mapping[str, str], key_names: Sequence[str] = (),
                       decode: Callable[[Any], Any] = lambda value: value) -> dict:
    """`attributes` (an item's top-level {name: value}) under their new names (`names`: {old: new}); the values are
    kept as they are. An item that holds both names of a rename raises RenameConflict, naming the item by its
    `key_names` attributes (their values given to `decode` first: raw fragments are shown as JSON)."""
    renamed = {names.get(name, name): value for name, value in attributes.items()}
    if len(renamed) < len(attributes):  # renames are one to one (config/parse.py): the item held a new name already
        old, new = next((old, new) for old, new in names.items() if old in attributes and new in attributes)
        key = {name: decode(attributes[name]) for name in key_names if name in attributes}
        shown = dumps(key).decode() if key else "(no key attributes)"
        raise RenameConflict(f"the item with key {shown} has both {old!r} and {new!r}, and renames map {old!r} to "
                             f"{new!r}: one value would overwrite the other; remove {new!r} from such items, or "
                             f"rename {old!r} to a name no item uses")
    return renamed


def expired(value: Any, now: float) -> bool:
    """Whether a TTL attribute's value (DynamoDB JSON, decoded: {"N": "1700000000"}) says the item has expired at
    `now`: a number of epoch seconds in the past, but not more than five years (DynamoDB keeps those)."""
    if not isinstance(value, Mapping) or len(value) != 1 or not isinstance(value.get("N"), str):
        return False
    try:
        seconds = float(value["N"])
    except ValueError:
        return False
    return math.isfinite(seconds) and now - TTL_HORIZON_SECONDS <= seconds < now


@dataclass(frozen=True)
class Transform:
    """Picklable: it travels to the executors in the task's settings.

    `renames` are (source name, target name) pairs, checked on the driver (transforms/renames.py: no two to one name,
    no chains); `ttl_attribute` is the source table's TTL attribute when expired items are skipped; `key_names` are
    the source's key attributes, which name an item in errors."""

    renames: tuple[tuple[str, str], ...] = ()
    ttl_attribute: str | None = None
    key_names: tuple[str, ...] = ()
    _names: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", dict(self.renames))

    @property
    def identity(self) -> bool:
        return not self.renames and self.ttl_attribute is None

    def renames_only(self) -> Transform:
        """This transform without TTL skipping, for the stream replay: it writes an expired put too, so that the
        target never keeps an older version of the item (the target's own TTL removes it)."""
        return Transform(renames=self.renames, key_names=self.key_names)

    def apply(self, page: list) -> list:
        """The items of `page` to write: renamed, without the expired ones. The page itself when there is nothing
        to do. Raises RenameConflict for an item that holds both names of a rename."""
        if self.identity:
            return page
        ttl, names = self.ttl_attribute, self._names
        now = time.time()
        kept = []
        for raw in page:
            attributes = _split_item(raw)
            if ttl is not None and ttl in attributes and expired(_decode(attributes[ttl]), now):
                continue
            kept.append(self._renamed(attributes) if names else raw)
        return kept

    def apply_keys(self, keys: list) -> list:
        """Raw keys to delete (key attributes only), under the target's names."""
        if not self._names:
            return keys
        return [self._renamed(_split_item(raw)) for raw in keys]

    def _renamed(self, attributes: dict) -> bytes:
        return dumps(renamed_attributes(attributes, self._names, self.key_names, _decode))


IDENTITY = Transform()
