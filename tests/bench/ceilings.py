"""Load generators that show what the servers can do without the migrator: the ingest and the scan ceilings.

Ingest: pre-serialized BatchWriteItem bodies sent from `connections` threads over one urllib3 pool, with the
headers the migrator sends signed once and reused (dynalite does not check signatures), so the generator spends
almost nothing per item. Its CPU share (process CPU / wall) is reported: near 1.0 would mean Python's GIL, not
the server, sets the ceiling. Scan: parallel Scan, one thread per segment, over the migrator's DynamoApi.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from migrator.dynamo.api import CONTENT_TYPE, TARGET_PREFIX
from migrator.codec import dumps, loads
from migrator.readers.scan import scan_pages
from tests.bench import workload
from tests.bench.process_stats import cpu_seconds, machine_busy_seconds

NO_UNPROCESSED = b'{"UnprocessedItems":{}}'
MAX_ATTEMPTS = 12


def signed_headers(url: str, operation: str, prefix: str = TARGET_PREFIX) -> dict:
    """The headers DynamoApi sends (Content-Type, X-Amz-Target, X-Amz-Date, Authorization), signed once."""
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": prefix + operation}
    request = AWSRequest(method="POST", url=url.rstrip("/") + "/", data=b"{}", headers=headers)
    SigV4Auth(workload.CREDENTIALS, "dynamodb", workload.REGION).add_auth(request)
    return dict(request.headers.items())


def send_bodies(url: str, bodies: list[bytes], table: str, connections: int, server_pid: int | None) -> dict:
    """Send every body once (UnprocessedItems re-sent); items/s over the wall time of the send phase."""
    parts = urlsplit(url)
    pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=connections, block=True, retries=False,
                                      timeout=urllib3.Timeout(connect=10, read=120))
    headers = signed_headers(url, "BatchWriteItem")
    next_body = itertools.count()
    lock = threading.Lock()
    totals = {"requests": 0, "resent_items": 0}

    def post(body: bytes) -> bytes:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = pool.urlopen("POST", "/", body=body, headers=headers, preload_content=True)
            if response.status == 200:
                return response.data
            if (response.status < 500 and b"Throughput" not in response.data) or attempt == MAX_ATTEMPTS:
                raise RuntimeError(f"BatchWriteItem to {url}: HTTP {response.status}: {response.data[:300]!r}")
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        raise AssertionError("unreachable")

    def sender() -> None:
        requests = resent = 0
        while (index := next(next_body)) < len(bodies):
            answer = post(bodies[index])
            requests += 1
            for _ in range(MAX_ATTEMPTS):  # dynalite never leaves items unprocessed; a real server might
                if answer == NO_UNPROCESSED:
                    break
                left = loads(answer).get("UnprocessedItems", {}).get(table, [])
                if not left:
                    break
                resent += len(left)
                time.sleep(0.05)
                answer = post(dumps({"RequestItems": {table: left}}))
                requests += 1
            else:
                raise RuntimeError(f"BatchWriteItem to {url}: items still unprocessed after {MAX_ATTEMPTS} rounds")
        with lock:
            totals["requests"] += requests
            totals["resent_items"] += resent

    items = sum(_items_in(body) for body in bodies[-1:]) + workload.BATCH * (len(bodies) - 1)
    result = timed(lambda: _run_threads(sender, connections), items, server_pid, connections=connections)
    return {**result, **totals}


def scan_ceiling(url: str, table: str, segments: int, server_pid: int | None) -> dict:
    """Parallel Scan of every segment at once, items/s; pages cut into raw items as the migrator does."""
    api = workload.api(url, connections=segments)
    counts = [0] * segments

    def scan(segment: int) -> None:
        for page in scan_pages(api, table, segment, segments, raw=True):
            counts[segment] += len(page)

    def run() -> None:
        with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
            list(pool.map(scan, range(segments)))

    with api:
        result = timed(run, None, server_pid, segments=segments)
    result["items"] = sum(counts)
    result["items_per_s"] = round(sum(counts) / result["seconds"], 1)
    return result


def timed(run, items: int | None, server_pid: int | None, **extra) -> dict:
    """Wall time of `run()`, this process's CPU share and the server's, and items/s."""
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    busy_before = machine_busy_seconds()
    cpu_before = time.process_time()
    started = time.monotonic()
    run()
    seconds = time.monotonic() - started
    client_cpu = time.process_time() - cpu_before
    server_cpu = cpu_seconds(server_pid) - server_before if server_pid else 0.0
    result = {
        "seconds": round(seconds, 3),
        "generator_cpu_share": round(client_cpu / seconds, 3),
        "server_cpu_share": round(server_cpu / seconds, 3),
        "other_cpu_share": round((machine_busy_seconds() - busy_before - client_cpu - server_cpu) / seconds, 3),
        **extra,
    }
    if items is not None:
        result["items"] = items
        result["items_per_s"] = round(items / seconds, 1)
        result["generator_cpu_us_per_item"] = round(client_cpu / items * 1e6, 2)
    return result


def _run_threads(target, count: int) -> None:
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported after every thread has stopped
            errors.append(exc)

    threads = [threading.Thread(target=guarded, name=f"send-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _items_in(body: bytes) -> int:
    return body.count(b'"PutRequest"') + body.count(b'"DeleteRequest"')
