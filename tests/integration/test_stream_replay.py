"""Live replication end to end: a moto source whose DynamoDB Stream is replayed into a moto target through
./submit.sh, while a writer changes the source; stopping, resuming from the checkpoint, a trimmed stream, and the
inputs that are refused.

moto's streams have one shard per table, never closed. moto is not safe under concurrent writes to one new
partition key, so the source is changed from one thread (`SourceWriter`). Every change the writer makes changes
the table, so each makes exactly one stream record: the tests count records exactly.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
from pathlib import Path

import boto3
import pytest
import yaml

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.sample_items import canonical, demo_items, key_of
from migrator.demo.servers import client_for
from migrator.logs import TASK_SUMMARY
from migrator.savepoints.stores import SavepointDir
from tests.conftest import fresh_table_name
from tests.integration.spark_process import output_of, submitted, wait_until
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.stream_proxy import TrimProxy
from tests.integration.test_bad_configs import BASE, assert_one_error_line, run_main

pytestmark = pytest.mark.integration

COMPOSITE_KEY = dict(key_schema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}],
                     attribute_definitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                            {"AttributeName": "sk", "AttributeType": "N"}])
KEY_NAMES = ("pk", "sk")
CUTOVER_SECONDS = 2
MASTER = ("--master", "local[2]")

# The log lines of the replay (the brief fixes their shapes).
NUMBER = r"\d+(?:\.\d+)?"
STREAM_READY = re.compile(r"stream: (reusing the NEW_IMAGE stream of|enabled a NEW_IMAGE stream on) table "
                          r"'([^']+)' \((arn:[^)]+)\)")
ROUND = re.compile(rf"stream round (\d+): (\d+) puts, (\d+) deletes from (\d+) shards \((\d+) open\); "
                   rf"(?:lag ({NUMBER}) s|(caught up))")
IDLE_ROUNDS = re.compile(r"stream rounds? (\d+)(?:-(\d+))?: no changes from (\d+) shards \((\d+) open\); caught up")
CUTOVER = re.compile(rf"stream: caught up for ({NUMBER}) s: the target holds every change of table '([^']+)' made "
                     rf"until ({NUMBER}) s ago; safe to switch applications over to table '([^']+)'")
TOTAL = re.compile(rf"migrator stream total: (\d+) changes read, (\d+) puts, (\d+) deletes written from (\d+) "
                   rf"shards in {NUMBER} s \({NUMBER} changes/s; tasks' CPU {NUMBER} s(?:, {NUMBER} us per change)?\)")
STOPPED_CAUGHT_UP = re.compile(rf"stream: stopped after round (\d+): caught up for ({NUMBER}) s "
                               r"\(target\.streamStopWhenCaughtUp\)")
# SIGTERM to the Python driver says SIGTERM; to spark-submit, the JVM's shutdown hook tells the driver.
STOPPED_BY_SIGTERM = re.compile(r"stream: stopped after round (\d+) \((SIGTERM|spark-submit is shutting down)\)")


# ---------------------------------------------------------------------------------------------- the source


def source_table(server, prefix: str, items: list[dict], view_type: str | None = "NEW_IMAGE") -> str:
    """A composite-key table holding `items`, with a stream of `view_type` enabled first (None: no stream)."""
    name = fresh_table_name(prefix)
    client = client_for(server)
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": view_type}} if view_type else {}
    create_table(client, name, **COMPOSITE_KEY, **extra)
    assert fill_table(client, name, items, threads=1) == len(items)
    return name


class SourceWriter:
    """Changes a table from one thread with single-item requests: puts of new items, updates of existing ones,
    deletes, deleted keys put again, and one hot key updated over and over. Every request changes the table (an
    update always adds to `hits`), so each makes exactly one stream record; `made` counts them."""

    def __init__(self, server, table: str, items: list[dict], seed: int) -> None:
        self.client = client_for(server)
        self.table = table
        self.random = random.Random(seed)
        self.live = [{name: item[name] for name in KEY_NAMES} for item in items]
        self.hot = self.live.pop(0)  # never deleted
        self.deleted: list[dict] = []
        self.made = 0
        self.hot_updates = self.deletes = self.recreated = 0
        self._next = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def run(self, changes: int) -> None:
        for _ in range(changes):
            self.change()

    def start(self, changes: int) -> None:
        """`run(changes)` in a thread; `join` waits for it and raises what it raised."""
        def body() -> None:
            try:
                self.run(changes)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread by join
                self._error = exc
        self._thread = threading.Thread(target=body, name="source-writer", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 180) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the source writer is still writing after {timeout} s"
        if self._error is not None:
            raise self._error

    def change(self) -> None:
        draw = self.random.random()
        if draw < 0.15:
            self._update(self.hot)
            self.hot_updates += 1
        elif draw < 0.40 or not self.live:
            self._put(self._new_key(), reborn=False)
        elif draw < 0.55:
            self._update(self.random.choice(self.live))
        elif draw < 0.85:
            key = self.live.pop(self.random.randrange(len(self.live)))
            self.client.delete_item(TableName=self.table, Key=key)
            self.deleted.append(key)
            self.deletes += 1
        elif self.deleted:
            self._put(self.deleted.pop(self.random.randrange(len(self.deleted))), reborn=True)
            self.recreated += 1
        else:
            self._put(self._new_key(), reborn=False)
        self.made += 1

    def _new_key(self) -> dict:
        self._next += 1
        return {"pk": {"S": f"new#{self._next // 3:05d}"}, "sk": {"N": str(self._next)}}

    def _put(self, key: dict, *, reborn: bool) -> None:
        item = {**key, "title": {"S": f"written {self.made}"}, "price": {"N": f"{self.random.randrange(10**6)}.25"},
                "tags": {"SS": self.random.sample(["a", "b", "c", "d", "é", "東"], 2)}, "reborn": {"BOOL": reborn}}
        self.client.put_item(TableName=self.table, Item=item)
        self.live.append(key)

    def _update(self, key: dict) -> None:
        self.client.update_item(
            TableName=self.table, Key=key, UpdateExpression="SET note = :note ADD hits :one",
            ExpressionAttributeValues={":note": {"S": f"change {self.made}"}, ":one": {"N": "1"}})


def stream_records(server, table: str) -> tuple[str, str, list[str]]:
    """(stream ARN, shard id, sequence numbers of every record) of `table`'s stream, read from TRIM_HORIZON."""
    arn = client_for(server).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(shards) == 1, shards
    shard = shards[0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    numbers = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            break
        numbers += [record["dynamodb"]["SequenceNumber"] for record in page["Records"]]
        iterator = page.get("NextShardIterator")
    return arn, shard, numbers


# ---------------------------------------------------------------------------------------------- checks


def assert_same_items(moto_source, source: str, moto_target, target: str) -> int:
    """The target holds exactly the source's items (canonical values); the item count."""
    def by_key(server, table):
        return {key_of(item, KEY_NAMES): canonical(item) for item in scan_all(client_for(server), table)}

    expected, found = by_key(moto_source, source), by_key(moto_target, target)
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    differing = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    assert not (missing or extra or differing), (
        f"target {target!r} differs from source {source!r} ({len(expected)} items): {len(missing)} missing "
        f"{missing[:3]}, {len(extra)} extra {extra[:3]}, {len(differing)} differing "
        + (f"{differing[0]}: source {expected[differing[0]]} target {found[differing[0]]}" if differing else ""))
    return len(expected)


def stream_config(path: Path, source_url: str, source: str, target_url: str, target: str, *, stop: bool = True,
                  savepoints: Path | None = None, **target_extra) -> Path:
    """A replay config: streamChanges, short rounds and polls, CUTOVER_SECONDS, stop when caught up or not."""
    return write_config(
        path, source_url, source, target_url, target, source_extra={"scanSegments": 8, "maxMapTasks": 2},
        target_extra={"streamChanges": True, "streamPollSeconds": 0.2, "streamRoundSeconds": 2,
                      "streamCutoverSeconds": CUTOVER_SECONDS, "streamStopWhenCaughtUp": stop, **target_extra},
        top={"savepoints": {"path": str(savepoints), "intervalSeconds": 1}} if savepoints else None)


def rounds(output: str) -> list[tuple[int, int, int]]:
    """(round, puts, deletes) of every round line."""
    return [(int(m[1]), int(m[2]), int(m[3])) for m in ROUND.finditer(output)]


def total(output: str) -> dict[str, int]:
    found = TOTAL.findall(output)
    assert len(found) == 1, f"not one stream total line:\n{describe(output)}"
    read, puts, deletes, shards = map(int, found[0])
    return {"read": read, "puts": puts, "deletes": deletes, "shards": shards}


def snapshot_items(output: str) -> int | None:
    """Items the snapshot's tasks transferred; None when no task summary line appears (no snapshot)."""
    found = TASK_SUMMARY.findall(output)
    return sum(int(items) for _, _, items in found) if found else None


def newest_savepoint(directory: Path) -> tuple[str, dict]:
    """(reason in its first line, document) of the newest savepoint in `directory`."""
    names = SavepointDir(directory).names()
    assert names, f"no savepoint in {directory}"
    text = (directory / names[-1]).read_text()
    first = text.splitlines()[0]
    return first[first.rindex("(") + 1:first.rindex(")")], yaml.safe_load(text)


def checkpoint_after(doc: dict, shard: str) -> str | None:
    """The last acknowledged sequence number of `shard` in a savepoint's streamCheckpoint."""
    assert "streamCheckpoint" in doc, f"a savepoint without streamCheckpoint: {sorted(doc)}"
    entry = doc["streamCheckpoint"]["shards"][shard]
    return None if entry.get("after") is None else str(entry["after"])


# ---------------------------------------------------------------------------------------------- tests


def test_changes_made_while_the_snapshot_runs_reach_the_target_and_the_run_stops_once_caught_up(
        moto_source, moto_target, tmp_path):
    """A writer changes a source without a stream while the snapshot copies it: the run enables a NEW_IMAGE
    stream first, replays every change once in rounds named in the Spark UI, logs the cut-over line and stops with
    exit 0; the target equals the source, item by item and for --validate."""
    items = list(demo_items(1000))
    source = source_table(moto_source, "live", items, view_type=None)
    target = fresh_table_name("live-copy")
    writer = SourceWriter(moto_source, source, items, seed=12)
    events = tmp_path / "events"
    events.mkdir()
    log = tmp_path / "run.log"
    with TrimProxy(moto_target.url) as gate:
        config = stream_config(tmp_path / "live.yaml", moto_source.url, source, gate.url, target)
        gate.hold("BatchWriteItem")  # the snapshot pauses at its first write while the source changes
        with submitted(log, str(config), *MASTER, "--conf", "spark.eventLog.enabled=true", "--conf",
                       f"spark.eventLog.dir=file://{events}", "--conf", "spark.eventLog.compress=false") as run:
            wait_until(lambda: gate.held, "the snapshot's first write", run, log)
            assert STREAM_READY.search(output_of(log)), describe(output_of(log))  # the stream is on before the scan
            writer.start(600)
            writer.join()
            gate.release()
            status = run.wait(timeout=180)
        output = output_of(log)
        assert status == 0, describe(output)

        table = client_for(moto_source).describe_table(TableName=source)["Table"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        ready = STREAM_READY.search(output)
        assert ready.groups() == ("enabled a NEW_IMAGE stream on", source, table["LatestStreamArn"])
        assert snapshot_items(output), f"no snapshot task line:\n{describe(output)}"
        done = rounds(output)
        numbered = sorted([number for number, _, _ in done]
                          + [n for m in IDLE_ROUNDS.finditer(output) for n in range(int(m[1]), int(m[2] or m[1]) + 1)])
        assert done and numbered == list(range(1, len(numbered) + 1)), numbered  # every round in a line, once
        counted = total(output)
        assert counted["read"] == writer.made == 600, counted  # every change since the stream began, once
        assert counted["shards"] == 1
        assert (sum(p for _, p, _ in done), sum(d for _, _, d in done)) == (counted["puts"], counted["deletes"])
        assert counted["puts"] > 0 and counted["deletes"] > 0, counted
        assert counted["puts"] + counted["deletes"] <= counted["read"], counted
        cutover = CUTOVER.search(output)
        assert cutover and float(cutover[1]) >= CUTOVER_SECONDS and cutover[2] == source and cutover[4] == target, \
            describe(output)
        assert STOPPED_CAUGHT_UP.search(output), describe(output)
        assert writer.hot_updates > 45 and writer.deletes > 90 and writer.recreated > 30, \
            (writer.hot_updates, writer.deletes, writer.recreated)
        assert_same_items(moto_source, source, moto_target, target)
        log_text = "".join(p.read_text() for p in events.rglob("*") if p.is_file())
        descriptions = [json.loads(line)["Properties"].get("spark.job.description", "")
                        for line in log_text.splitlines() if '"Event":"SparkListenerJobStart"' in line]
        assert any(re.search(rf"stream replay of table '{source}': round \d+, 1 shards", d)
                   for d in descriptions), descriptions

        validated = run_submit("--validate", config, "--report", str(tmp_path / "report.json"), *MASTER)
    assert validated.returncode == 0, describe(validated.stdout)
    assert "validator verdict: IDENTICAL" in validated.stdout


def test_a_stopped_replay_resumes_after_its_checkpoint_without_a_second_snapshot(moto_source, moto_target, tmp_path):
    """Stopped once caught up (exit 0), the source changed, --resume replays exactly those changes and copies no
    snapshot; stopped by SIGTERM while the source changes (143, a signal savepoint), --resume again converges."""
    items = list(demo_items(300))
    source = source_table(moto_source, "resume", items)
    target = fresh_table_name("resume-copy")
    savepoints = tmp_path / "savepoints"
    config = stream_config(tmp_path / "stop.yaml", moto_source.url, source, moto_target.url, target,
                           savepoints=savepoints)
    writer = SourceWriter(moto_source, source, items, seed=5)

    first = run_submit(config, *MASTER)
    assert first.returncode == 0, describe(first.stdout)
    ready = STREAM_READY.search(first.stdout)
    assert ready and ready[1] == "reusing the NEW_IMAGE stream of" and ready[2] == source, describe(first.stdout)
    assert STOPPED_CAUGHT_UP.search(first.stdout), describe(first.stdout)
    assert_same_items(moto_source, source, moto_target, target)
    _, shard, numbers = stream_records(moto_source, source)
    assert len(numbers) == len(items)  # the fill's puts
    _, doc = newest_savepoint(savepoints)
    assert checkpoint_after(doc, shard) == numbers[-1], doc["streamCheckpoint"]

    writer.run(200)  # while nothing runs
    log = tmp_path / "second.log"
    endless = stream_config(tmp_path / "endless.yaml", moto_source.url, source, moto_target.url, target,
                            savepoints=savepoints, stop=False)
    with submitted(log, str(endless), *MASTER, "--resume", str(savepoints)) as run:
        wait_until(lambda: CUTOVER.search(output_of(log)), "the cut-over line", run, log)
        assert snapshot_items(output_of(log)) is None, describe(output_of(log))  # no second snapshot
        assert_same_items(moto_source, source, moto_target, target)
        replayed = rounds(output_of(log))
        assert 0 < sum(p + d for _, p, d in replayed) <= 200, replayed
        writer.start(300)
        wait_until(lambda: any(p + d for _, p, d in rounds(output_of(log))[len(replayed):]),
                   "a round applying the writer's changes", run, log)
        run.send_signal(signal.SIGTERM)  # spark-submit (submit.sh execs it)
        status = run.wait(timeout=120)
    writer.join()
    output = output_of(log)
    assert status == 143, describe(output)
    assert STOPPED_BY_SIGTERM.search(output), describe(output)
    reason, doc = newest_savepoint(savepoints)
    assert reason.startswith("signal: "), reason
    stopped_at = checkpoint_after(doc, shard)

    third = run_submit(config, *MASTER, "--resume", str(savepoints))
    assert third.returncode == 0, describe(third.stdout)
    assert snapshot_items(third.stdout) is None, describe(third.stdout)
    _, _, numbers = stream_records(moto_source, source)
    assert len(numbers) == len(items) + 500
    assert stopped_at in numbers, (stopped_at, numbers[-3:])
    unapplied = len(numbers) - numbers.index(stopped_at) - 1
    assert total(third.stdout)["read"] == unapplied, describe(third.stdout)  # from the checkpoint on, once
    assert STOPPED_CAUGHT_UP.search(third.stdout), describe(third.stdout)
    assert_same_items(moto_source, source, moto_target, target)
    _, doc = newest_savepoint(savepoints)
    assert checkpoint_after(doc, shard) == numbers[-1]


def test_a_stream_trimmed_past_the_checkpoint_fails_with_exit_1_saying_changes_were_lost(
        moto_source, moto_target, tmp_path):
    """Once the stream's records past the checkpoint are gone, the run ends with exit 1 and one error line naming
    the table and the shard and saying a new snapshot is needed, both when GetRecords (a running replay) and when
    GetShardIterator (--resume) answer TrimmedDataAccessException; the failure savepoint's checkpoint is the last
    change applied, and nothing after it reached the target."""
    items = list(demo_items(100))
    source = source_table(moto_source, "trim", items)
    target = fresh_table_name("trim-copy")
    savepoints = tmp_path / "savepoints"
    log = tmp_path / "run.log"
    with TrimProxy(moto_source.url) as proxy:
        config = stream_config(tmp_path / "trim.yaml", proxy.url, source, moto_target.url, target,
                               savepoints=savepoints, stop=False, skipInitialSnapshotTransfer=True)
        with submitted(log, str(config), *MASTER) as run:
            wait_until(lambda: CUTOVER.search(output_of(log)), "the cut-over line", run, log)
            before = scan_all(client_for(moto_source), source)
            proxy.trim()
            SourceWriter(moto_source, source, items, seed=3).run(20)
            status = run.wait(timeout=120)
        output = output_of(log)
        assert status == 1, describe(output)
        assert proxy.seen("GetRecords") > proxy.seen("GetShardIterator") and proxy.trimmed_answers >= 1
        assert snapshot_items(output) is None, describe(output)  # skipInitialSnapshotTransfer
        _, shard, numbers = stream_records(moto_source, source)
        reason, doc = newest_savepoint(savepoints)
        assert reason.startswith("failure"), reason
        assert checkpoint_after(doc, shard) == numbers[len(items) - 1]
        applied = [canonical(item) for item in scan_all(client_for(moto_target), target)]
        assert applied == [canonical(item) for item in before]  # the stream's history up to the trim, nothing after

        iterators = proxy.seen("GetShardIterator")
        resumed = run_submit(config, *MASTER, "--resume", str(savepoints))
        (tmp_path / "resumed.log").write_text(resumed.stdout)
        assert resumed.returncode == 1, describe(resumed.stdout)
        assert proxy.seen("GetShardIterator") > iterators  # a new iterator after the checkpoint: trimmed too
    for run_output in (output, resumed.stdout):
        errors = [line for line in run_output.splitlines() if line.startswith("migrator: error: ")]
        assert len(errors) == 1, describe(run_output)
        for fragment in (source, shard, "changes were lost", "new snapshot"):
            assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


def test_a_keys_only_stream_is_refused_with_exit_2_naming_the_fix(moto_source, moto_target, tmp_path):
    """A source whose stream carries no new images: one error line naming the table, KEYS_ONLY and NEW_IMAGE;
    nothing copied and the stream left as it was."""
    source = source_table(moto_source, "keys", list(demo_items(10)), view_type="KEYS_ONLY")
    config = stream_config(tmp_path / "keys.yaml", moto_source.url, source, moto_target.url,
                           fresh_table_name("keys-copy"))
    run = run_submit(config, *MASTER)
    assert run.returncode == 2, describe(run.stdout)
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error: ")]
    assert len(errors) == 1 and "Traceback" not in run.stdout, describe(run.stdout)
    for fragment in (source, "KEYS_ONLY", "NEW_IMAGE"):
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    assert snapshot_items(run.stdout) is None
    table = client_for(moto_source).describe_table(TableName=source)["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"


def test_stream_changes_from_an_s3_export_source_is_refused_by_the_config(tmp_path):
    """An export has no stream: exit 2 before Spark starts, one line naming target.streamChanges, the source type
    and the fix."""
    doc = {"source": {"type": "dynamodb-s3-export", "bucket": "exports", "region": "us-east-1",
                      "manifestKey": "AWSDynamoDB/0123/manifest-summary.json",
                      "tableDescription": {"attributeDefinitions": [{"name": "id", "type": "S"}],
                                           "keySchema": [{"name": "id", "type": "HASH"}]}},
           "target": {**BASE["target"], "streamChanges": True}}
    config = tmp_path / "export.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert_one_error_line(run_main(config), ["target.streamChanges", "dynamodb-s3-export", "got true",
                                             "set streamChanges: false"])
