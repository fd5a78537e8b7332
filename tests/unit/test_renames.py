"""Renames everywhere but the transform itself (test_transforms.py): the source-schema refusals, the target's schema
under the new names, and the renames in a stream replay, an incremental export page, an export's manifest and the
validator."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from types import SimpleNamespace

import pytest

from migrator.config import S3ExportTarget
from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import ConfigError, MigratorError, SchemaError, TransferError
from migrator.exports.export_sink import ExportSink, ExportWrite
from migrator.items import renamed
from migrator.readers.source import Changes
from migrator.schema import _info, check_same_key_schema, create_request, ensure_target
from migrator.streams.replay import ReplaySettings, replay_round
from migrator.streams.shards import ShardWork
from migrator.transfer import TransferSettings, transfer
from migrator.transforms import Transform, renamed_table
from migrator.transforms.renames import announce_renames, check_renames
from migrator.validation.passes import ValidationSettings, check_source_segments, check_target_segments
from tests.unit.fakes import FakeDynamo, FakeStream
from tests.unit.test_seams import FakeSink as FakeFileSink, FakeSource, FileUnit
from tests.unit.test_stream_replay import ARN, FakeSink as FakeTableSink, StreamDatabase, writes

FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)
# hash key, range key, a GSI's key attribute and a plain attribute, all renamed
RENAMES = (("id", "pk"), ("ts", "sk"), ("g", "group"), ("n", "count"))


def description() -> dict:
    return {
        "TableName": "src", "TableStatus": "ACTIVE", "ItemCount": 3, "TableSizeBytes": 300,
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "ts", "AttributeType": "N"},
                                 {"AttributeName": "g", "AttributeType": "S"},
                                 {"AttributeName": "when", "AttributeType": "N"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "ts", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n", "note"]}, "IndexStatus": "ACTIVE"}],
        "LocalSecondaryIndexes": [{
            "IndexName": "by_when", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"},
                                                  {"AttributeName": "when", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]}}],
    }


def source_info(ttl: str | None = None):
    info = _info(description())
    return info if ttl is None else dataclasses.replace(info, ttl_attribute=ttl)


# ---- the source's schema: what config/parse.py cannot see -----------------------------------------------------

@pytest.mark.parametrize(("renames", "message"), [
    ((("n", "id"),), "renames[0].to: 'id' is a key attribute of source table 'src' (key (id HASH, ts RANGE)), got "
                     "'n' -> 'id'; every item holds 'id', so each would have both names: rename 'n' to a name the "
                     "table does not use"),
    ((("id", "pk"), ("n", "ts")), "renames[1].to: 'ts' is a key attribute of source table 'src' (key (id HASH, ts "
                                  "RANGE)), got 'n' -> 'ts'; every item holds 'ts', so each would have both names: "
                                  "rename 'n' to a name the table does not use"),
    ((("g", "when"),), "renames[0].to: 'when' is a key attribute of an index of source table 'src', and 'g' is a "
                       "key attribute too, got 'g' -> 'when'; the target's schema would define 'when' twice: rename "
                       "'g' to a name the table's schema does not use"),
])
def test_a_new_name_the_source_schema_uses_is_refused(renames, message):
    """A table key's name as a new name would make every item conflict; two index keys made one would define it
    twice: ConfigError (exit 2) on the driver, before anything is copied."""
    with pytest.raises(ConfigError) as info:
        renamed_table(source_info(), renames)
    assert str(info.value) == message


def test_the_renames_are_logged_in_one_line_naming_the_key_attributes(caplog):
    """The driver's line: each rename, key attributes (of the table, of an index) said to be one, then what the
    job does with them; a refused rename raises before any line."""
    with caplog.at_level(logging.INFO, logger="migrator.transforms.renames"):
        announce_renames(source_info(), RENAMES, "items are written under the new names")
        announce_renames(source_info(), (), "nothing to say")
        with pytest.raises(ConfigError):
            announce_renames(source_info(), (("n", "id"),), "never logged")
    assert caplog.messages == ["renames: id -> pk (hash key), ts -> sk (range key), g -> group (key of index by_g), "
                               "n -> count; items are written under the new names"]


def test_a_plain_attribute_may_take_the_name_of_an_index_key():
    """Merging an old name into a GSI's key attribute is allowed: only items holding both fail, one by one."""
    check_renames(source_info(), (("n", "g"),))
    check_renames(source_info(), (("id", "pk"), ("pk", "id")))  # a key renamed away frees its name (no chain check)


