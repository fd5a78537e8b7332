"""A loopback HTTP proxy in front of a DynamoDB-compatible server (with Streams, such as moto) that can make the
stream look trimmed: once ``trim()`` is called, every GetShardIterator and GetRecords gets the answer DynamoDB
Streams gives for records past the 24-hour retention,

    HTTP 400 {"__type": "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException", "message": "..."}

It can also hold requests: after ``hold("BatchWriteItem")`` such requests wait in the proxy until ``release()``
(a snapshot paused at its first write, so that a test changes the source while the snapshot runs).

Every other request (DynamoDB's and Streams' own: DescribeTable, Scan, DescribeStream...) goes upstream unchanged,
as do all requests before ``trim()``. Requests are counted by operation. Signatures are not recomputed: moto does
not check them.

    with TrimProxy(moto.url) as proxy:
        ...                                   # a source endpoint of proxy.url
        proxy.trim()
        assert proxy.trimmed_answers > 0
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import urlsplit

from tests.integration.loopback_http import HOP_BY_HOP, LoopbackServer, RelayHandler, forward

logger = logging.getLogger(__name__)

TARGET_PREFIXES = ("DynamoDBStreams_20120810.", "DynamoDB_20120810.")
TRIMMED_OPERATIONS = frozenset({"GetShardIterator", "GetRecords"})
TRIMMED_BODY = json.dumps({
    "__type": "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
    "message": "The operation attempted to read past the oldest stream record in a shard (injected by the test)",
}).encode()


def operation_of(target: str) -> str:
    """`GetRecords` for an X-Amz-Target of `DynamoDBStreams_20120810.GetRecords`; the header itself otherwise."""
    for prefix in TARGET_PREFIXES:
        if target.startswith(prefix):
            return target[len(prefix):]
    return target


class TrimProxy(LoopbackServer):
    """Threaded proxy on 127.0.0.1 in front of `upstream_url`; see the module docstring.

    ``operations`` counts every request by operation (read it with ``seen``); ``trimmed_answers`` counts the
    TrimmedDataAccessException answers sent.
    """

    def __init__(self, upstream_url: str, *, timeout: float = 60.0) -> None:
        upstream = urlsplit(upstream_url)
        self.upstream_url = upstream_url
        self._upstream = (upstream.hostname, upstream.port or 80)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._trimmed = False
        self.operations: dict[str, int] = {}
        self.trimmed_answers = 0
        self.held = 0  # requests that waited for `release`
        self._holding: frozenset[str] = frozenset()
        self._released = threading.Event()
        self._released.set()
        super().__init__(_handler_for(self), name="trim-proxy")

    def trim(self) -> None:
        """From now on the stream's records are gone: GetShardIterator and GetRecords fail as trimmed."""
        with self._lock:
            self._trimmed = True
        logger.info("trim proxy %s: the stream is trimmed from now on", self.url)

    def restore(self) -> None:
        """Relay GetShardIterator and GetRecords again."""
        with self._lock:
            self._trimmed = False

    def hold(self, *operations: str) -> None:
        """Requests of `operations` wait in the proxy (unanswered, not forwarded) until `release`."""
        with self._lock:
            self._holding = frozenset(operations)
            self._released.clear()

    def release(self) -> None:
        """Forward the held requests, and hold no more."""
        with self._lock:
            self._holding = frozenset()
            self._released.set()

    def seen(self, operation: str) -> int:
        """Requests of `operation` received so far (trimmed ones included)."""
        with self._lock:
            return self.operations.get(operation, 0)

    def _count(self, operation: str) -> bool:
        """Count one request, held until released if its operation is held; whether to answer it as trimmed (then
        counted as such)."""
        with self._lock:
            self.operations[operation] = self.operations.get(operation, 0) + 1
            held = operation in self._holding
            self.held += held
        if held:
            self._released.wait()
        with self._lock:
            if self._trimmed and operation in TRIMMED_OPERATIONS:
                self.trimmed_answers += 1
                return True
            return False


def _handler_for(proxy: TrimProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def _relay(self) -> None:
            body = self._body()
            operation = operation_of(self.headers.get("X-Amz-Target") or self.command)
            if proxy._count(operation):
                self._reply(400, "Bad Request", [("Content-Type", "application/x-amz-json-1.0")], TRIMMED_BODY)
                return
            try:
                answer = forward(proxy._upstream, self.command, self.path, list(self.headers.items()), body,
                                 timeout=proxy._timeout, skip=HOP_BY_HOP)
            except OSError as exc:
                logger.warning("upstream %s failed: %s", proxy.upstream_url, exc)
                self._reply(502, "Bad Gateway", [("Content-Type", "text/plain")], f"upstream failed: {exc}".encode())
                return
            self._reply(*answer)

    return Handler
