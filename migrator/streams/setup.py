"""The source's stream on the driver: made ready before the snapshot, listed every round.

Before the snapshot, the table's stream is reused when its records carry new images (NEW_IMAGE or
NEW_AND_OLD_IMAGES), enabled (NEW_IMAGE) when the table has none, and refused when they do not (KEYS_ONLY,
OLD_IMAGE: exit 2, naming the fix). The replay's start is recorded then, so that no change made during the snapshot
is missed: a closed shard holds only changes older than the snapshot, so it counts as ended; an open shard is read
from its beginning. That beginning may be older than the snapshot (on AWS a shard stays open for hours): those
changes are applied again after it, which converges to the same items, since each change is a whole-item put or a
delete applied in order per key. The log says how old the oldest of them is.

A resumed run instead continues the savepoint's `streamCheckpoint`, after checking that the table's stream is
still the checkpoint's and that nothing it has yet to read can have been trimmed (DynamoDB keeps records 24 hours).
The stream is never disabled by the migrator: other consumers may use it.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from migrator.dynamo.database import Database
from migrator.errors import ChangesLost, ConfigError, RequestError
from migrator.streams.shards import RETENTION_SECONDS, Shard, ShardState, StreamState

logger = logging.getLogger("migrator.jobs.replicate")

NEW_IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
ENABLE_WAIT_SECONDS = 300  # enabling a stream takes seconds on AWS
CLIENT_MAX_AGE_SECONDS = 600  # boto3 clients hold frozen credentials: rebuilt this often, for runs of days
HISTORY_SHARDS_SAMPLED = 20  # open shards asked for their oldest record when a stream is reused


class StreamControl:
    """The control-plane calls of one table's stream (DescribeTable, UpdateTable, DescribeStream), through boto3
    clients rebuilt every CLIENT_MAX_AGE_SECONDS so that refreshed credentials (assumeRole) are used."""

    def __init__(self, database: Database, table: str) -> None:
        self.database = database
        self.table = table
        self._clients: dict[str, tuple[float, object]] = {}

    def client(self, service: str):
        made, client = self._clients.get(service, (0.0, None))
        if client is None or time.monotonic() - made > CLIENT_MAX_AGE_SECONDS:
            client = self.database.boto3_client(service)
            self._clients[service] = (time.monotonic(), client)
        return client

    def _call(self, service: str, operation: str, **params):
        try:
            return getattr(self.client(service), operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise RequestError(f"{operation} of the stream of table {self.table!r} failed: {error.get('Code')}: "
                               f"{error.get('Message')}", code=str(error.get("Code", ""))) from None
        except BotoCoreError as exc:
            raise RequestError(f"{operation} of the stream of table {self.table!r} failed: {exc}") from None

    def table_stream(self) -> tuple[str | None, str | None]:
        """(LatestStreamArn, StreamViewType) of the table's enabled stream, or (None, None)."""
        table = self._call("dynamodb", "describe_table", TableName=self.table)["Table"]
        spec = table.get("StreamSpecification") or {}
        if not spec.get("StreamEnabled") or not table.get("LatestStreamArn"):
            return None, None
        return table["LatestStreamArn"], spec.get("StreamViewType")

    def enable(self) -> str:
        """Enable a NEW_IMAGE stream on the table and wait until it is ENABLED; its ARN."""
        self._call("dynamodb", "update_table", TableName=self.table,
                   StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        deadline = time.monotonic() + ENABLE_WAIT_SECONDS
        while True:
            arn, _ = self.table_stream()
            if arn is not None and self.status(arn) == "ENABLED":
                return arn
            if time.monotonic() > deadline:
                raise RequestError(f"the stream enabled on table {self.table!r} is not ENABLED after "
                                   f"{ENABLE_WAIT_SECONDS} s; look at the table in the AWS console and run again")
            time.sleep(1.0)

    def status(self, arn: str) -> str:
        answer = self._call("dynamodbstreams", "describe_stream", StreamArn=arn, Limit=1)
        return answer["StreamDescription"].get("StreamStatus", "")

    def shards(self, arn: str) -> tuple[str, list[Shard]]:
        """(StreamStatus, every shard DescribeStream lists), page by page."""
        shards: list[Shard] = []
        params: dict = {"StreamArn": arn}
        while True:
            description = self._call("dynamodbstreams", "describe_stream", **params)["StreamDescription"]
            for shard in description.get("Shards") or ():
                ending = (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
                shards.append(Shard(shard["ShardId"], shard.get("ParentShardId"), closed=ending is not None))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return description.get("StreamStatus", ""), shards
            params["ExclusiveStartShardId"] = last

    def oldest_record(self, arn: str, shard: str) -> float | None:
        """ApproximateCreationDateTime (epoch seconds) of the shard's oldest record, None when it has none."""
        iterator = self._call("dynamodbstreams", "get_shard_iterator", StreamArn=arn, ShardId=shard,
                              ShardIteratorType="TRIM_HORIZON").get("ShardIterator")
        for _ in range(5):  # an open shard may answer a few empty pages before its first record
            if not iterator:
                return None
            answer = self._call("dynamodbstreams", "get_records", ShardIterator=iterator, Limit=1)
            records = answer.get("Records") or []
            if records:
                when = records[0].get("dynamodb", {}).get("ApproximateCreationDateTime")
                return when.timestamp() if isinstance(when, datetime.datetime) else None
            iterator = answer.get("NextShardIterator")
        return None


def prepare(control: StreamControl, checkpoint: Mapping | None, *, snapshot: bool = True) -> StreamState:
    """The stream state the replay starts from: the checkpoint's, checked, or a new one recorded now (before the
    snapshot, if there is one), with the table's stream reused or enabled."""
    if checkpoint is not None:
        return _continue(control, StreamState.from_doc(checkpoint, "streamCheckpoint"))
    table = control.table
    arn, view = control.table_stream()
    if arn is not None and view not in NEW_IMAGE_VIEWS:
        raise ConfigError(
            f"source table {table!r}: its stream is {view}, whose records carry no new image to write; switch it "
            f"to NEW_IMAGE (aws dynamodb update-table --table-name {table} --stream-specification "
            "StreamEnabled=false, then run again and the migrator enables one; other consumers of the stream "
            "lose it) or enable NEW_AND_OLD_IMAGES yourself, or set target.streamChanges: false")
    reused = arn is not None
    if reused:
        logger.info("stream: reusing the %s stream of table %r (%s)", view, table, arn)
    else:
        arn = control.enable()
        logger.info("stream: enabled a NEW_IMAGE stream on table %r (%s); it stays enabled after the migration, "
                    "disable it when you no longer need it", table, arn)
    started = time.time()
    _, listing = control.shards(arn)
    state = StreamState(arn, {s.id: ShardState(parent=s.parent, ended=s.closed) for s in listing}, since=started)
    _log_history(control, state, reused, started, "the snapshot" if snapshot else "the replay")
    return state


def _continue(control: StreamControl, state: StreamState) -> StreamState:
    table = control.table
    arn, _ = control.table_stream()
    if arn != state.stream_arn:
        now = f"its stream is now {arn}" if arn else "it has no stream enabled now"
        raise ChangesLost(
            f"stream of table {table!r}: the savepoint continues stream {state.stream_arn}, but {now}: the changes "
            "between are not in any stream the migrator can read, so changes were lost; take a new snapshot (run "
            "without --resume)")
    age = time.time() - state.since
    if age > RETENTION_SECONDS:
        raise ChangesLost(
            f"stream of table {table!r}: the savepoint's positions date from {_utc(state.since)}, {age / 3600:.1f} h "
            f"ago, past the stream's {RETENTION_SECONDS // 3600}-hour retention: changes may have been trimmed before "
            "they were applied, so changes may be lost; take a new snapshot (run without --resume)")
    logger.info("stream: continuing the stream of table %r (%s) from the savepoint: %d shards to read, positions "
                "from %s (%.0f min ago)", table, state.stream_arn, state.open_shards, _utc(state.since), age / 60)
    return state


def _log_history(control: StreamControl, state: StreamState, reused: bool, started: float, what: str) -> None:
    """Say how much history older than `what` (the snapshot, or the replay without one) the replay applies."""
    open_shards = [shard_id for shard_id, s in state.shards.items() if not s.ended]
    ended = len(state.shards) - len(open_shards)
    closed = f"; {ended} closed shards hold only older changes and are skipped" if ended else ""
    if not reused:
        logger.info("stream: replay starts at the beginning of the new stream (%d shards), with no older history",
                    len(open_shards))
        return
    sampled = open_shards[:HISTORY_SHARDS_SAMPLED]
    oldest = [t for t in (control.oldest_record(state.stream_arn, shard) for shard in sampled) if t is not None]
    if not oldest:
        logger.info("stream: replay starts at the beginning of the %d open shards, which hold no older change%s",
                    len(open_shards), closed)
        return
    first = min(oldest)
    again = ("are applied again after it, which converges to the same items: each is a whole-item put or a "
             "delete, applied in order" if what == "the snapshot" else "are applied too")
    logger.info(
        "stream: replay starts at the beginning of the %d open shards%s; their changes from %s on (%.0f min before "
        "%s%s) %s", len(open_shards), closed, _utc(first), max(0.0, started - first) / 60, what,
        f", the oldest of {len(sampled)} shards asked" if len(sampled) < len(open_shards) else "", again)


def _utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")