# ---- the target's schema under the new names ---------------------------------------------------------------

def test_the_renamed_table_has_the_new_names_in_keys_definitions_indexes_and_projections():
    """Hash, range, the GSI's key and INCLUDE projection, the LSI's; the TTL attribute too; the source unchanged."""
    info = source_info(ttl="n")
    target = renamed_table(info, RENAMES)
    desc = target.description
    assert target.key_schema == (("pk", "HASH"), ("sk", "RANGE")) and target.key_names == ("pk", "sk")
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert [(d["AttributeName"], d["AttributeType"]) for d in desc["AttributeDefinitions"]] == [
        ("pk", "S"), ("sk", "N"), ("group", "S"), ("when", "N")]
    (gsi,) = desc["GlobalSecondaryIndexes"]
    assert gsi["KeySchema"] == [{"AttributeName": "group", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["count", "note"]}
    (lsi,) = desc["LocalSecondaryIndexes"]
    assert lsi["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "when", "KeyType": "RANGE"}]
    assert lsi["Projection"]["NonKeyAttributes"] == ["count"]
    assert target.ttl_attribute == "count" and target.renames == RENAMES
    assert info.description == description() and info.key_names == ("id", "ts")  # a copy was renamed


def test_without_renames_the_source_table_is_the_target_table():
    """No renames: the same TableInfo, no copy."""
    info = source_info()
    assert renamed_table(info, ()) is info


def test_a_created_target_gets_the_new_names():
    """CreateTable's request, built from the renamed table, names the new attributes everywhere."""
    request = create_request(renamed_table(source_info(), RENAMES), "dst", None)
    text = json.dumps({k: request[k] for k in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes",
                                               "LocalSecondaryIndexes")})
    assert all(f'"{old}"' not in text for old in ("id", "ts", "g", "n"))
    assert request["GlobalSecondaryIndexes"][0]["KeySchema"][0] == {"AttributeName": "group", "KeyType": "HASH"}


def test_an_existing_target_must_match_the_renamed_schema_and_the_message_shows_both():
    """A target keyed like the source (old names) does not match: the message shows the source's keys as they are
    and as renames make them."""
    target = _info({**description(), "TableName": "dst"})
    with pytest.raises(SchemaError) as info:
        check_same_key_schema(renamed_table(source_info(), RENAMES), target)
    assert str(info.value) == (
        "target table 'dst' has key schema (id HASH S, ts RANGE N) but source table 'src' has (id HASH S, ts RANGE N), "
        "which renames make (pk HASH S, sk RANGE N); use a target table with the renamed keys, or let the migrator "
        "create it by naming a table that does not exist")
    check_same_key_schema(renamed_table(source_info(), RENAMES),
                          _info({**renamed_table(source_info(), RENAMES).description, "TableName": "dst"}))


def test_renames_that_leave_the_keys_alone_say_so_in_a_key_mismatch():
    """Renames set but no key renamed: the message says the keys are the source's own."""
    target = _info({**description(), "TableName": "dst", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]})
    with pytest.raises(SchemaError, match=r"source table 'src' has \(id HASH S, ts RANGE N\) \(renames leave its "
                                          r"keys as they are\); use a target table with the same keys"):
        check_same_key_schema(renamed_table(source_info(), (("n", "count"),)), target)


class DescribingClient:
    """boto3's DynamoDB client as ensure_target uses it: DescribeTable of one existing table; no CreateTable."""

    def __init__(self, desc: dict) -> None:
        self.desc = desc

    def describe_table(self, TableName):
        return {"Table": self.desc}

    def create_table(self, **request):
        raise AssertionError("an existing table is not created")


def test_an_existing_target_with_the_old_names_stops_the_job_before_writing():
    """ensure_target (table_sink.prepare) with the renamed source refuses a target keyed by the old names."""
    with pytest.raises(SchemaError, match="which renames make"):
        ensure_target(DescribingClient({**description(), "TableName": "dst"}), renamed_table(source_info(), RENAMES),
                      "dst", None)


# ---- stream replay: puts and delete keys renamed ------------------------------------------------------------

