"""One shard of a DynamoDB Stream read page by page: GetShardIterator, then GetRecords, decoded raw.

A GetRecords answer is cut into records whose Keys and NewImage stay the JSON fragments the stream sent (msgspec
`Raw`, see codec.py), so a put reaches the target as the bytes the source wrote; without msgspec the answer is
decoded with `json` and the fragments re-encoded. An expired iterator is renewed after the last record read;
records trimmed away before they were read (TrimmedDataAccessException) are lost changes: ChangesLost.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from migrator.codec import checked, dumps, loads
from migrator.errors import ChangesLost, MigratorError, RequestError, TransferError
from migrator.streams.changes import StreamRecord
from migrator.streams.shards import ShardWork

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by tests that hide msgspec
    msgspec = None

PAGE_LIMIT = 1000  # GetRecords' largest Limit
AWS_GET_RECORDS_PER_SECOND = 5.0  # DynamoDB Streams' limit per shard
EXPIRED = "ExpiredIteratorException"
TRIMMED = "TrimmedDataAccessException"
GONE = "ResourceNotFoundException"  # of a shard: it aged out of the stream, records and all


class RecordsPage(NamedTuple):
    """One GetRecords answer: its records in stream order, and the iterator for the next (None: the shard ended)."""

    records: list[StreamRecord]
    next_iterator: str | None
    size: int  # of the answer, in bytes
    at: float = 0.0  # time.time() when next_iterator was handed out


def _created(value: Any) -> float | None:
    """ApproximateCreationDateTime: epoch seconds, as the JSON protocol sends it (a few servers send text)."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        return float(value)
    except ValueError:
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None


if msgspec is not None:
    _NO_IMAGE = msgspec.Raw()

    class _Data(msgspec.Struct, gc=False):
        Keys: msgspec.Raw
        SequenceNumber: str
        NewImage: msgspec.Raw = _NO_IMAGE  # msgspec takes no `Raw | None`: empty means absent
        ApproximateCreationDateTime: float | str | None = None

    class _Record(msgspec.Struct, gc=False):
        eventName: str  # noqa: N815 - the wire's name
        dynamodb: _Data

    class _Answer(msgspec.Struct, gc=False):
        Records: list[_Record] = msgspec.field(default_factory=list)
        NextShardIterator: str | None = None
        error_type: Any = msgspec.field(default=None, name="__type")

    _decode_answer = msgspec.json.Decoder(_Answer).decode

    def records_page(data: bytes) -> RecordsPage:
        """A GetRecords answer cut into records; ValueError when it is malformed (AnswerError: an error body)."""
        answer = _decode_answer(data)
        if answer.error_type is not None:
            checked(loads(data))  # raises AnswerError naming the error
        records = []
        for record in answer.Records:
            data_ = record.dynamodb
            created = data_.ApproximateCreationDateTime
            image = data_.NewImage
            records.append(StreamRecord(record.eventName, data_.Keys, image if image else None, data_.SequenceNumber,
                                        created if created is None or type(created) is float else _created(created)))
        return RecordsPage(records, answer.NextShardIterator, len(data))

else:

    def records_page(data: bytes) -> RecordsPage:
        """A GetRecords answer cut into records; ValueError when it is malformed (AnswerError: an error body)."""
        answer = checked(loads(data))
        records = []
        try:
            for record in answer.get("Records") or ():
                data_ = record["dynamodb"]
                image = data_.get("NewImage")
                records.append(StreamRecord(str(record["eventName"]), dumps(data_["Keys"]),
                                            None if image is None else dumps(image), str(data_["SequenceNumber"]),
                                            _created(data_.get("ApproximateCreationDateTime"))))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a record lacks {exc}") from None
        return RecordsPage(records, answer.get("NextShardIterator"), len(data))


class ShardReader:
    """Reads the shards of `stream_arn` (of table `table`, named in messages) through a Streams client `api`
    (`Database.streams_api`), at most `get_records_per_second` GetRecords per shard (0: no pacing)."""

    def __init__(self, api, stream_arn: str, table: str, get_records_per_second: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.api = api
        self.stream_arn = stream_arn
        self.table = table
        self.interval = 1.0 / get_records_per_second if get_records_per_second > 0 else 0.0
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._last_call: dict[str, float] = {}
        self.get_records_calls = 0

    def pages(self, work: ShardWork, deadline: float) -> Iterator[RecordsPage]:
        """The pages of `work`'s shard after `work.after`, until the shard ends (the last page's next_iterator is
        None), a page has no record (the shard holds nothing more now), or the clock passes `deadline` (checked
        after each page: at least one page is read)."""
        shard, position = work.shard, work.after
        iterator = work.reusable_iterator(self._wall()) or self._iterator(shard, position)
        renewed = False
        while True:
            if iterator is None:  # a closed shard read to its end: no iterator points past its last record
                yield RecordsPage([], None, 0, self._wall())
                return
            try:
                page = self._get_records(shard, iterator, position)
            except RequestError as exc:
                if exc.code != EXPIRED or renewed:
                    raise self._failed(shard, position, "GetRecords", exc) from exc
                # 15 minutes old: a new iterator after the last record read (once; twice in a row is not age)
                iterator, renewed = self._iterator(shard, position), True
                continue
            renewed = False
            at = self._wall()
            if page.records:
                position = page.records[-1].sequence
            yield page._replace(at=at)
            if page.next_iterator is None or not page.records or self._clock() >= deadline:
                return
            iterator = page.next_iterator

    def _get_records(self, shard: str, iterator: str, position: str | None) -> RecordsPage:
        if self.interval:
            wait = self._last_call.get(shard, float("-inf")) + self.interval - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._last_call[shard] = self._clock()
        self.get_records_calls += 1
        return self.api.call("GetRecords", {"ShardIterator": iterator, "Limit": PAGE_LIMIT}, records_page,
                             table=self.table)

    def _iterator(self, shard: str, after: str | None) -> str | None:
        """A new iterator: after sequence number `after`, or at the shard's beginning (TRIM_HORIZON); None when the
        shard is closed and holds nothing after `after` (GetShardIterator may answer a null iterator then)."""
        request = {"StreamArn": self.stream_arn, "ShardId": shard}
        if after is None:
            request["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        try:
            answer = self.api.call("GetShardIterator", request, table=self.table)
        except MigratorError as exc:
            raise self._failed(shard, after, "GetShardIterator", exc) from exc
        iterator = answer.get("ShardIterator")
        if iterator is not None and not (isinstance(iterator, str) and iterator):
            raise TransferError(f"stream of table {self.table!r}, shard {shard}: GetShardIterator answered no "
                                f"iterator ({str(iterator)[:100]})")
        return iterator

    def _failed(self, shard: str, position: str | None, operation: str, exc: MigratorError) -> TransferError:
        where = f"after sequence number {position}" if position else "from the shard's beginning"
        if isinstance(exc, RequestError) and exc.code in (TRIMMED, GONE):
            what = "were trimmed" if exc.code == TRIMMED else "are gone with their shard"
            return ChangesLost(
                f"stream of table {self.table!r}, shard {shard}: the records {where} {what} before they were "
                f"applied (DynamoDB keeps them 24 hours): changes were lost and the target cannot catch up; take a "
                f"new snapshot (run without --resume) ({operation}: {exc})")
        return TransferError(f"stream of table {self.table!r}, shard {shard} ({where}): {operation} failed: {exc}")
