"""Reproduce moto losing acknowledged writes under concurrent BatchWriteItem requests (issue 10).

Why: moto keeps a table's items in ``Table.items = defaultdict(dict)`` keyed by ``DynamoType``, whose
``__hash__``/``__eq__`` are Python code. ``put_item`` does ``self.items[hash_value][range_value] = item``.
When two requests put the first items of the same new partition key at once, both miss the key, both run
``defaultdict.__missing__``, each stores its own new inner dict, and the later store replaces the earlier
one, taking with it the items the first request had already put there. Both requests answered 200 with
empty UnprocessedItems.

Each trial: THREADS threads wait at a barrier, then each sends one BatchWriteItem of ITEMS items with the
same new partition key (distinct sort keys); every answer must have empty UnprocessedItems; then a
consistent Query counts the key. Lost = acknowledged - found.

    python tests/tools/moto_race.py inprocess --trials 200            # moto backend, DynamoType.__hash__ slowed
    python tests/tools/moto_race.py server --moto plain --trials 2000 # moto_server as shipped, on 127.0.0.1
    python tests/tools/moto_race.py server --moto serialized ...      # start_moto(): one request at a time

Exit status: 0 when nothing was lost, 1 when any acknowledged item was lost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo's migrator, run from anywhere

REGION = "us-east-1"
TABLE = "race"


def create_table(client) -> None:
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
    )


def run_trials(client, trials: int, threads: int, items: int, label: str) -> int:
    """Run the trials against ``client``; print one line per losing trial and a summary; return items lost."""
    lost_items = losing_trials = 0
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for trial in range(trials):
            key = f"trial-{trial:06d}"
            barrier = threading.Barrier(threads)

            def put(thread: int) -> int:
                writes = [{"PutRequest": {"Item": {"pk": {"S": key}, "sk": {"N": str(thread * items + i)},
                                                   "v": {"S": "x" * 20}}}} for i in range(items)]
                barrier.wait()
                answer = client.batch_write_item(RequestItems={TABLE: writes})
                if answer.get("UnprocessedItems"):
                    raise AssertionError(f"trial {trial}: UnprocessedItems {answer['UnprocessedItems']}")
                return len(writes)  # acknowledged: 200 with empty UnprocessedItems

            acknowledged = sum(pool.map(put, range(threads)))
            found = client.query(TableName=TABLE, KeyConditionExpression="pk = :k", Select="COUNT",
                                 ExpressionAttributeValues={":k": {"S": key}}, ConsistentRead=True)["Count"]
            if found != acknowledged:
                losing_trials += 1
                lost_items += acknowledged - found
                print(f"  trial {trial}: {acknowledged} acknowledged, {found} stored", flush=True)
    print(f"{label}: {trials} trials x {threads} threads x {items} items of one new partition key: "
          f"{losing_trials} trials lost items, {lost_items} acknowledged items lost "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    return lost_items


def in_process(args: argparse.Namespace) -> int:
    """moto's backend in this process (mock_aws), with DynamoType.__hash__ slowed to widen the race window."""
    import boto3
    from botocore.config import Config
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import DynamoType

    original_hash = DynamoType.__hash__
    pause = args.slow_hash_ms / 1000

    def slow_hash(self) -> int:
        time.sleep(pause)  # lets another thread run between the dict lookup and the store
        return original_hash(self)

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION,
                              config=Config(max_pool_connections=args.threads))
        create_table(client)
        DynamoType.__hash__ = slow_hash
        try:
            lost = run_trials(client, args.trials, args.threads, args.items,
                              f"in-process moto backend, __hash__ slowed by {args.slow_hash_ms} ms")
        finally:
            DynamoType.__hash__ = original_hash
    return lost


def against_server(args: argparse.Namespace) -> int:
    """A moto server process on 127.0.0.1: as shipped (plain) or as the tests start it (serialized)."""
    from migrator.demo.servers import client_for, start_moto

    serialized = args.moto == "serialized"
    with tempfile.TemporaryDirectory(prefix="moto-race-") as logs, \
            start_moto(Path(logs), serialized=serialized) as server:
        client = client_for(server, max_pool_connections=args.threads, retries={"total_max_attempts": 1})
        create_table(client)
        how = "one request at a time (start_moto)" if serialized else "moto_server as shipped"
        return run_trials(client, args.trials, args.threads, args.items,
                          f"moto server at {server.url}, {how}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="where", required=True)
    local = sub.add_parser("inprocess", help="moto's backend in this process, hash slowed")
    local.add_argument("--slow-hash-ms", type=float, default=0.5)
    remote = sub.add_parser("server", help="a moto server process on 127.0.0.1")
    remote.add_argument("--moto", choices=["plain", "serialized"], default="plain")
    for p in (local, remote):
        p.add_argument("--trials", type=int, default=200)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--items", type=int, default=5)
    args = parser.parse_args(argv)
    lost = in_process(args) if args.where == "inprocess" else against_server(args)
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
