"""Renames on raw items (transforms/transform.py): names rewritten, values the source's bytes, conflicts named.

TTL skipping has its own tests (test_ttl.py).
"""

from __future__ import annotations

import pickle

import msgspec
import pytest

from migrator.transforms import transform as transform_module
from tests.unit.fakes import both_decoders

RENAMES = (("id", "pk"), ("ts", "sk"), ("old", "new"))
KEYS = ("id", "ts")


@pytest.fixture(params=["msgspec", "json"])
def module(request, monkeypatch):
    """transform.py as imported, and as an executor without msgspec runs it."""
    yield from both_decoders(transform_module, request.param, monkeypatch)


def Transform(**fields):
    """The class as the module holds it now: the fixture reloads the module, and with it the class."""
    return transform_module.Transform(**fields)


def test_names_are_rewritten_in_place_and_every_value_keeps_the_source_bytes():
    """A number spelt "1.50", binaries, sets, a list, a null, a bool and a value with spaces in it come out as the
    very bytes the source sent; only the renamed names change, in their place."""
    values = {
        "id": b'{"S":"a"}', "ts": b'{"N": "1.50"}', "old": b'{ "NS" : ["1.50", "2", "-0"] }',
        "bin": b'{"B":"AAEC/w=="}', "bs": b'{"BS":["AA==","AQ=="]}', "ss": b'{"SS":["b","a"]}',
        "l": b'{"L":[{"N":"1E+2"},{"NULL":true},{"BOOL":false}]}', "s": b'{"S":"caf\\u00e9 \\"q\\""}',
    }
    raw = b"{" + b",".join(b'"%s":%s' % (name.encode(), value) for name, value in values.items()) + b"}"
    (out,) = Transform(renames=RENAMES, key_names=KEYS).apply([raw])
    names = {"id": "pk", "ts": "sk", "old": "new"}
    expected = b"{" + b",".join(b'"%s":%s' % (names.get(name, name).encode(), value)
                                for name, value in values.items()) + b"}"
    assert out == expected


def test_a_renamed_name_inside_a_map_or_a_list_is_left_alone(module):
    """Renames apply to top-level names only: a nested map's `old` stays `old`, at any depth."""
    raw = (b'{"id":{"S":"a"},"m":{"M":{"old":{"S":"x"},"id":{"M":{"old":{"N":"1"}}}}},'
           b'"l":{"L":[{"M":{"old":{"S":"y"}}}]},"old":{"S":"z"}}')
    (out,) = module.Transform(renames=RENAMES, key_names=KEYS).apply([raw])
    assert msgspec.json.decode(out) == {
        "pk": {"S": "a"}, "m": {"M": {"old": {"S": "x"}, "id": {"M": {"old": {"N": "1"}}}}},
        "l": {"L": [{"M": {"old": {"S": "y"}}}]}, "new": {"S": "z"}}


def test_with_either_decoder_the_renamed_item_holds_the_same_values(module):
    """Without msgspec the item is decoded and encoded again: the same names and values as with it."""
    raw = b'{"id":{"S":"a"},"ts":{"N":"1.50"},"old":{"BS":["AA=="]},"keep":{"M":{"ts":{"N":"7"}}}}'
    (out,) = module.Transform(renames=RENAMES, key_names=KEYS).apply([raw])
    assert out == b'{"pk":{"S":"a"},"sk":{"N":"1.50"},"new":{"BS":["AA=="]},"keep":{"M":{"ts":{"N":"7"}}}}'


def test_an_item_without_the_renamed_attributes_is_copied_as_it_is(module):
    """Renames of attributes an item does not hold change nothing else in it."""
    raw = b'{"id":{"S":"a"},"ts":{"N":"1"},"other":{"S":"x"}}'
    (out,) = module.Transform(renames=RENAMES, key_names=KEYS).apply([raw])
    assert out == b'{"pk":{"S":"a"},"sk":{"N":"1"},"other":{"S":"x"}}'


