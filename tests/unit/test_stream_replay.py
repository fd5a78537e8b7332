"""A round's task against a fake stream and an in-memory target: newest change per key, acknowledged positions,
closed shards, expired iterators, trimmed records, lineage and pacing."""

from __future__ import annotations

import itertools
import logging

import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import ChangesLost, RequestError, TransferError
from migrator.streams.replay import ReplaySettings, replay_round
from migrator.streams.shards import Shard, ShardWork, StreamState
from migrator.writers.table_sink import BatchWriteSink, _BatchWrites
from tests.unit.fakes import FakeDynamo, FakeStream

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/src/stream/2026-01-01T00:00:00.000"
FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)


class StreamDatabase:
    """The source's Database as the task uses it: a Streams client."""

    def __init__(self, stream: FakeStream) -> None:
        self.stream = stream

    def streams_api(self):
        return self.stream


class FakeSink:
    """A BatchWriteSink whose client is an in-memory target."""

    description = "target table 'dst'"
    budget_unit = "WCU"

    def __init__(self, target: FakeDynamo, units_per_second: float = 0.0) -> None:
        self.target = target
        self.units_per_second = units_per_second
        self.settings = BatchWriteSink(Database("target", "dynamodb", "us-east-1"), "dst", retry=FAST,
                                       key_names=("pk",))

    def open(self, limiter, on_refused=None):
        return _BatchWrites(self.settings, self.target, limiter, on_refused)


def put(stream: FakeStream, shard: str, key: str, n: int, event: str = "MODIFY") -> str:
    return stream.add(shard, event, {"pk": {"S": key}}, {"pk": {"S": key}, "n": {"N": str(n)}})


def remove(stream: FakeStream, shard: str, key: str) -> str:
    return stream.add(shard, "REMOVE", {"pk": {"S": key}})


def setup(target_items=(), **settings):
    stream, target = FakeStream(), FakeDynamo({"dst": (["pk"], list(target_items))})
    replay = ReplaySettings(ARN, "src", StreamDatabase(stream), FakeSink(target), **settings)
    return stream, target, replay


def stored(target: FakeDynamo) -> dict[str, str]:
    return {item["pk"]["S"]: item["n"]["N"] for item in target.items["dst"].values()}


def writes(target: FakeDynamo) -> list[list[dict]]:
    return [doc["RequestItems"]["dst"] for op, doc in target.calls if op == "BatchWriteItem"]


def test_the_same_key_several_times_in_a_page_is_written_once_with_the_newest_change():
    """Five changes of one key in one page make one put of the last image, in one request."""
    stream, target, settings = setup()
    for n in range(5):
        put(stream, "s1", "a", n, "INSERT" if n == 0 else "MODIFY")
    last = put(stream, "s1", "b", 1, "INSERT")
    result = replay_round(settings, [ShardWork("s1", None)], task=0)
    assert stored(target) == {"a": "4", "b": "1"}
    assert [len(requests) for requests in writes(target)] == [2]
    (progress,) = result.shards
    assert (progress.last, progress.records, progress.puts, progress.deletes) == (last, 6, 2, 0)
    assert progress.caught_up and not progress.ended and progress.iterator is not None


def test_puts_and_deletes_across_pages_apply_in_stream_order():
    """A key put in one page, deleted in the next and put again in a third ends as the last put; a page is
    acknowledged before the next is written."""
    stream, target, settings = setup(target_items=[{"pk": {"S": "old"}, "n": {"N": "0"}}])
    stream.page_size = 2
    put(stream, "s1", "a", 1, "INSERT")
    remove(stream, "s1", "old")
    remove(stream, "s1", "a")
    put(stream, "s1", "b", 1, "INSERT")
    put(stream, "s1", "a", 2, "INSERT")
    result = replay_round(settings, [ShardWork("s1", None)], task=0)
    assert stored(target) == {"a": "2", "b": "1"}
    assert [[next(iter(r)) for r in requests] for requests in writes(target)] == [
        ["PutRequest", "DeleteRequest"], ["PutRequest", "DeleteRequest"], ["PutRequest"]]
    assert (result.shards[0].puts, result.shards[0].deletes) == (3, 2)


