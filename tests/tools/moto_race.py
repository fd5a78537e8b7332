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
    python tests/tools/moto_race.py server --moto plain --switch-interval-us 1   # GIL handed over more often
    python tests/tools/moto_race.py server --moto serialized --in-this-process --slow-hash-ms 0.5 ...

Exit status: 0 when nothing was lost, 1 when any acknowledged item was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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


def run_trials(client, args: argparse.Namespace, label: str) -> int:
    """Run the trials against ``client``; print one line per losing trial and a summary; return items lost."""
    threads, keys, items = args.threads, args.keys, args.items
    lost_items = losing_trials = 0
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for trial in range(args.trials):
            names = [f"trial-{trial:06d}-key-{k:02d}" for k in range(keys)]
            barrier = threading.Barrier(threads)

            def put(thread: int, names=names, barrier=barrier, trial=trial) -> int:  # defaults bind this trial's
                writes = [{"PutRequest": {"Item": {"pk": {"S": name}, "sk": {"N": str(thread * items + i)},
                                                   "v": {"S": "x" * 20}}}} for name in names for i in range(items)]
                barrier.wait()
                answer = client.batch_write_item(RequestItems={TABLE: writes})
                if answer.get("UnprocessedItems"):
                    raise AssertionError(f"trial {trial}: UnprocessedItems {answer['UnprocessedItems']}")
                return len(writes)  # acknowledged: 200 with empty UnprocessedItems

            acknowledged = sum(pool.map(put, range(threads)))
            found = sum(client.query(TableName=TABLE, KeyConditionExpression="pk = :k", Select="COUNT",
                                     ExpressionAttributeValues={":k": {"S": name}}, ConsistentRead=True)["Count"]
                        for name in names)
            if found != acknowledged:
                losing_trials += 1
                lost_items += acknowledged - found
                print(f"  trial {trial}: {acknowledged} acknowledged, {found} stored", flush=True)
    print(f"{label}: {args.trials} trials, each {threads} concurrent BatchWriteItem requests putting {items} items "
          f"into each of the same {keys} new partition keys: {losing_trials} trials lost items, {lost_items} "
          f"acknowledged items lost ({time.monotonic() - started:.0f} s)", flush=True)
    return lost_items


@contextlib.contextmanager
def slowed_hash(ms: float) -> Iterator[None]:
    """DynamoType.__hash__ sleeps ``ms`` first: another thread runs between a dict lookup and its store."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    original, pause = DynamoType.__hash__, ms / 1000

    def slow_hash(self) -> int:
        time.sleep(pause)
        return original(self)

    DynamoType.__hash__ = slow_hash
    try:
        yield
    finally:
        DynamoType.__hash__ = original


def in_process(args: argparse.Namespace) -> int:
    """moto's backend in this process (mock_aws), with DynamoType.__hash__ slowed to widen the race window."""
    import boto3
    from botocore.config import Config
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    sys.setswitchinterval(args.switch_interval_us / 1e6)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION,
                              config=Config(max_pool_connections=args.threads))
        create_table(client)
        with slowed_hash(args.slow_hash_ms):
            return run_trials(client, args, f"in-process moto backend, __hash__ slowed by {args.slow_hash_ms} ms, "
                              f"GIL switch interval {args.switch_interval_us} us")


def against_server(args: argparse.Namespace) -> int:
    """moto over HTTP on 127.0.0.1, as shipped (plain) or as start_moto runs it (serialized).

    By default the server is its own process. With --in-this-process, werkzeug's threaded server runs moto's app
    (as moto_server builds it) in a thread of this process, so that --slow-hash-ms can slow its DynamoType.__hash__.
    """
    from migrator.demo.servers import client_for

    serialized = args.moto == "serialized"
    how = "one request at a time (as start_moto runs it)" if serialized else "as moto_server serves it"
    with contextlib.ExitStack() as stack:
        if args.in_this_process:
            sys.setswitchinterval(args.switch_interval_us / 1e6)
            url = stack.enter_context(served_here(serialized))
            stack.enter_context(slowed_hash(args.slow_hash_ms))
            where = f"moto's app in a server thread of this process, __hash__ slowed by {args.slow_hash_ms} ms"
        else:
            url = stack.enter_context(server_process(serialized, args.switch_interval_us))
            where = "a moto server process"
        client = client_for(url, max_pool_connections=args.threads, retries={"total_max_attempts": 1})
        create_table(client)
        return run_trials(client, args, f"{where} at {url}, {how}, GIL switch interval {args.switch_interval_us} us")


@contextlib.contextmanager
def served_here(serialized: bool) -> Iterator[str]:
    """moto's WSGI app on werkzeug's threaded server on 127.0.0.1, in this process; yields its URL."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from migrator.demo.moto_one_at_a_time import OneRequestAtATime

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, OneRequestAtATime(app) if serialized else app, threaded=True,
                         request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@contextlib.contextmanager
def server_process(serialized: bool, switch_interval_us: float) -> Iterator[str]:
    """moto_server's main (or moto_one_at_a_time.py) in a new process whose GIL switch interval is set first."""
    from migrator.demo import servers

    port = servers.free_port()
    argv = ["-H", "127.0.0.1", "-p", str(port)]
    if serialized:
        launch = (f"import runpy; sys.argv = {[servers.MOTO_ONE_AT_A_TIME, *argv]!r}; "
                  f"runpy.run_path(sys.argv[0], run_name='__main__')")
    else:
        launch = f"from moto.server import main; main({argv!r})"
    code = f"import sys; sys.setswitchinterval({switch_interval_us / 1e6!r}); {launch}"
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        probe = servers.client_for(url, retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2)
        deadline = time.monotonic() + 30
        while True:
            try:
                probe.list_tables()
                break
            except Exception:  # noqa: BLE001 - connection refused until it listens
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: this ends the server and nothing else
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="where", required=True)
    local = sub.add_parser("inprocess", help="moto's backend in this process, hash slowed")
    local.add_argument("--slow-hash-ms", type=float, default=0.5)
    remote = sub.add_parser("server", help="moto over HTTP on 127.0.0.1")
    remote.add_argument("--moto", choices=["plain", "serialized"], default="plain")
    remote.add_argument("--in-this-process", action="store_true",
                        help="serve moto from a thread of this process (default: a server process)")
    remote.add_argument("--slow-hash-ms", type=float, default=0.0, help="with --in-this-process")
    for p in (local, remote):
        p.add_argument("--switch-interval-us", type=float, default=5000.0,
                       help="moto's sys.setswitchinterval in microseconds (Python's default: 5000)")
        p.add_argument("--trials", type=int, default=200)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--items", type=int, default=5, help="items per partition key per request")
        p.add_argument("--keys", type=int, default=1, help="new partition keys per trial (items x keys <= 25)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    lost = in_process(args) if args.where == "inprocess" else against_server(args)
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
