"""The replay's rounds on the driver (jobs/replicate.py): lineage across rounds, the cut-over line, stopping.

Spark and the tasks are replaced by a scripted stream: `FakeSparkContext.parallelize(groups).map(f).collect()` runs
`f` on each group in this process, and the task function reads a `ScriptedStream`'s records for each ShardWork. The
real task (streams/replay.py) is tested in test_stream_replay.py, the whole job on moto in tests/integration.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from migrator.config import parse_config
from migrator.errors import ChangesLost, Interrupted
from migrator.jobs.replicate import Replication
from migrator.streams import replay
from migrator.streams.shards import RETENTION_SECONDS, Shard, ShardProgress, StreamState

TABLE = "orders"


class FakeSparkContext:
    defaultParallelism = 2

    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def setJobDescription(self, text: str) -> None:
        self.descriptions.append(text)

    def parallelize(self, groups, slices):
        assert len(groups) == slices
        return _Rdd(groups)

    def cancelAllJobs(self) -> None:  # StopOnSignals with cancel_jobs=False never calls it
        raise AssertionError("the replay must not cancel its round")


class _Rdd:
    def __init__(self, groups) -> None:
        self.groups = groups

    def map(self, function):
        self.function = function
        return self

    def collect(self):
        return [self.function(group) for group in self.groups]


class ScriptedStream:
    """Shards with records (sequence numbers 1, 2, ...); `status` is the StreamStatus DescribeStream says."""

    def __init__(self, shards: dict[str, tuple[str | None, int, bool]]) -> None:
        self.shards = dict(shards)  # id -> (parent, records, closed)
        self.status = "ENABLED"
        self.reads: list[tuple[str, str | None]] = []  # (shard, after) per task read, in order
        self.on_round = lambda n: None

    def listing(self) -> list[Shard]:
        return [Shard(i, parent, closed) for i, (parent, _, closed) in self.shards.items()]

    def task(self, settings, works) -> replay.ReplayResult:
        progress = []
        for work in works:
            _, count, closed = self.shards[work.shard]
            self.reads.append((work.shard, work.after))
            start = int(work.after or 0)
            read = count - start
            progress.append(ShardProgress(work.shard, str(count) if read else None, ended=closed, caught_up=True,
                                          records=read, puts=read, newest=time.time() - 2 if read else None))
        return replay.ReplayResult(0, tuple(progress), 0.01, 0.001)


class FakeControl:
    def __init__(self, stream: ScriptedStream) -> None:
        self.stream = stream
        self.database = type("Db", (), {"endpoint_url": "http://127.0.0.1:1"})()
        self.rounds = 0

    def shards(self, arn):
        self.rounds += 1
        self.stream.on_round(self.rounds)
        return self.stream.status, self.stream.listing()


class FakeSink:
    def budget(self, tasks):
        return None

    def sink(self, budget):
        return None


class FakeWriter:
    def __init__(self) -> None:
        self.docs: list[dict] = []
        self.saved: list[str] = []
        self.last_path = "savepoint_1.yaml"
        self.store = type("Store", (), {"location": "/savepoints"})()

    def start(self, interval):
        pass

    def stop(self):
        pass

    def stream_advanced(self, doc):
        self.docs.append(doc)

    def save(self, reason, detail=""):
        self.saved.append(reason)


def replication(stream: ScriptedStream, monkeypatch, *, writer=None, since: float | None = None, **target):
    monkeypatch.setattr(replay, "replay_round_task", stream.task)
    raw = {"source": {"type": "dynamodb", "table": TABLE, "region": "us-east-1"},
           "target": {"type": "dynamodb", "table": "copy", "region": "us-east-1", "streamChanges": True,
                      "streamPollSeconds": 0, **target}}
    if writer is not None:
        raw["savepoints"] = {"path": "/savepoints", "intervalSeconds": 300}
    config = parse_config(raw, "test")
    state = StreamState("arn:stream", {}, since=time.time() if since is None else since)
    return Replication(FakeSparkContext(), config, state, FakeControl(stream), FakeSink(), writer)


def test_children_are_read_after_their_parent_ended_and_the_run_stops_once_caught_up(monkeypatch, caplog):
    stream = ScriptedStream({"parent": (None, 5, True), "a": ("parent", 3, False), "b": ("parent", 2, False)})
    writer = FakeWriter()
    run = replication(stream, monkeypatch, writer=writer, streamCutoverSeconds=0, streamStopWhenCaughtUp=True)
    with caplog.at_level(logging.INFO, logger="migrator"):
        assert run.run() == 0
    assert stream.reads[0] == ("parent", None)
    assert sorted(stream.reads[1:3]) == [("a", None), ("b", None)]  # the round after the parent ended
    assert run.sc.descriptions[0] == "stream replay of table 'orders': round 1, 1 shards in 1 tasks"
    assert run.sc.descriptions[1] == "stream replay of table 'orders': round 2, 2 shards in 2 tasks"
    assert "stream round 1: 5 puts, 0 deletes from 1 shards (2 open); caught up" in caplog.text
    assert "stream round 2: 5 puts, 0 deletes from 2 shards (2 open); caught up" in caplog.text
    assert "safe to switch applications over to table 'copy'" in caplog.text
    assert "migrator stream total: 10 changes read, 10 puts, 0 deletes written from 3 shards" in caplog.text
    assert writer.docs[-1]["shards"]["a"] == {"parent": "parent", "after": "3"}
    assert writer.saved[-1] == "final"


def test_the_cut_over_stretch_starts_when_the_first_caught_up_round_ends(monkeypatch, caplog):
    """A round that clears a backlog is not 'caught up for' its own duration: the line needs later rounds."""
    stream = ScriptedStream({"s": (None, 100, False)})
    run = replication(stream, monkeypatch, streamCutoverSeconds=0.3, streamStopWhenCaughtUp=True)
    with caplog.at_level(logging.INFO, logger="migrator"):
        assert run.run() == 0
    assert run.totals.rounds >= 2
    line = next(r.getMessage() for r in caplog.records if "safe to switch" in r.getMessage())
    assert line.startswith("stream: caught up for 0 s")


def test_a_stream_disabled_while_replaying_ends_with_changes_lost(monkeypatch):
    stream = ScriptedStream({"s": (None, 4, False)})

    def disable(n):
        if n == 2:
            stream.status = "DISABLED"
            stream.shards["s"] = (None, 4, True)

    stream.on_round = disable
    with pytest.raises(ChangesLost, match="is DISABLED: every change it recorded is applied"):
        replication(stream, monkeypatch, streamCutoverSeconds=3600).run()


def test_a_replay_that_starts_past_the_retention_refuses_to_run(monkeypatch):
    stream = ScriptedStream({"s": (None, 1, False)})
    run = replication(stream, monkeypatch, since=time.time() - RETENTION_SECONDS - 60)
    with pytest.raises(ChangesLost, match="the snapshot took that long"):
        run.run()
    assert stream.reads == []


def test_a_signal_stops_after_the_round_and_saves_the_checkpoint(monkeypatch, caplog):
    stream = ScriptedStream({"s": (None, 3, False)})
    stream.on_round = lambda n: os.kill(os.getpid(), signal.SIGTERM) if n == 2 else None
    writer = FakeWriter()
    run = replication(stream, monkeypatch, writer=writer, streamCutoverSeconds=3600)
    before = signal.getsignal(signal.SIGTERM)
    with caplog.at_level(logging.INFO, logger="migrator"), pytest.raises(Interrupted) as info:
        run.run()
    assert info.value.exit_status == 143
    assert signal.getsignal(signal.SIGTERM) is before
    assert "stream: stopped after round 2 (SIGTERM)" in caplog.text
    assert writer.saved[-1] == "signal" and writer.docs[-1]["shards"]["s"]["after"] == "3"


def test_lost_changes_in_a_task_do_not_suggest_resuming(monkeypatch, caplog):
    stream = ScriptedStream({"s": (None, 3, False)})

    def lost(settings, works):
        raise ChangesLost("stream of table 'orders', shard s: trimmed; take a new snapshot")

    writer = FakeWriter()
    run = replication(stream, monkeypatch, writer=writer)
    monkeypatch.setattr(replay, "replay_round_task", lost)
    with caplog.at_level(logging.INFO, logger="migrator"), pytest.raises(ChangesLost):
        run.run()
    assert writer.saved == ["failure"]
    assert "changes were lost, so resuming cannot repair the target" in caplog.text
    assert "--resume /savepoints" not in caplog.text

