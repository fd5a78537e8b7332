"""BatchWriteItem with several batches in flight, UnprocessedItems re-sent with backoff, nothing dropped."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from migrator.api_client import DynamoApi, RetryPolicy, for_table, names_table
from migrator.codec import dumps
from migrator.errors import TransferError
from migrator.throttle import RateLimiter, Unlimited, write_units

logger = logging.getLogger(__name__)

# BatchWriteItem's request-size limit on DynamoDB and Alternator; a batch that encodes larger is split.
MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024

PUT_HEAD = b'{"PutRequest":{"Item":'
PUT_TAIL = b"}}"
DELETE_HEAD = b'{"DeleteRequest":'


class _Batch(NamedTuple):
    """Write requests, each encoded once as JSON, with the write units they are charged and how many delete."""

    requests: list[bytes]
    units: int
    deletes: int


PUT_WRAPPER_BYTES = len(PUT_HEAD) + len(PUT_TAIL)  # a put request's bytes around its item's JSON
_EMPTY = _Batch([], 0, 0)


def _batch(requests: list[bytes]) -> _Batch:
    """A put is charged by its item's JSON length (see throttle.py), a delete by its key's (DynamoDB charges a
    delete by the size of the item it removes, which is at least that)."""
    if not requests:
        return _EMPTY
    units = sum(map(write_units, [len(r) - PUT_WRAPPER_BYTES for r in requests]))
    return _Batch(requests, units, len([r for r in requests if r.startswith(DELETE_HEAD)]))


def _encoded(request: dict) -> bytes:
    """A request the server handed back in UnprocessedItems."""
    if "PutRequest" in request:
        return PUT_HEAD + dumps(request["PutRequest"]["Item"]) + PUT_TAIL
    return dumps({"DeleteRequest": {"Key": request["DeleteRequest"]["Key"]}})


class BatchWriter:
    """Puts items into `table` (and deletes keys from it), `batch_size` requests per BatchWriteItem, with up to
    `max_in_flight` BatchWriteItem calls at once.

    Use as a context manager: leaving the block flushes, and an error in any batch is raised from `put`, `delete`
    or `flush`. One batch must not hold two requests for the same key (the server refuses it). Requests the server
    leaves in UnprocessedItems are re-sent with exponential backoff; after `retry.max_attempts` rounds without
    progress the writer gives up with TransferError.

    Each item is encoded to JSON once, when it is put, or arrives encoded (`put_raw_many`: the fragments a raw
    Scan cut out, see codec.py). Its length gives the write units charged to `limiter` (unless the server
    reports ConsumedCapacity, asked for with `report_capacity`), and the batch body is the requests joined.
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
        self._pending: list[bytes] = []
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
        self._add([PUT_HEAD + dumps(item) + PUT_TAIL])

    def delete(self, key: dict) -> None:
        """Delete the item with `key` (its key attributes only); deleting an absent item is not an error."""
        self._add([dumps({"DeleteRequest": {"Key": key}})])

    def put_many(self, items: list[dict]) -> None:
        self.put_raw_many([dumps(item) for item in items])

    def put_raw_many(self, items: list) -> None:
        """Put items given as JSON fragments (bytes-like), each one DynamoDB JSON object."""
        self._add([PUT_HEAD + item + PUT_TAIL for item in items])

    def flush(self) -> None:
        """Send what is pending and wait until every request so far is acknowledged by the server."""
        if self._pending:
            batch, self._pending = self._pending, []
            self._submit(batch)
        while self._in_flight:
            self._in_flight.popleft().result()

    def _add(self, requests: list[bytes]) -> None:
        """Queue encoded requests; every full batch among the pending ones goes out."""
        pending, size = self._pending + requests, self.batch_size
        full = len(pending) - len(pending) % size
        self._pending = pending[full:]
        for start in range(0, full, size):
            self._submit(pending[start:start + size])

    def _submit(self, requests: list[bytes]) -> None:
        while len(self._in_flight) >= self.max_in_flight:
            self._in_flight.popleft().result()  # raises the first failure, if any
        self._in_flight.append(self._pool.submit(self._write, requests))

    def _write(self, requests: list[bytes]) -> None:
        body = self._encode(requests)
        if len(body) > MAX_REQUEST_BYTES and len(requests) > 1:
            half = len(requests) // 2
            self._write(requests[:half])
            self._write(requests[half:])
            return
        batch = _batch(requests)
        rounds = rounds_without_progress = 0
        while True:
            rounds += 1
            self.limiter.charge(batch.units)
            answer = self.api.call("BatchWriteItem", body, table=self.table)
            left = _batch([_encoded(r) for requests in for_table("BatchWriteItem", answer, "UnprocessedItems",
                                                                  self.table) for r in requests])
            self._settle(answer, batch.units, left)
            deletes_done = batch.deletes - left.deletes
            done = len(batch.requests) - len(left.requests)
            with self._lock:
                self.requests += 1
                self.written += done - deletes_done
                self.deleted += deletes_done
            if not left.requests:
                return
            rounds_without_progress = 0 if done else rounds_without_progress + 1
            if rounds_without_progress >= self.retry.max_attempts:
                raise TransferError(
                    f"BatchWriteItem to table {self.table!r}: {len(left.requests)} items still unprocessed after "
                    f"{rounds_without_progress} attempts without progress"
                )
            batch = left
            with self._lock:
                self.unprocessed_resent += len(batch.requests)
            time.sleep(self.retry.delay(rounds))
            body = self._encode(batch.requests)

    def _settle(self, answer: dict, estimate: int, left: _Batch) -> None:
        """Correct the advance charge: by the capacity the server reports, else by the requests it did not take."""
        consumed = [c for c in answer.get("ConsumedCapacity") or ()
                    if names_table(c.get("TableName", ""), self.table)]
        if consumed:
            self.limiter.refund(estimate - sum(c.get("CapacityUnits", 0) for c in consumed))
        elif left.requests:
            self.limiter.refund(left.units)

    def _encode(self, requests: list[bytes]) -> bytes:
        return self._head + b",".join(requests) + self._tail