def test_a_closed_shard_ends_when_read_to_its_end():
    """The last page of a closed shard has no NextShardIterator: ended, no iterator for the next round."""
    stream, _target, settings = setup()
    last = put(stream, "s1", "a", 1, "INSERT")
    stream.close("s1")
    (progress,) = replay_round(settings, [ShardWork("s1", None)], task=0).shards
    assert progress.ended and progress.caught_up and progress.iterator is None and progress.last == last


def test_a_shard_continues_after_its_last_acknowledged_change():
    """A ShardWork with `after` reads only the later records; a fresh iterator from the last round is reused."""
    stream, target, settings = setup()
    first = put(stream, "s1", "a", 1, "INSERT")
    put(stream, "s1", "b", 1, "INSERT")
    replay_round(settings, [ShardWork("s1", first)], task=0)
    assert stored(target) == {"b": "1"}
    done = replay_round(settings, [ShardWork("s1", None)], task=0).shards[0]
    put(stream, "s1", "c", 1, "INSERT")
    target.calls.clear()
    stream.calls.clear()
    again = replay_round(settings, [ShardWork("s1", done.last, done.iterator, done.iterator_at)], task=0).shards[0]
    assert [op for op, _ in stream.calls] == ["GetRecords", "GetRecords"]  # no GetShardIterator: reused
    assert again.records == 1 and stored(target)["c"] == "1"


