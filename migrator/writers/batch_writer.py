"""BatchWriteItem with several batches in flight, UnprocessedItems re-sent with backoff, nothing dropped."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from migrator.dynamo.api import DynamoApi, RetryPolicy, for_table, names_table
from migrator.codec import dumps, loads
from migrator.errors import ItemRejected, RequestError
from migrator.dynamo.resend import send_until_processed
from migrator.dynamo.throttle import RateLimiter, Unlimited, write_units

logger = logging.getLogger(__name__)

# BatchWriteItem's request-size limit on DynamoDB and Alternator; a batch that encodes larger is split.
MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024

PUT_HEAD = b'{"PutRequest":{"Item":'
PUT_TAIL = b"}}"
DELETE_HEAD = b'{"DeleteRequest":'
DELETE_KEY_HEAD = DELETE_HEAD + b'{"Key":'
DELETE_TAIL = b"}}"


class _Batch(NamedTuple):
    """Write requests, each encoded once as JSON, with the write units they are charged and how many delete."""

    requests: list[bytes]
    units: int
    deletes: int


PUT_WRAPPER_BYTES = len(PUT_HEAD) + len(PUT_TAIL)  # a put request's bytes around its item's JSON
_EMPTY = _Batch([], 0, 0)
# The error code of a batch refused for its content (an item over 400 KB, an empty key, a bad type...).
REFUSED_CODE = "ValidationException"
KEY_SHOWN_CHARS = 300  # a key named in an error is cut after this many characters


class Refused(NamedTuple):
    """One write request the target refused on its own, and the server's reason."""

    request: bytes
    reason: str

    @property
    def item(self) -> bytes | None:
        """The refused put's item as DynamoDB JSON; None for a delete."""
        return None if self.request.startswith(DELETE_HEAD) else self.request[len(PUT_HEAD):-len(PUT_TAIL)]

    def key(self, key_names: tuple[str, ...]) -> str:
        """The request's key attributes in DynamoDB JSON (the whole item when the key names are unknown), cut
        after KEY_SHOWN_CHARS characters."""
        item = self.item
        doc = loads(item) if item is not None else loads(self.request)["DeleteRequest"]["Key"]
        key = {name: doc[name] for name in key_names if name in doc} if key_names else doc
        shown = dumps(key).decode("utf-8", "replace")
        return shown if len(shown) <= KEY_SHOWN_CHARS else shown[:KEY_SHOWN_CHARS] + f"... ({len(shown)} chars)"


def _batch(requests: list[bytes]) -> _Batch:
    """A put is charged by its item's JSON length (see throttle.py), a delete by its key's (DynamoDB charges a
    delete by the size of the item it removes, which is at least that)."""
    if not requests:
        return _EMPTY
    units = sum(map(write_units, [len(r) - PUT_WRAPPER_BYTES for r in requests]))
    return _Batch(requests, units, len([r for r in requests if r.startswith(DELETE_HEAD)]))


