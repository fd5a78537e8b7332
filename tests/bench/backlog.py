"""The stream figure's source: a moto table with a NEW_IMAGE stream, a backlog of changes, and its read ceiling.

The backlog is a sequence of BatchWriteItem bodies (25 requests each, every key at most once per body) sent by one
writer, so moto's stream holds one record per request in a known order: inserts of new keys, updates (a put over a
live key: a MODIFY record) and deletes of live keys, mixed. `final` is what the table holds after all of them: the
target must hold exactly that once the replay has caught up. The read ceiling is a raw loop over the stream from
TRIM_HORIZON with Limit 1000, one GetRecords after the other as one shard's reader does, each page cut into raw
records: what moto can serve, with almost nothing spent per record on the client side.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec
import urllib3

from migrator.codec import dumps
from migrator.demo import sample_items
from tests.bench import ceilings, workload

STREAMS_PREFIX = "DynamoDBStreams_20120810."
PAGE_LIMIT = 1000
UPDATE_SHARE = 0.2
DELETE_SHARE = 0.1
MAX_PAGES = 1_000_000


@dataclass(frozen=True)
class Backlog:
    """Changes of `table` as BatchWriteItem bodies, in the order they are to be sent, and the table they leave."""

    table: str
    bodies: list[bytes]
    inserts: int
    updates: int
    deletes: int
    final: dict[tuple, dict]  # key (sample_items.key_of) -> the item, DynamoDB JSON
    seconds: float  # to generate and encode them

    @property
    def changes(self) -> int:
        return self.inserts + self.updates + self.deletes


def build(table: str, changes: int, seed: int = 12) -> Backlog:
    """`changes` changes: about 70% inserts, 20% updates, 10% deletes of random live keys, mixed."""
    started = time.monotonic()
    rng = random.Random(seed)
    fresh = sample_items.demo_items(changes, seed=seed)
    live: dict[tuple, dict] = {}
    live_keys: list[tuple] = []  # the keys of `live`, for random choice (deleted ones swapped out)
    slot: dict[tuple, int] = {}
    bodies: list[bytes] = []
    counts = {"insert": 0, "update": 0, "delete": 0}
    batch: list[dict] = []
    in_batch: set[tuple] = set()
    for _ in range(changes):
        draw = rng.random()
        kind = "delete" if draw < DELETE_SHARE else "update" if draw < DELETE_SHARE + UPDATE_SHARE else "insert"
        key = live_keys[rng.randrange(len(live_keys))] if kind != "insert" and live_keys else None
        if key is None or key in in_batch:
            kind = "insert"
        if kind == "insert":
            item = next(fresh)
            key = sample_items.key_of(item, ("pk", "sk"))
            live[key] = item
            slot[key] = len(live_keys)
            live_keys.append(key)
            batch.append({"PutRequest": {"Item": item}})
        elif kind == "update":
            item = live[key] = {**live[key], "revision": {"N": str(counts["update"])},
                                "title": {"S": f"revised {counts['update']}"}}
            batch.append({"PutRequest": {"Item": item}})
        else:
            item = live.pop(key)
            last = live_keys.pop()
            if last != key:
                live_keys[slot[key]] = last
                slot[last] = slot[key]
            del slot[key]
            batch.append({"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}})
        counts[kind] += 1
        in_batch.add(key)
        if len(batch) == workload.BATCH:
            bodies.append(dumps({"RequestItems": {table: batch}}))
            batch, in_batch = [], set()
    if batch:
        bodies.append(dumps({"RequestItems": {table: batch}}))
    return Backlog(table, bodies, counts["insert"], counts["update"], counts["delete"], live,
                   time.monotonic() - started)


def create_table(url: str, table: str) -> str:
    """The workload's hash+range table with a NEW_IMAGE stream; returns the stream's ARN."""
    spec = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    return workload.create_table(url, table, StreamSpecification=spec)["LatestStreamArn"]


def write(url: str, backlog: Backlog, server_pid: int | None) -> dict:
    """Send the bodies in order over one connection (moto is not safe under concurrent writers); changes/s."""
    sent = ceilings.send_bodies(url, backlog.bodies, backlog.table, 1, server_pid)
    sent["changes"] = sent.pop("items")
    sent["changes_per_s"] = sent.pop("items_per_s")
    sent["generator_cpu_us_per_change"] = sent.pop("generator_cpu_us_per_item")
    return sent


class _Page(msgspec.Struct):
    Records: list[msgspec.Raw] = []
    NextShardIterator: str | None = None


class _Iterator(msgspec.Struct):
    ShardIterator: str


class _Shard(msgspec.Struct):
    ShardId: str


class _Stream(msgspec.Struct):
    Shards: list[_Shard]


class _Described(msgspec.Struct):
    StreamDescription: _Stream


def read_ceiling(url: str, stream_arn: str, expected: int, server_pid: int | None) -> dict:
    """Read every shard from TRIM_HORIZON to its end (or an empty page), one GetRecords at a time; changes/s."""
    parts = urlsplit(url)
    pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=1, retries=False,
                                      timeout=urllib3.Timeout(connect=10, read=120))
    headers = {op: ceilings.signed_headers(url, op, STREAMS_PREFIX)
               for op in ("DescribeStream", "GetShardIterator", "GetRecords")}
    totals = {"records": 0, "requests": 0, "shards": 0}

    def call(operation: str, body: dict, shape: type):
        response = pool.urlopen("POST", "/", body=dumps(body), headers=headers[operation], preload_content=True)
        totals["requests"] += 1
        if response.status != 200:
            raise RuntimeError(f"{operation} at {url}: HTTP {response.status}: {response.data[:300]!r}")
        return msgspec.json.decode(response.data, type=shape)

    def run() -> None:
        stream = call("DescribeStream", {"StreamArn": stream_arn}, _Described).StreamDescription
        for shard in stream.Shards:
            totals["shards"] += 1
            iterator = call("GetShardIterator", {"StreamArn": stream_arn, "ShardId": shard.ShardId,
                                                 "ShardIteratorType": "TRIM_HORIZON"}, _Iterator).ShardIterator
            for _ in range(MAX_PAGES):
                page = call("GetRecords", {"ShardIterator": iterator, "Limit": PAGE_LIMIT}, _Page)
                totals["records"] += len(page.Records)
                if not page.Records or page.NextShardIterator is None:
                    break
                iterator = page.NextShardIterator

    result = ceilings.timed(run, None, server_pid, page_limit=PAGE_LIMIT)
    result.update(totals)
    result["changes_per_s"] = round(totals["records"] / result["seconds"], 1)
    if totals["records"] != expected:
        result.update(ok=False, reason=f"read {totals['records']} stream records, expected {expected}")
    return result
