"""The source's stream before the snapshot (streams/setup.py) and the checkpoint savepoints carry (streams/shards.py).

A moto server (the session's source) stands in for AWS (moto's in-process mock answers DescribeStream with 404):
the logic under test is which stream is used, which is refused, and where replay begins; the replay itself runs
through spark-submit in tests/integration/test_stream_replay.py.
"""

from __future__ import annotations

import logging
import time

import pytest
import yaml

from migrator.config import Credentials, load_config
from migrator.dynamo.database import Database
from migrator.errors import ChangesLost, ConfigError
from migrator.savepoints.writer import savepoint_text
from migrator.streams.setup import StreamControl, prepare
from migrator.streams.shards import RETENTION_SECONDS, Shard, ShardProgress, ShardState, StreamState

@pytest.fixture
def aws(moto_source):
    """The source's Database on the moto server."""
    return Database(side="source", kind="dynamodb", region="us-east-1", endpoint_url=moto_source.url,
                    credentials=Credentials("testing", "testing"))


@pytest.fixture
def table(fresh_table_name):
    return fresh_table_name("orders")


def make_table(database: Database, table: str, stream_view: str | None = None) -> None:
    client = database.boto3_client()
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream_view}} if stream_view else {}
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST", **extra)


def test_a_table_without_a_stream_gets_a_new_image_stream_read_from_its_beginning(aws, table, caplog):
    make_table(aws, table)
    with caplog.at_level(logging.INFO, logger="migrator"):
        state = prepare(StreamControl(aws, table), None)
    described = aws.boto3_client().describe_table(TableName=table)["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert state.stream_arn == described["LatestStreamArn"]
    assert [work.after for work in state.ready()] == [None]  # the one open shard, from its beginning
    assert f"stream: enabled a NEW_IMAGE stream on table {table!r}" in caplog.text
    assert "with no older history" in caplog.text


@pytest.mark.parametrize("view", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_a_stream_with_new_images_is_reused_and_its_older_history_is_told(aws, table, caplog, view):
    make_table(aws, table, view)
    aws.boto3_client().put_item(TableName=table, Item={"pk": {"S": "before"}})
    arn = aws.boto3_client().describe_table(TableName=table)["Table"]["LatestStreamArn"]
    with caplog.at_level(logging.INFO, logger="migrator"):
        state = prepare(StreamControl(aws, table), None)
    assert state.stream_arn == arn
    assert f"stream: reusing the {view} stream of table {table!r} ({arn})" in caplog.text
    assert "are applied again after it" in caplog.text  # the change made before the snapshot is replayed


@pytest.mark.parametrize("view", ["KEYS_ONLY", "OLD_IMAGE"])
def test_a_stream_without_new_images_is_refused_naming_the_fix(aws, table, view):
    make_table(aws, table, view)
    with pytest.raises(ConfigError) as info:
        prepare(StreamControl(aws, table), None)
    message = str(info.value)
    assert message.startswith(f"source table {table!r}: its stream is {view}, whose records carry no new image")
    assert "StreamEnabled=false" in message and "NEW_AND_OLD_IMAGES" in message


def test_a_checkpoint_of_the_tables_stream_is_continued(aws, table):
    make_table(aws, table, "NEW_IMAGE")
    arn = aws.boto3_client().describe_table(TableName=table)["Table"]["LatestStreamArn"]
    doc = StreamState(arn, {"shard-1": ShardState(parent=None, after="42")}, since=time.time() - 60).to_doc()
    state = prepare(StreamControl(aws, table), doc)
    assert [(w.shard, w.after) for w in state.ready()] == [("shard-1", "42")]


def test_a_checkpoint_of_another_stream_means_changes_were_lost(aws, table):
    make_table(aws, table, "NEW_IMAGE")
    doc = StreamState(f"arn:aws:dynamodb:us-east-1:1:table/{table}/stream/old", {}, since=time.time()).to_doc()
    with pytest.raises(ChangesLost, match="changes were lost; take a new snapshot"):
        prepare(StreamControl(aws, table), doc)


def test_a_checkpoint_older_than_the_retention_means_changes_may_be_lost(aws, table):
    make_table(aws, table, "NEW_IMAGE")
    arn = aws.boto3_client().describe_table(TableName=table)["Table"]["LatestStreamArn"]
    doc = StreamState(arn, {}, since=time.time() - RETENTION_SECONDS - 3600).to_doc()
    with pytest.raises(ChangesLost, match=r"25\.0 h ago, past the stream's 24-hour retention"):
        prepare(StreamControl(aws, table), doc)


# ---- StreamState: lineage and checkpoint ----------------------------------------------------------------------

def test_children_wait_for_their_parent_and_ended_shards_leave_with_the_listing():
    state = StreamState("arn:s", {}, since=0.0)
    state.merge([Shard("p", None, closed=True), Shard("a", "p", False), Shard("b", "p", False)], "orders")
    assert [w.shard for w in state.ready()] == ["p"]
    state.advance(ShardProgress("p", last="9", ended=True, caught_up=True))
    assert sorted(w.shard for w in state.ready()) == ["a", "b"]
    state.merge([Shard("a", "p", False), Shard("b", "p", False)], "orders")  # the parent aged out of the listing
    assert set(state.shards) == {"a", "b"}


def test_a_shard_trimmed_before_it_was_read_means_changes_were_lost():
    state = StreamState("arn:s", {"gone": ShardState(parent=None, after="7")}, since=0.0)
    with pytest.raises(ChangesLost, match=r"shard gone is no longer in the stream \(after sequence number 7\)"):
        state.merge([Shard("new", None, False)], "orders")


def test_the_checkpoint_round_trips_through_a_savepoint(tmp_path):
    state = StreamState("arn:aws:dynamodb:us-east-1:1:table/orders/stream/x",
                        {"p": ShardState(parent=None, ended=True), "c": ShardState(parent="p", after="1234567")},
                        since=1_790_000_000.0)
    raw = {"source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
           "target": {"type": "dynamodb", "table": "copy", "region": "us-east-1", "streamChanges": True}}
    text = savepoint_text(raw, total_segments=4, done={0, 1, 2, 3}, reason="signal", stream=state.to_doc())
    assert "# stream: 1 shards to read, no change before 2026-09-21T" in text
    path = tmp_path / "savepoint.yaml"
    path.write_text(text)
    config = load_config(str(path))
    again = StreamState.from_doc(config.stream_checkpoint, "streamCheckpoint")
    assert again.to_doc() == state.to_doc()
    assert yaml.safe_load(text)["streamCheckpoint"]["shards"]["c"] == {"parent": "p", "after": "1234567"}


@pytest.mark.parametrize(("doc", "message"), [
    ([], "streamCheckpoint: expected a mapping with streamArn, since and shards, got []"),
    ({"streamArn": "x", "since": "2026-01-01T00:00:00", "shards": {}}, "streamCheckpoint.streamArn: expected a "
     "stream ARN, got 'x'"),
    ({"streamArn": "arn:s", "since": "yesterday", "shards": {}}, "streamCheckpoint.since: expected an ISO time"),
    ({"streamArn": "arn:s", "since": "2026-01-01T00:00:00", "shards": {"a": {"after": "12x"}}},
     "streamCheckpoint.shards.a.after: expected a sequence number (digits) or null, got '12x'"),
])
def test_a_malformed_checkpoint_is_refused_naming_the_key(doc, message):
    with pytest.raises(ConfigError) as info:
        StreamState.from_doc(doc, "streamCheckpoint")
    assert str(info.value).startswith(message)