def test_a_replay_writes_puts_and_deletes_under_the_new_names():
    """INSERT/MODIFY images and REMOVE keys are renamed; values go through as sent ("1.50"); an expired TTL value
    is written all the same (no TTL skipping in a replay)."""
    stream, target = FakeStream(), FakeDynamo({"dst": (["pk"], [{"pk": {"S": "gone"}, "count": {"N": "1"}}])})
    sink = FakeTableSink(target)
    transform = Transform(renames=(("id", "pk"), ("n", "count")), ttl_attribute="exp", key_names=("id",))
    settings = ReplaySettings(ARN, "src", StreamDatabase(stream), sink, transform=transform.renames_only())
    stream.add("s1", "INSERT", {"id": {"S": "a"}}, {"id": {"S": "a"}, "n": {"N": "1.50"}, "exp": {"N": "1"}})
    stream.add("s1", "REMOVE", {"id": {"S": "gone"}})
    replay_round(settings, [ShardWork("s1", None)], task=0)
    assert list(target.items["dst"].values()) == [{"pk": {"S": "a"}, "count": {"N": "1.50"}, "exp": {"N": "1"}}]
    (requests,) = writes(target)
    assert requests[1] == {"DeleteRequest": {"Key": {"pk": {"S": "gone"}}}}


def test_a_replayed_change_that_holds_both_names_fails_naming_the_shard_and_the_item():
    """A stream image with both the old and the new name stops the task: TransferError naming table, shard,
    the item's key and both attributes; nothing of that page is written."""
    stream, target = FakeStream(), FakeDynamo({"dst": (["pk"], [])})
    settings = ReplaySettings(ARN, "src", StreamDatabase(stream), FakeTableSink(target),
                              transform=Transform(renames=(("id", "pk"), ("n", "count")), key_names=("id",)))
    stream.add("s1", "MODIFY", {"id": {"S": "a"}}, {"id": {"S": "a"}, "n": {"N": "1"}, "count": {"N": "2"}})
    with pytest.raises(TransferError, match=r"""stream of table 'src', shard s1: a change up to sequence number \d+ """
                                            r"""cannot be renamed: the item with key \{"id":\{"S":"a"\}\} has both """
                                            r"""'n' and 'count'"""):
        replay_round(settings, [ShardWork("s1", None)], task=0)
    assert writes(target) == []


# ---- transfer: an incremental export's Changes page; an export target's manifest -----------------------------

def test_a_changes_page_is_renamed_puts_and_delete_keys_alike():
    """An incremental export's page of puts and deletes reaches the sink under the new names."""
    sink = FakeFileSink(opened=[])
    page = Changes(puts=[b'{"id":{"S":"a"},"n":{"N":"1.50"}}'], deletes=[b'{"id":{"S":"b"}}'])
    source = FakeSource({"inc": [[b'{"id":{"S":"c"},"other":{"S":"x"}}'], page]})
    transform = Transform(renames=(("id", "pk"), ("n", "count")), key_names=("id",))
    result = transfer(TransferSettings(source=source, sink=sink, transform=transform), [FileUnit("inc")], task=0)
    writer = sink.opened[0]
    assert writer.items == [b'{"pk":{"S":"c"},"other":{"S":"x"}}', b'{"pk":{"S":"a"},"count":{"N":"1.50"}}']
    assert writer.deletes == [b'{"pk":{"S":"b"}}']
    assert (result.scanned, result.written, result.deleted) == (3, 2, 1)


def test_a_conflict_in_a_task_is_a_transfer_error_naming_the_unit():
    """transfer() turns RenameConflict into TransferError naming the unit, the source and the sink (exit 1)."""
    source = FakeSource({"x": [[b'{"id":{"S":"a"},"n":{"N":"1"},"count":{"N":"2"}}']]})
    transform = Transform(renames=(("n", "count"),), key_names=("id",))
    with pytest.raises(TransferError) as info:
        transfer(TransferSettings(source=source, sink=FakeFileSink(opened=[]), transform=transform),
                 [FileUnit("x")], task=0)
    assert str(info.value) == (
        """data file x of source files 'export' -> target bucket 'b': the item with key {"id":{"S":"a"}} has both """
        """'n' and 'count', and renames map 'n' to 'count': one value would overwrite the other; remove 'count' """
        """from such items, or rename 'n' to a name no item uses""")