def test_an_expired_iterator_is_renewed_after_the_last_record_read():
    """ExpiredIteratorException: a new iterator AFTER_SEQUENCE_NUMBER the last record read, nothing skipped."""
    stream, target, settings = setup()
    stream.page_size = 1
    first = put(stream, "s1", "a", 1, "INSERT")
    second = put(stream, "s1", "b", 1, "INSERT")
    done = replay_round(settings, [ShardWork("s1", None)], task=0).shards[0]
    assert done.last == second
    put(stream, "s1", "c", 1, "INSERT")
    stream.expire()
    stream.calls.clear()
    again = replay_round(settings, [ShardWork("s1", done.last, done.iterator, done.iterator_at)], task=0).shards[0]
    renewals = [doc for op, doc in stream.calls if op == "GetShardIterator"]
    assert renewals == [{"StreamArn": ARN, "ShardId": "s1", "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                         "SequenceNumber": second}]
    assert again.records == 1 and stored(target) == {"a": "1", "b": "1", "c": "1"}
    assert first < second


def test_trimmed_records_are_changes_lost():
    """A checkpoint older than the stream's retention: ChangesLost naming the table, the shard and the position,
    asking for a new snapshot."""
    stream, target, settings = setup()
    first = put(stream, "s1", "a", 1, "INSERT")
    put(stream, "s1", "b", 1, "INSERT")
    put(stream, "s1", "c", 1, "INSERT")
    stream.trim("s1", 2)
    with pytest.raises(ChangesLost, match=f"table 'src', shard s1: the records after sequence number {first} were "
                                          "trimmed .*changes were lost.*take a new snapshot"):
        replay_round(settings, [ShardWork("s1", first)], task=0)
    assert stored(target) == {}


def test_a_closed_shard_whose_iterator_is_null_ends():
    """GetShardIterator may answer a null iterator after a closed shard's last record (the Kinesis contract):
    the shard is read to its end, not an error."""
    stream, _target, settings = setup()
    last = put(stream, "s1", "a", 1, "INSERT")
    stream.close("s1")
    stream.null_iterator_after_end = True
    (progress,) = replay_round(settings, [ShardWork("s1", last)], task=0).shards
    assert progress.ended and progress.records == 0 and progress.last is None


def test_a_shard_gone_from_the_stream_is_changes_lost():
    """ResourceNotFoundException for a shard still to be read: its records aged out with it."""
    stream, _target, settings = setup()
    first = put(stream, "s1", "a", 1, "INSERT")
    stream.gone.add("s1")
    with pytest.raises(ChangesLost, match=f"shard s1: the records after sequence number {first} are gone with "
                                          "their shard .*changes were lost"):
        replay_round(settings, [ShardWork("s1", first)], task=0)


def test_records_trimmed_while_reading_are_changes_lost():
    """GetRecords answering TrimmedDataAccessException on a reused iterator is ChangesLost too."""
    stream, _target, settings = setup()
    put(stream, "s1", "a", 1, "INSERT")
    done = replay_round(settings, [ShardWork("s1", None)], task=0).shards[0]
    put(stream, "s1", "b", 1, "INSERT")
    stream.trim("s1", 2)
    with pytest.raises(ChangesLost, match="shard s1"):
        replay_round(settings, [ShardWork("s1", done.last, done.iterator, done.iterator_at)], task=0)


def test_a_refused_change_names_the_table_the_shard_and_the_key():
    """A delete the target refuses fails the task with TransferError naming the shard and the key."""
    stream, target, settings = setup()
    stream.add("s1", "REMOVE", {"pk": {"S": "bad"}})
    refuse = target._BatchWriteItem

    def refusing(doc):
        if any("DeleteRequest" in r for r in doc["RequestItems"]["dst"]):
            raise RequestError("BatchWriteItem was refused: ValidationException: bad key", code="ValidationException")
        return refuse(doc)

    target._BatchWriteItem = refusing
    with pytest.raises(TransferError, match=r"table 'src', shard s1: .*cannot be written: .*'dst' refused the "
                                            r"delete of the item with key \{\"pk\":\{\"S\":\"bad\"\}\}: "
                                            "ValidationException: bad key"):
        replay_round(settings, [ShardWork("s1", None)], task=0)


def test_a_write_that_fails_for_good_names_the_shard_and_its_position():
    """Retries exhausted: TransferError naming the shard, the position after which nothing was written, the
    target and the cause; no ShardProgress comes back."""
    stream, target, settings = setup()
    put(stream, "s1", "a", 1, "INSERT")
    target.fail_on = "BatchWriteItem"
    with pytest.raises(TransferError, match="shard s1: the changes from the shard beginning could not be written "
                                            "to target table 'dst': .*injected"):
        replay_round(settings, [ShardWork("s1", None)], task=0)


def test_children_wait_for_their_parent_to_end():
    """Lineage through StreamState: a parent, then its two children once it ended; a key moved from the parent to
    a child ends as the child's last change."""
    stream, target, settings = setup()
    stream.shard("parent")
    put(stream, "parent", "a", 1, "INSERT")
    put(stream, "parent", "b", 1, "INSERT")
    state = StreamState(ARN, {}, since=0.0)

    def round_(listing):
        state.merge(listing, "src")
        works = state.ready()
        for progress in replay_round(settings, works, task=0).shards:
            state.advance(progress)
        return [w.shard for w in works]

    assert round_([Shard("parent", None, False)]) == ["parent"]
    stream.close("parent")
    stream.shard("left", "parent")
    stream.shard("right", "parent")
    put(stream, "left", "a", 2)
    remove(stream, "right", "b")
    listing = [Shard("parent", None, True), Shard("left", "parent", False), Shard("right", "parent", False)]
    state.merge(listing, "src")
    assert [w.shard for w in state.ready()] == ["parent"]  # the children wait
    assert round_(listing) == ["parent"]
    assert state.shards["parent"].ended
    assert round_(listing) == ["left", "right"]
    assert stored(target) == {"a": "2"}
    assert state.to_doc()["shards"]["parent"] == {"parent": None, "ended": True}


def test_get_records_is_paced_per_shard():
    """At 5 GetRecords per second, consecutive calls on one shard are at least 0.2 s apart."""
    stream, _target, settings = setup(get_records_per_second=5.0, round_seconds=100.0)
    stream.page_size = 1
    for n in range(4):
        put(stream, "s1", f"k{n}", n, "INSERT")
    now = [0.0]
    calls: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    original = stream._answer

    def timed(operation, doc):
        if operation == "GetRecords":
            calls.append(now[0])
        return original(operation, doc)

    stream._answer = timed
    replay_round(settings, [ShardWork("s1", None)], task=0, clock=lambda: now[0], sleep=sleep)
    assert len(calls) == 5  # four records, then an empty page: caught up
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(calls))


def test_a_shard_stops_when_its_share_of_the_round_is_spent(caplog):
    """With the round's time spent, a shard with more records stops after its first page: not caught up."""
    stream, _target, settings = setup(round_seconds=0.0)
    stream.page_size = 1
    put(stream, "s1", "a", 1, "INSERT")
    put(stream, "s1", "b", 1, "INSERT")
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        (progress,) = replay_round(settings, [ShardWork("s1", None)], task=3).shards
    assert progress.records == 1 and not progress.caught_up and progress.iterator
    assert "migrator task 3: shard s1: 1 puts, 0 deletes, 1 records up to sequence number" in caplog.text