def test_msgspec_raw_fragments_are_renamed_like_bytes():
    """A Scan page holds msgspec Raw fragments (codec.py): they go through as bytes do."""
    page = msgspec.json.decode(b'[{"id":{"S":"a"},"old":{"N":"1.0"}}]', type=list[msgspec.Raw])
    assert Transform(renames=RENAMES, key_names=KEYS).apply(page) == [b'{"pk":{"S":"a"},"new":{"N":"1.0"}}']


def test_delete_keys_are_renamed(module):
    """A delete's key (a stream's or an incremental export's) is named as the target names it."""
    keys = [b'{"id":{"S":"a"},"ts":{"N":"2.50"}}', b'{"ts":{"N":"3"},"id":{"S":"b"}}']
    assert module.Transform(renames=RENAMES, key_names=KEYS).apply_keys(keys) == [
        b'{"pk":{"S":"a"},"sk":{"N":"2.50"}}', b'{"sk":{"N":"3"},"pk":{"S":"b"}}']


def test_without_renames_the_keys_are_the_list_given():
    """No renames: delete keys pass through untouched, as the same list."""
    keys = [b'{"id":{"S":"a"}}']
    assert Transform(key_names=KEYS).apply_keys(keys) is keys


def test_an_item_holding_both_names_fails_naming_its_key_and_both_attributes(module):
    """Nothing is overwritten silently: the error names the item's key (all its key attributes, as values) and the
    two attributes, and says how to fix it."""
    page = [b'{"id":{"S":"a"},"ts":{"N":"1"},"old":{"S":"x"}}',
            b'{"id":{"S":"b"},"ts":{"N":"2.50"},"old":{"S":"x"},"new":{"S":"y"}}']
    with pytest.raises(module.RenameConflict) as info:
        module.Transform(renames=RENAMES, key_names=KEYS).apply(page)
    assert str(info.value) == (
        """the item with key {"id":{"S":"b"},"ts":{"N":"2.50"}} has both 'old' and 'new', and renames map 'old' to """
        """'new': one value would overwrite the other; remove 'new' from such items, or rename 'old' to a name no """
        """item uses""")


def test_a_conflict_on_a_renamed_key_attribute_names_that_attribute():
    """An item holding a key's new name as well (pk beside id) is the same error, about id and pk."""
    with pytest.raises(transform_module.RenameConflict) as info:
        Transform(renames=RENAMES, key_names=KEYS).apply([b'{"pk":{"S":"z"},"id":{"S":"a"},"ts":{"N":"1"}}'])
    assert str(info.value).startswith("""the item with key {"id":{"S":"a"},"ts":{"N":"1"}} has both 'id' and 'pk',""")


def test_a_conflict_is_a_migrator_error_so_that_transfer_names_the_unit():
    """transfer.py turns a MigratorError into a TransferError naming the segment: RenameConflict is one."""
    from migrator.errors import MigratorError

    assert issubclass(transform_module.RenameConflict, MigratorError)


def test_the_transform_pickles_and_renames_the_same_after(module):
    """It travels to the executors inside the task's settings."""
    transform = module.Transform(renames=RENAMES, ttl_attribute="expires", key_names=KEYS)
    copy = pickle.loads(pickle.dumps(transform))
    assert copy == transform
    raw = b'{"id":{"S":"a"},"old":{"S":"x"}}'
    assert copy.apply([raw]) == transform.apply([raw]) == [b'{"pk":{"S":"a"},"new":{"S":"x"}}']


def test_renames_only_keeps_the_renames_and_drops_the_ttl_attribute():
    """The stream replay's transform: the same renames and key names, no TTL skipping."""
    transform = Transform(renames=RENAMES, ttl_attribute="expires", key_names=KEYS)
    assert transform.renames_only() == Transform(renames=RENAMES, key_names=KEYS)
    assert Transform(ttl_attribute="expires").renames_only().identity