def test_an_export_written_with_renames_describes_and_holds_the_new_names(tmp_path):
    """The export's manifest-summary.json tableDescription (for a config that imports it) and its items carry the
    new names: the sink is prepared with the renamed table, the items come renamed from the transform."""
    write = ExportWrite(S3ExportTarget(str(tmp_path / "e")))
    write.prepare(renamed_table(source_info(), RENAMES), resuming=False)
    source = FakeSource({0: [[b'{"id":{"S":"a"},"ts":{"N":"1"},"g":{"S":"x"},"n":{"N":"2.50"}}']]})
    unit = SimpleNamespace(id=0, label="segment 0/1", kind="segment")
    transfer(TransferSettings(source=source, sink=ExportSink(write.output),
                              transform=Transform(renames=RENAMES, key_names=("id", "ts"))), [unit], task=0)
    write.finish(SimpleNamespace(total=1, kind="segment"))
    summary = json.loads(write.output.read("manifest-summary.json"))
    assert summary["tableDescription"] == {
        "attributeDefinitions": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"},
                                 {"name": "group", "type": "S"}, {"name": "when", "type": "N"}],
        "keySchema": [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}],
        "billingMode": "PAY_PER_REQUEST"}
    from tests.unit.test_export_sink import read_back

    _files, items = read_back(write.output)
    assert items == [b'{"pk":{"S":"a"},"sk":{"N":"1"},"group":{"S":"x"},"count":{"N":"2.50"}}']


# ---- the validator -------------------------------------------------------------------------------------------

SOURCE_ITEMS = [{"id": {"S": f"p{i % 3}"}, "ts": {"N": f"{i}.50"}, "g": {"S": f"g{i}"}, "n": {"N": str(i)},
                 "m": {"M": {"n": {"S": "nested"}}}} for i in range(12)]


def target_items() -> list[dict]:
    """The source items as a renaming migration writes them."""
    return [renamed(item, dict(RENAMES)) for item in copy.deepcopy(SOURCE_ITEMS)]


@pytest.fixture
def validate(monkeypatch):
    """Both validator passes over a fake server holding src (old names) and dst (new names)."""

    def run(source_items, target):
        server = FakeDynamo({"src": (("id", "ts"), source_items), "dst": (("pk", "sk"), target)})
        monkeypatch.setattr(Database, "api", lambda self, **kwargs: server)
        settings = ValidationSettings(
            source=Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), source_table="src",
            target=Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), target_table="dst",
            key_names=("id", "ts"), renames=RENAMES, retry=FAST)
        return check_source_segments(settings, range(4), 0, 4), check_target_segments(settings, range(4), 0, 4)

    return run


def test_the_validator_finds_no_difference_when_every_name_was_renamed(validate, caplog):
    """Source items renamed before the lookup (hash, range, a GSI key, a plain attribute; nested names untouched)
    match the target; target keys looked up on the source under the old names all exist."""
    with caplog.at_level(logging.INFO):
        source, target = validate(SOURCE_ITEMS, target_items())
    assert (source.checked, source.missing, source.differing) == (12, 0, 0)
    assert (target.checked, target.extra) == (12, 0)


def test_the_validator_finds_differing_missing_and_extra_items_under_the_new_names(validate):
    """A renamed attribute's value changed, an item missing, an item the source does not have: each is found and
    named by its key under the target's names."""
    target = target_items()
    target[0]["count"] = {"N": "99"}
    del target[1]
    target.append({"pk": {"S": "extra"}, "sk": {"N": "1"}})
    source, extra = validate(SOURCE_ITEMS, target)
    assert (source.missing, source.differing, extra.extra) == (1, 1, 1)
    examples = {e.kind: e for e in source.examples + extra.examples}
    assert examples["differing"].key == {"pk": {"S": "p0"}, "sk": {"N": "0.50"}}
    assert examples["differing"].differences == ("count: N 0 != N 99",)
    assert examples["missing"].key == {"pk": {"S": "p1"}, "sk": {"N": "1.50"}}
    assert examples["extra"].key == {"pk": {"S": "extra"}, "sk": {"N": "1"}}


def test_the_validator_stops_on_a_source_item_holding_both_names(validate):
    """As the migration does: an item with both the old and the new name is an error naming it, not a silent pick."""
    source_items = copy.deepcopy(SOURCE_ITEMS)
    source_items[0]["count"] = {"N": "7"}
    with pytest.raises(TransferError, match=r"""the item with key \{"id":\{"S":"p0"\},"ts":\{"N":"0.50"\}\} has """
                                            r"""both 'n' and 'count'"""):
        validate(source_items, target_items())


def test_renamed_items_of_the_validator_raise_a_migrator_error():
    """items.renamed (the validator's decoded form) refuses an item holding both names, naming its key."""
    with pytest.raises(MigratorError, match=r"""key \{"id":\{"S":"a"\}\} has both 'n' and 'count'"""):
        renamed({"id": {"S": "a"}, "n": {"N": "1"}, "count": {"N": "2"}}, {"n": "count"}, ("id",))
