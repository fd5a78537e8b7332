"""BatchWriteItem with several batches in flight, UnprocessedItems re-sent with backoff, nothing dropped."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from migrator.api_client import DynamoApi, RetryPolicy, dumps
from migrator.errors import TransferError
from migrator.throttle import RateLimiter, Unlimited, write_units

logger = logging.getLogger(__name__)

# BatchWriteItem's request-size limit on DynamoDB and Alternator; a batch that encodes larger is split.
MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024


class _Request(NamedTuple):
    """One write request, encoded once: its JSON, the write units it is charged, and whether it deletes."""

    body: bytes
    units: int
    delete: bool


def _put(item: dict) -> _Request:
    encoded = dumps(item)
    return _Request(b'{"PutRequest":{"Item":' + encoded + b"}}", write_units(len(encoded)), False)


def _delete(key: dict) -> _Request:
    return _Request(dumps({"DeleteRequest": {"Key": key}}), 1, True)


def _decoded(request: dict) -> _Request:
    """A request the server handed back in UnprocessedItems."""
    return _put(request["PutRequest"]["Item"]) if "PutRequest" in request else _delete(request["DeleteRequest"]["Key"])


class BatchWriter:
    """Puts items into `table` (and deletes keys from it), `batch_size` requests per BatchWriteItem, with up to
    `max_in_flight` BatchWriteItem calls at once.

    Use as a context manager: leaving the block flushes, and an error in any batch is raised from `put`, `delete`
    or `flush`. One batch must not hold two requests for the same key (the server refuses it). Requests the server
    leaves in UnprocessedItems are re-sent with exponential backoff; after `retry.max_attempts` rounds without
    progress the writer gives up with TransferError.

    Each item is encoded to JSON once, when it is put: its length gives the write units charged to `limiter`
    (unless the server reports ConsumedCapacity, asked for with `report_capacity`), and the batch body is the
    encoded requests joined.
    """

    def __init__(
        self,
        api: DynamoApi,
        table: str,
        *,
        batch_size: int = 25,
        max_in_flight: int = 4,
        retry: RetryPolicy = RetryPolicy(),
        limiter: RateLimiter | Unlimited = Unlimited(),
        report_capacity: bool = False,
    ) -> None:
        self.api = api
        self.table = table
        self.batch_size = batch_size
        self.retry = retry
        self.max_in_flight = max_in_flight
        self.limiter = limiter
        self._head = b'{"RequestItems":{' + dumps(table) + b":["
        self._tail = b']},"ReturnConsumedCapacity":"TOTAL"}' if report_capacity else b"]}}"
        self._pending: list[_Request] = []
        self._in_flight: deque[Future] = deque()
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="batch-write")
        self._lock = threading.Lock()
        self.written = 0  # puts acknowledged
        self.deleted = 0  # deletes acknowledged
        self.requests = 0
        self.unprocessed_resent = 0

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def put(self, item: dict) -> None:
        self._add(_put(item))

    def delete(self, key: dict) -> None:
        """Delete the item with `key` (its key attributes only); deleting an absent item is not an error."""
        self._add(_delete(key))

    def put_many(self, items: list[dict]) -> None:
        for item in items:
            self._add(_put(item))

    def flush(self) -> None:
        """Send what is pending and wait until every request so far is acknowledged by the server."""
        if self._pending:
            self._submit()
        while self._in_flight:
            self._in_flight.popleft().result()

    def _add(self, request: _Request) -> None:
        self._pending.append(request)
        if len(self._pending) >= self.batch_size:
            self._submit()

    def _submit(self) -> None:
        batch, self._pending = self._pending, []
        while len(self._in_flight) >= self.max_in_flight:
            self._in_flight.popleft().result()  # raises the first failure, if any
        self._in_flight.append(self._pool.submit(self._write, batch))

    def _write(self, batch: list[_Request]) -> None:
        body = self._encode(batch)
        if len(body) > MAX_REQUEST_BYTES and len(batch) > 1:
            half = len(batch) // 2
            self._write(batch[:half])
            self._write(batch[half:])
            return
        rounds = rounds_without_progress = 0
        while True:
            rounds += 1
            estimate = sum(r.units for r in batch)
            self.limiter.charge(estimate)
            answer = self.api.call("BatchWriteItem", body)
            left = [_decoded(r) for r in answer.get("UnprocessedItems", {}).get(self.table, [])]
            self._settle(answer, estimate, left)
            deletes_done = sum(r.delete for r in batch) - sum(r.delete for r in left)
            done = len(batch) - len(left)
            with self._lock:
                self.requests += 1
                self.written += done - deletes_done
                self.deleted += deletes_done
            if not left:
                return
            rounds_without_progress = 0 if done else rounds_without_progress + 1
            if rounds_without_progress >= self.retry.max_attempts:
                raise TransferError(
                    f"BatchWriteItem to table {self.table!r}: {len(left)} items still unprocessed after "
                    f"{rounds_without_progress} attempts without progress"
                )
            batch = left
            with self._lock:
                self.unprocessed_resent += len(batch)
            time.sleep(self.retry.delay(rounds))
            body = self._encode(batch)

    def _settle(self, answer: dict, estimate: int, left: list[_Request]) -> None:
        """Correct the advance charge: by the capacity the server reports, else by the requests it did not take."""
        consumed = [c for c in answer.get("ConsumedCapacity") or () if c.get("TableName") == self.table]
        if consumed:
            self.limiter.refund(estimate - sum(c.get("CapacityUnits", 0) for c in consumed))
        elif left:
            self.limiter.refund(sum(r.units for r in left))

    def _encode(self, batch: list[_Request]) -> bytes:
        return self._head + b",".join(r.body for r in batch) + self._tail