def _size(batch: _Batch) -> int:
    return len(batch.requests)


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

    A batch refused for its content (ValidationException: an item over 400 KB, an empty key...) is split in
    halves until the refused requests are alone; the others are written. A refused put goes to
    `on_refused(refused)` when given (a dead-letter collector, which may raise to stop) and is counted in
    `rejected`; else, and for a refused delete, the writer raises ItemRejected naming the key (`key_names`: the
    target's key attributes), the table and the server's reason.
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
        key_names: tuple[str, ...] = (),
        on_refused: Callable[[Refused], None] | None = None,
    ) -> None:
        self.api = api
        self.table = table
        self.batch_size = batch_size
        self.retry = retry
        self.max_in_flight = max_in_flight
        self.limiter = limiter
        self.key_names = key_names
        self.on_refused = on_refused
        self._head = b'{"RequestItems":{' + dumps(table) + b":["
        self._report_capacity = report_capacity
        self._tail = b']},"ReturnConsumedCapacity":"TOTAL"}' if report_capacity else b"]}}"
        self._what = f"BatchWriteItem to table {table!r}"  # starts the error of a batch left unprocessed
        self._pending: list[bytes] = []
        self._in_flight: deque[Future] = deque()
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="batch-write")
        self._lock = threading.Lock()
        self.written = 0  # puts acknowledged
        self.deleted = 0  # deletes acknowledged
        self.requests = 0
        self.unprocessed_resent = 0
        self.rejected = 0  # puts the target refused, handed to on_refused

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

    def delete_raw_many(self, keys: list) -> None:
        """Delete the items with these keys, given as JSON fragments (bytes-like) of their key attributes."""
        self._add([DELETE_KEY_HEAD + key + DELETE_TAIL for key in keys])

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
        self._in_flight.append(self._pool.submit(self._write_all, requests))

    def _write_all(self, requests: list[bytes]) -> None:
        """Write `requests`; then hand over, or raise on, what the target refused among them."""
        refused: list[Refused] = []
        self._write(requests, refused)
        if refused:
            self._refused(refused)

    def _write(self, requests: list[bytes], refused: list[Refused]) -> None:
        if len(requests) > 1 and self._body_bytes(requests) > MAX_REQUEST_BYTES:
            self._write_halves(requests, refused)
            return
        send_until_processed(lambda batch: self._send(batch, refused), _batch(requests), self.retry,
                             what=self._what, noun="items", on_resend=self._resent, size=_size)

    def _send(self, batch: _Batch, refused: list[Refused]) -> _Batch:
        """One BatchWriteItem of `batch`; what the server left in UnprocessedItems (nothing when it refused)."""
        self.limiter.charge(batch.units)
        try:
            answer = self.api.call("BatchWriteItem", self._encode(batch.requests), table=self.table)
        except RequestError as exc:
            if exc.code != REFUSED_CODE:
                raise
            self.limiter.refund(batch.units)  # nothing of a refused batch is written
            self._split(batch.requests, exc, refused)
            return _EMPTY
        left = _batch([_encoded(r) for requests in for_table("BatchWriteItem", answer, "UnprocessedItems",
                                                              self.table) for r in requests])
        deletes_done = batch.deletes - left.deletes
        done = len(batch.requests) - len(left.requests)
        self._settle(answer, batch.units, left, done)
        with self._lock:
            self.requests += 1
            self.written += done - deletes_done
            self.deleted += deletes_done
        return left

    def _resent(self, count: int) -> None:
        with self._lock:
            self.unprocessed_resent += count

    def _split(self, requests: list[bytes], exc: RequestError, refused: list[Refused]) -> None:
        """Find the requests of a refused batch that the target refuses on their own; write the others."""
        if len(requests) == 1:
            refused.append(Refused(requests[0], _reason(exc)))
            return
        self._write_halves(requests, refused)

    def _write_halves(self, requests: list[bytes], refused: list[Refused]) -> None:
        half = len(requests) // 2
        self._write(requests[:half], refused)
        self._write(requests[half:], refused)

    def _refused(self, refused: list[Refused]) -> None:
        """Hand refused puts to on_refused, or raise ItemRejected naming the first refused request."""
        if self.on_refused is not None:
            with self._lock:
                for r in refused:
                    if r.item is not None:
                        self.on_refused(r)
                        self.rejected += 1
            refused = [r for r in refused if r.item is None]  # a refused delete has no dead letter
            if not refused:
                return
        first = refused[0]
        more = f" (and {len(refused) - 1} more of the same batch)" if len(refused) > 1 else ""
        what = "item" if first.item is not None else "delete of the item"
        raise ItemRejected(
            f"target table {self.table!r} refused the {what} with key {first.key(self.key_names)}{more}: "
            f"{first.reason}",
            count=len(refused),
        )

    def _settle(self, answer: dict, estimate: int, left: _Batch, done: int) -> None:
        """Correct the advance charge: by the capacity the server reports when it was asked to, else by the requests
        it did not take. A report is never taken below 1 WCU per request written (`done`), the least DynamoDB
        charges: moto reports 1.0 per batch, asked or not, and trusting it let a budget run 25 times too fast."""
        consumed = [c for c in answer.get("ConsumedCapacity") or ()
                    if names_table(c.get("TableName", ""), self.table)] if self._report_capacity else []
        if consumed:
            self.limiter.refund(estimate - max(done, sum(c.get("CapacityUnits", 0) for c in consumed)))
        elif left.requests:
            self.limiter.refund(left.units)

    def _encode(self, requests: list[bytes]) -> bytes:
        return self._head + b",".join(requests) + self._tail

    def _body_bytes(self, requests: list[bytes]) -> int:
        """len(self._encode(requests)), without building the body."""
        return len(self._head) + sum(map(len, requests)) + len(requests) - 1 + len(self._tail)


def _reason(exc: RequestError) -> str:
    """The server's code and message, without the operation and URL that the request error starts with."""
    text, code = str(exc), f"{exc.code}: "
    return code + text.partition(code)[2] if code in text else text
