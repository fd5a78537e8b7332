"""BatchGetItem for many keys: 100 keys per request, several requests in flight, UnprocessedKeys re-sent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from migrator.dynamo.api import DynamoApi, RetryPolicy, for_table
from migrator.codec import dumps
from migrator.dynamo.resend import send_until_processed
from migrator.items import key_id, key_projection
from migrator.dynamo.throttle import RateLimiter, SharedLimiter, Unlimited, get_units

MAX_KEYS_PER_REQUEST = 100  # BatchGetItem's limit on DynamoDB and Alternator


class BatchGetter:
    """Reads items of `table` by key, `MAX_KEYS_PER_REQUEST` keys per BatchGetItem, up to `max_in_flight` at once.

    Reads are strongly consistent by default, so an item written just before the check is not reported missing.
    `keys_only` reads only the key attributes (enough to learn that an item exists). Keys the server leaves in
    UnprocessedKeys are re-sent with exponential backoff; after `retry.max_attempts` rounds without progress the
    getter gives up with TransferError. Each request is charged to `limiter` before it goes out (1 RCU per key, the
    least it can cost), then corrected by the capacity the server reports (asked for with `report_capacity`), else by
    DynamoDB's rule: 1 RCU per started 4 KB of each item found, 1 per key not found, none for unprocessed keys (a
    keys-only read is charged by the keys it got back, which is exact for items under 4 KB). Use as a context
    manager, or call `close()`.
    """

    def __init__(
        self,
        api: DynamoApi,
        table: str,
        key_names: Sequence[str],
        *,
        keys_only: bool = False,
        consistent: bool = True,
        max_in_flight: int = 4,
        retry: RetryPolicy = RetryPolicy(),
        limiter: RateLimiter | SharedLimiter | Unlimited = Unlimited(),
        report_capacity: bool = False,
    ) -> None:
        self.api = api
        self.table = table
        self.key_names = tuple(key_names)
        self.retry = retry
        self.limiter = limiter
        self._capacity = {"ReturnConsumedCapacity": "TOTAL"} if report_capacity else {}
        self._unit_share = 1.0 if consistent else 0.5  # an eventually consistent read costs half
        self._options: dict = {"ConsistentRead": consistent}
        if keys_only:
            self._options.update(key_projection(self.key_names))
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="batch-get")
        self._lock = threading.Lock()
        self._what = f"BatchGetItem from table {table!r}"  # starts the error of keys left unprocessed
        self.requests = 0
        self.unprocessed_resent = 0

    def __enter__(self) -> BatchGetter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def get(self, keys: Sequence[dict]) -> dict[str, dict]:
        """The items found for `keys`, by `items.key_id`; a key without an item is absent. Duplicates are read once."""
        by_id: dict[str, dict] = {}
        for key in keys:
            by_id.setdefault(key_id(key, self.key_names), key)
        unique = list(by_id.values())
        chunks = [unique[i : i + MAX_KEYS_PER_REQUEST] for i in range(0, len(unique), MAX_KEYS_PER_REQUEST)]
        futures = [self._pool.submit(self._get_chunk, chunk) for chunk in chunks]
        found: dict[str, dict] = {}
        for future in futures:
            found.update(future.result())  # raises the first failure
        return found

    def _get_chunk(self, keys: list[dict]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        send_until_processed(lambda keys: self._send(keys, found), keys, self.retry,
                             what=self._what, noun="keys", on_resend=self._resent)
        return found

    def _send(self, keys: list[dict], found: dict[str, dict]) -> list[dict]:
        """One BatchGetItem of `keys`, adding the items it returns to `found`; the keys left in UnprocessedKeys."""
        estimate = len(keys) * self._unit_share  # the least these keys can cost: paid before they go out
        self.limiter.charge(estimate)
        answer = self.api.call("BatchGetItem", self._encode(keys), table=self.table)
        self._settle(answer, len(keys), estimate)
        with self._lock:
            self.requests += 1
        for items in for_table("BatchGetItem", answer, "Responses", self.table):
            for item in items:
                found[key_id(item, self.key_names)] = item
        return [k for entry in for_table("BatchGetItem", answer, "UnprocessedKeys", self.table)
                for k in entry.get("Keys", [])]

    def _resent(self, count: int) -> None:
        with self._lock:
            self.unprocessed_resent += count

    def _settle(self, answer: dict, asked: int, estimate: float) -> None:
        """Correct the advance charge to what the answer cost: the capacity it reports, else DynamoDB's rule."""
        if isinstance(self.limiter, Unlimited):
            return
        consumed = (answer.get("ConsumedCapacity") or ()) if self._capacity else ()  # moto reports it unasked
        if consumed:
            self.limiter.refund(estimate - sum(c.get("CapacityUnits", 0) for c in consumed))
            return
        items = [item for rows in (answer.get("Responses") or {}).values() for item in rows]
        left = sum(len(v.get("Keys", ())) for v in (answer.get("UnprocessedKeys") or {}).values())
        missing = max(0, asked - len(items) - left)
        self.limiter.refund(estimate - get_units([len(dumps(item)) for item in items], missing) * self._unit_share)

    def _encode(self, keys: list[dict]) -> bytes:
        return dumps({"RequestItems": {self.table: {"Keys": keys, **self._options}}, **self._capacity})
