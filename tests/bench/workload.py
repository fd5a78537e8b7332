"""The benchmark's items and tables: demo items as pre-serialized BatchWriteItem bodies, plain tables, exact counts.

The table is a plain hash+range table (pk S, sk N) without indexes: the demo table's GSI and LSI would make
dynalite slower and measure dynalite's index upkeep instead of the migrator.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from botocore.credentials import Credentials

from migrator.dynamo.api import DynamoApi, RetryPolicy
from migrator.codec import dumps
from migrator.demo import sample_items
from migrator.errors import RequestError
from migrator.readers.scan import count_segment

REGION = "us-east-1"
CREDENTIALS = Credentials("bench", "bench-secret")
BATCH = 25
CHUNK = 25_000  # items per generator task; a multiple of BATCH so that every body but the last holds 25 items
TABLE_WAIT_S = 60.0


@dataclass(frozen=True)
class Workload:
    """N items of `table` as BatchWriteItem bodies, ready to send to any server that has that table."""

    table: str
    items: int
    bodies: list[bytes]
    seconds: float  # to generate and encode them
    wire_bytes_per_item: float
    item_size_bytes: float  # DynamoDB's size (names + values), mean over the first chunk


def build(table: str, items: int, processes: int = 2) -> Workload:
    """Encode `items` demo items in chunks, on `processes` processes (the chunks are independent)."""
    started = time.monotonic()
    starts = list(range(0, items, CHUNK))
    counts = [min(CHUNK, items - start) for start in starts]
    context = multiprocessing.get_context("spawn")  # the parent may hold threads and sockets
    with ProcessPoolExecutor(max_workers=max(1, processes), mp_context=context) as pool:
        parts = list(pool.map(_encode_chunk, [table] * len(starts), starts, counts))
    bodies = [body for part, _ in parts for body in part]
    sizes = [size for _, size in parts]
    wire = sum(len(b) for b in bodies)
    return Workload(
        table=table,
        items=items,
        bodies=bodies,
        seconds=time.monotonic() - started,
        wire_bytes_per_item=wire / items if items else 0.0,
        item_size_bytes=sizes[0] if sizes else 0.0,
    )


def _encode_chunk(table: str, start: int, count: int) -> tuple[list[bytes], float]:
    """Bodies for items start..start+count-1: demo items of a per-chunk seed, with keys made unique."""
    bodies: list[bytes] = []
    batch: list[dict] = []
    size = 0
    for offset, item in enumerate(sample_items.demo_items(count, seed=7 + start // CHUNK)):
        index = start + offset
        item["pk"] = {"S": f"customer#{index // sample_items.ITEMS_PER_PARTITION:07d}"}
        item["sk"] = {"N": str(index)}
        if offset < 1000:
            size += sample_items.item_size(item)
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == BATCH:
            bodies.append(dumps({"RequestItems": {table: batch}}))
            batch = []
    if batch:
        bodies.append(dumps({"RequestItems": {table: batch}}))
    return bodies, size / min(count, 1000) if count else 0.0


def api(url: str, connections: int = 8, attempts: int = 12) -> DynamoApi:
    """The migrator's own data-path client, signed with dummy keys (dynalite ignores signatures)."""
    return DynamoApi(url, REGION, CREDENTIALS, max_connections=connections, retry=RetryPolicy(max_attempts=attempts))


def create_table(url: str, table: str, **extra) -> dict:
    """A fresh hash+range table without indexes, with the CreateTable fields `extra` (a StreamSpecification);
    waits (bounded) until it is ACTIVE and returns its description."""
    request = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
        **extra,
    }
    deadline = time.monotonic() + TABLE_WAIT_S
    with api(url) as client:
        client.call("CreateTable", request)
        while (described := client.call("DescribeTable", {"TableName": table})["Table"])["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError(f"table {table!r} at {url} not ACTIVE after {TABLE_WAIT_S:.0f} s")
            time.sleep(0.05)
    return described


def delete_table(url: str, table: str) -> None:
    """Drop a table to give dynalite its memory back; a missing table is fine."""
    try:
        with api(url, attempts=3) as client:
            client.call("DeleteTable", {"TableName": table})
    except RequestError as exc:
        if exc.code != "ResourceNotFoundException":
            raise


def count_items(url: str, table: str, segments: int = 4) -> int:
    """Exact item count by parallel Select=COUNT scans (dynalite's DescribeTable ItemCount is always 0)."""
    with api(url, connections=segments) as client, \
            ThreadPoolExecutor(max_workers=segments, thread_name_prefix="count") as pool:
        return sum(pool.map(lambda segment: count_segment(client, table, segment, segments), range(segments)))


def counted(outcome: dict, url: str, table: str, expected: int) -> dict:
    """`outcome` with the table's exact count added; not ok when it is not `expected`."""
    outcome["count"] = count = count_items(url, table)
    if count != expected:
        outcome.update(ok=False, reason=f"table {table!r} holds {count} items, expected {expected}")
    return outcome
