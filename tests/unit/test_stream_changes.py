"""A page of stream records collapses to the newest change per key, as raw puts and deletes."""

from __future__ import annotations

import pytest

from migrator.codec import dumps, loads
from migrator.errors import TransferError
from migrator.streams.changes import StreamRecord, key_identity, newest_per_key


def record(event: str, key: str, sequence: int, n: str = "1", image: bool = True) -> StreamRecord:
    keys = dumps({"pk": {"S": key}})
    new = dumps({"pk": {"S": key}, "n": {"N": n}}) if image and event != "REMOVE" else None
    return StreamRecord(event, keys, new, str(sequence), 1.7e9)


def test_the_newest_change_of_a_key_wins():
    """INSERT, MODIFY, MODIFY of one key leave one put: the last image."""
    changes = newest_per_key([record("INSERT", "a", 1, "1"), record("MODIFY", "a", 2, "2"),
                              record("MODIFY", "a", 3, "3")], "shard-1", "src")
    assert [loads(p) for p in changes.puts] == [{"pk": {"S": "a"}, "n": {"N": "3"}}]
    assert changes.deletes == []


def test_a_remove_after_a_put_is_a_delete_and_a_put_after_a_remove_is_a_put():
    """The last event decides between put and delete; keys keep the order of their last change."""
    changes = newest_per_key([record("INSERT", "a", 1), record("INSERT", "b", 2), record("REMOVE", "a", 3),
                              record("REMOVE", "b", 4), record("INSERT", "b", 5, "9")], "shard-1", "src")
    assert [loads(k) for k in changes.deletes] == [{"pk": {"S": "a"}}]
    assert [loads(p) for p in changes.puts] == [{"pk": {"S": "b"}, "n": {"N": "9"}}]
    assert changes.count == 2


def test_keys_are_compared_by_value():
    """Attribute order and number spelling do not make two keys of one item differ."""
    one = dumps({"pk": {"N": "1.50"}, "sk": {"S": "x"}})
    two = b'{"sk":{"S":"x"},"pk":{"N":"1.5"}}'
    assert key_identity(one) == key_identity(two)
    assert key_identity(one) != key_identity(dumps({"pk": {"S": "1.5"}, "sk": {"S": "x"}}))


def test_a_put_event_without_a_new_image_names_the_shard():
    """A KEYS_ONLY stream's MODIFY cannot be replayed: TransferError naming the shard and the view types."""
    with pytest.raises(TransferError, match="shard shard-7: the MODIFY record at sequence number 4 has no NewImage.*"
                                            "NEW_IMAGE or NEW_AND_OLD_IMAGES"):
        newest_per_key([record("MODIFY", "a", 4, image=False)], "shard-7", "src")
