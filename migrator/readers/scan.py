"""Parallel Scan of one DynamoDB table segment, page by page, in wire format."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from migrator.dynamo.api import DynamoApi
from migrator.codec import ScanPage, checked, loads, raw_scan_page, scan_page
from migrator.errors import MigratorError, RequestError, TransferError
from migrator.dynamo.throttle import ASSUMED_ITEM_BYTES, RateLimiter, Unlimited, read_units

if TYPE_CHECKING:
    from migrator.transforms.filters import ScanFilter


def scan_pages(api: DynamoApi, table: str, segment: int, total_segments: int, **options) -> Iterator[list]:
    """The Items of every Scan page of `segment` (of `total_segments`), in server order; `options` are
    `scan_answers`'s."""
    answers = scan_answers(api, table, segment, total_segments, **options)
    with contextlib.closing(answers):  # closing these pages stops the scan at once
        for page in answers:
            yield page.items


def scan_answers(
    api: DynamoApi,
    table: str,
    segment: int,
    total_segments: int,
    *,
    limit: int | None = None,
    projection: dict | None = None,
    scan_filter: ScanFilter | None = None,
    limiter: RateLimiter | Unlimited = Unlimited(),
    report_capacity: bool = False,
    raw: bool = False,
) -> Iterator[ScanPage]:
    """Every Scan answer of `segment` (of `total_segments`), in server order: its Items, with its ScannedCount (the
    items a filter left out are ScannedCount - Count).

    Items are dicts, or with `raw` the JSON fragments the server sent (see codec.py), which a copy writes out
    unchanged. Scans are eventually consistent: a bulk copy does not need to pay twice the read capacity for
    strong reads. Each page is charged to `limiter` after it arrives: the capacity the server reports, else
    0.5 RCU per started 4 KB of the answer. `limit` caps the items of each page (not of the scan), so that one
    page is a small bite of the budget; `projection` holds ProjectionExpression and ExpressionAttributeNames to
    read only some attributes (see `items.key_projection`); `scan_filter` (transforms/filters.ScanFilter) lets
    the server return only the items its FilterExpression matches.
    """
    decode = raw_scan_page if raw else scan_page
    request: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total_segments}
    if limit is not None:
        request["Limit"] = limit
    merge_fields(request, projection or {})
    merge_fields(request, scan_filter.request() if scan_filter is not None else {})
    if report_capacity:
        request["ReturnConsumedCapacity"] = "TOTAL"
    while True:
        page = api.call("Scan", request, decode, table=table)
        reported = page.consumed_units if report_capacity else None  # a figure not asked for is not trusted
        limiter.charge(reported if reported is not None else read_units(_read_bytes(page)))
        yield page
        if not page.last_key:
            return
        if page.last_key == request.get("ExclusiveStartKey"):  # the same page again, forever
            raise RequestError(f"Scan of table {table!r}: the LastEvaluatedKey {str(page.last_key)[:200]} does "
                               "not advance (it is the ExclusiveStartKey just sent)")
        request["ExclusiveStartKey"] = page.last_key


def _read_bytes(page: ScanPage) -> int:
    """The bytes the server read for `page`, for a budget without ConsumedCapacity: the answer's size, plus, for the
    items a filter left out (ScannedCount - Count), as many times the size of an item returned (else an assumed
    size): a filtered Scan is charged for what it reads, not what it returns."""
    left_out = (page.scanned_count or 0) - len(page.items)
    if left_out <= 0:
        return page.size
    return page.size + left_out * (page.size // len(page.items) if page.items else ASSUMED_ITEM_BYTES)


def merge_fields(request: dict, fields: dict) -> None:
    """Add request `fields` (a projection's, a filter's) to `request`; their ExpressionAttributeNames and Values
    are merged, and a placeholder two of them define differently is a ValueError (the callers pick distinct
    ones: `#k0` for a key projection, `#f0` for a translated filter)."""
    for name, value in fields.items():
        if name in ("ExpressionAttributeNames", "ExpressionAttributeValues") and name in request:
            clashes = {key for key in value if key in request[name] and request[name][key] != value[key]}
            if clashes:
                raise ValueError(f"{name}: placeholders {sorted(clashes)} are defined twice, differently")
            request[name] = {**request[name], **value}
        else:
            request[name] = value


def first_items(pages: Iterator[list[dict]], count: int) -> Iterator[list[dict]]:
    """The pages of `pages` up to `count` items in all; the last page is cut, and no further page is read."""
    left = count
    for page in pages:
        if left <= 0:
            return
        yield page[:left]
        left -= len(page)
        if left <= 0:
            return


_DONE = object()


def prefetch(pages: Iterator[list[dict]], depth: int = 1) -> Iterator[list[dict]]:
    """Read the next page in a background thread while the caller handles the current one.

    An error raised while reading is raised again in the caller, at the point where the failed page would be.
    When the caller stops early (its task failed, or it has enough), the reader asks for no further page and
    closes `pages`; a page it is reading then ends with its request, whose retries the client's close() cuts short.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(value: object) -> bool:
        """Queue `value` unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            while not stop.is_set():  # checked before each request, so none starts after the stop
                page = next(pages, _DONE)
                if not offer(page) or page is _DONE:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer(exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=pump, name="scan-prefetch", daemon=True)
    worker.start()
    finished = False
    try:
        while True:
            page = slots.get()
            if page is _DONE:
                finished = True
                return
            if isinstance(page, BaseException):
                finished = True
                raise page
            yield page
    finally:
        stop.set()
        if finished:  # the reader is done: wait for its thread; else it may be inside a request, and ends on its own
            worker.join(timeout=5)


def count_segment(api: DynamoApi, table: str, segment: int, total_segments: int) -> int:
    """The items in `segment` (of `total_segments`) as the server counts them: a strongly consistent Scan with
    Select COUNT, every page.

    A page without an integer Count, or a LastEvaluatedKey that repeats, raises TransferError: a count that
    cannot be trusted must not pass for one.
    """
    # Strongly consistent: an eventually consistent Scan may miss items written a moment ago.
    request: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total_segments,
                               "Select": "COUNT", "ConsistentRead": True}
    where = f"Scan (Select COUNT) of segment {segment}/{total_segments} of table {table!r}"
    count = 0
    while True:
        try:
            answer = api.call("Scan", request, _count_page, table=table)
        except MigratorError as exc:
            raise TransferError(f"{where} failed: {exc}") from exc
        page_count = answer["Count"]
        if not isinstance(page_count, int) or isinstance(page_count, bool):
            raise TransferError(f"{where}: the answer's Count is not a number: {str(page_count)[:200]}")
        count += page_count
        last_key = answer.get("LastEvaluatedKey")
        if not last_key:
            return count
        if last_key == request.get("ExclusiveStartKey"):
            raise TransferError(f"{where}: LastEvaluatedKey {last_key} did not advance")
        request["ExclusiveStartKey"] = last_key


def _count_page(data: bytes) -> dict:
    """A Select COUNT Scan answer, which has Count and no Items (DynamoDB and Alternator leave Items out)."""
    return checked(loads(data), ("Count",))
