"""Sample tables: create them (the demo's with a GSI and an LSI), fill them from threads, read them back.

The items are wire format (see sample_items.py); boto3 gets them converted with ``to_boto3``.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from migrator.demo.sample_items import from_boto3, key_of, to_boto3

logger = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 12


# ---------------------------------------------------------------- tables


def create_table(client, name: str, key_schema: list[dict], attribute_definitions: list[dict], *,
                 billing: str = "PAY_PER_REQUEST", capacity: int = 100, timeout: float = 60.0,
                 **extra) -> dict:
    """Create a table and wait until it and its indexes are ACTIVE; ``extra`` goes to CreateTable.

    With ``billing="PROVISIONED"`` the table and its GSIs get ``capacity`` read and write units.
    Returns the final DescribeTable ``Table``.
    """
    request = {"TableName": name, "KeySchema": key_schema,
               "AttributeDefinitions": attribute_definitions, "BillingMode": billing, **extra}
    if billing == "PROVISIONED":
        throughput = {"ReadCapacityUnits": capacity, "WriteCapacityUnits": capacity}
        request["ProvisionedThroughput"] = throughput
        for index in request.get("GlobalSecondaryIndexes", []):
            index.setdefault("ProvisionedThroughput", throughput)
    client.create_table(**request)
    return wait_active(client, name, timeout)


def wait_active(client, name: str, timeout: float = 60.0) -> dict:
    """Poll DescribeTable until the table and all its GSIs are ACTIVE."""
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=name)["Table"]
        statuses = [table["TableStatus"]] + [g["IndexStatus"] for g in table.get("GlobalSecondaryIndexes", [])]
        if all(status == "ACTIVE" for status in statuses):
            return table
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {name!r} not ACTIVE after {timeout:.0f} s: {statuses}")
        time.sleep(0.1)


def create_demo_table(client, name: str, billing: str = "PAY_PER_REQUEST") -> dict:
    """Table for ``demo_items``: key pk (S) + sk (N), GSI ``by_gsi_pk``, LSI ``by_lsi_sk``."""
    return create_table(
        client, name,
        key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        attribute_definitions=[{"AttributeName": n, "AttributeType": t}
                               for n, t in (("pk", "S"), ("sk", "N"), ("gsi_pk", "S"), ("lsi_sk", "S"))],
        billing=billing,
        GlobalSecondaryIndexes=[{
            "IndexName": "by_gsi_pk",
            "KeySchema": [{"AttributeName": "gsi_pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "by_lsi_sk",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "lsi_sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


# ---------------------------------------------------------------- load and read back


def fill_table(client, table: str, items: Iterable[dict], batch_size: int = 25, threads: int = 4) -> int:
    """Write wire-format ``items`` with BatchWriteItem from ``threads`` threads; returns the count written.

    UnprocessedItems are re-sent with exponential backoff; after MAX_WRITE_ATTEMPTS the call raises.
    """
    if not 1 <= batch_size <= 25:
        raise ValueError(f"batch_size must be 1..25, got {batch_size}")
    batches = _chunks((to_boto3(item) for item in items), batch_size)
    written = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fill") as pool:
        pending: set = set()
        for batch in batches:
            if len(pending) >= threads * 2:  # bound memory for long generators
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                written += sum(f.result() for f in done)
            pending.add(pool.submit(_write_batch, client, table, batch))
        written += sum(f.result() for f in pending)
    return written


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _write_batch(client, table: str, batch: list[dict]) -> int:
    request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
    rng = random.Random(threading.get_ident())
    for attempt in range(MAX_WRITE_ATTEMPTS):
        unprocessed = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if not unprocessed:
            return len(batch)
        request = unprocessed
        time.sleep(rng.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    left = sum(len(requests) for requests in request.values())
    raise RuntimeError(f"{left} of {len(batch)} items still unprocessed in table {table!r} "
                       f"after {MAX_WRITE_ATTEMPTS} BatchWriteItem attempts")


def scan_all(client, table: str, segments: int = 1) -> list[dict]:
    """Every item of ``table`` in wire format, sorted by key; ``segments`` > 1 scans in parallel threads."""
    key_names = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    if segments == 1:
        items = _scan_segment(client, table, {})
    else:
        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
            parts = pool.map(lambda s: _scan_segment(client, table, {"Segment": s, "TotalSegments": segments}),
                             range(segments))
            items = [item for part in parts for item in part]
    return sorted(items, key=lambda item: key_of(item, key_names))


def _scan_segment(client, table: str, segment: dict) -> list[dict]:
    return [from_boto3(item) for page in _scan_pages(client, {"TableName": table, **segment})
            for item in page.get("Items", [])]


def count_items(client, table: str) -> int:
    """Exact count by a COUNT scan (DescribeTable's ItemCount is approximate on AWS)."""
    return sum(page["Count"] for page in _scan_pages(client, {"TableName": table, "Select": "COUNT"}))


def _scan_pages(client, request: dict) -> Iterator[dict]:
    """The pages of a Scan, following LastEvaluatedKey."""
    while True:
        page = client.scan(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
