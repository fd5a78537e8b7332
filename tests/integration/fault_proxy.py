"""A loopback HTTP proxy in front of a DynamoDB-compatible server that injects faults, at set rates, and counts them.

Each data-path request (Scan, BatchWriteItem, BatchGetItem by default) draws one fault, or none, from a
`random.Random(seed)`; the first requests get each kind once, in order, so every kind is injected in any run
long enough to have 2 x kinds requests. The kinds, as the client sees them:

  ``server_error``  HTTP 500 InternalServerError or 503 ServiceUnavailable with a DynamoDB error body
  ``throttle``      HTTP 400 ProvisionedThroughputExceededException or ThrottlingException
  ``cut_short``     the request is applied upstream, then the answer's Content-Length promises the whole body,
                    half of it is sent and the connection is closed
  ``dropped``       the connection is closed with no answer (half of the time after the request was applied)
  ``slow``          the answer comes `slow_seconds` late (less than the client's read timeout)

``outage(seconds)``, or ``outage_after=N`` (at the N-th data-path request), makes the proxy unreachable for a
while: every connection, new or kept alive, is reset (RST) as soon as it is accepted or sends a request.
Other requests (DescribeTable, CreateTable...) go upstream untouched, as do all requests when no fault is drawn.
Signatures are not recomputed: moto and dynalite do not check them.

    with FaultProxy(dynalite.url, rates={"throttle": 0.05, "slow": 0.02}, seed=7) as proxy:
        ...
        assert proxy.injected()["throttle"] > 0
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

from tests.integration.loopback_http import HOP_BY_HOP, LoopbackServer, RelayHandler, forward

logger = logging.getLogger(__name__)

KINDS = ("server_error", "throttle", "cut_short", "dropped", "slow")
DATA_OPERATIONS = frozenset({"Scan", "BatchWriteItem", "BatchGetItem"})
TARGET_PREFIX = "DynamoDB_20120810."
SERVER_ERRORS = ((500, "InternalServerError"), (503, "ServiceUnavailable"))
THROTTLES = ((400, "ProvisionedThroughputExceededException"), (400, "ThrottlingException"))


class FaultProxy(LoopbackServer):
    """Threaded proxy on 127.0.0.1 in front of `upstream_url`; see the module docstring.

    Counters, read with ``injected()``: one per kind, plus ``outage_resets`` (connections reset while unreachable)
    and ``requests`` (data-path requests seen outside outages). ``operations`` counts every request by operation.
    """

    def __init__(self, upstream_url: str, *, rates: dict[str, float], seed: int, slow_seconds: float = 2.0,
                 outage_after: int | None = None, outage_seconds: float = 10.0, write_delay: float = 0.0,
                 operations: frozenset[str] = DATA_OPERATIONS, timeout: float = 120.0) -> None:
        unknown = set(rates) - set(KINDS)
        if unknown or sum(rates.values()) > 1:
            raise ValueError(f"rates: kinds must be among {KINDS} and sum to at most 1, got {rates}")
        upstream = urlsplit(upstream_url)
        self.upstream_url = upstream_url
        self._upstream = (upstream.hostname, upstream.port or 80)
        self._timeout = timeout
        self._rates = [(kind, rates.get(kind, 0.0)) for kind in KINDS]
        self._first = [kind for kind in KINDS if rates.get(kind, 0.0) > 0]  # each once, at the start
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((*KINDS, "outage_resets", "requests"), 0)
        self.operations: dict[str, int] = {}
        self.slow_seconds = slow_seconds
        # Seconds each BatchWriteItem waits before it is forwarded (a slow target, so a task is still running).
        self.write_delay = write_delay
        self._data_operations = operations
        self._outage_after = outage_after
        self._outage_seconds = outage_seconds
        self._outage_until = 0.0
        self.outages: list[tuple[float, float]] = []  # (start, end) in time.monotonic()
        super().__init__(_handler_for(self), name="fault-proxy")

    def injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def outage(self, seconds: float) -> None:
        """Reset every connection for the next `seconds`."""
        with self._lock:
            self._start_outage(seconds)

    # -------------------------------------------------------------- decisions

    def _start_outage(self, seconds: float) -> None:
        now = time.monotonic()
        self._outage_until = now + seconds
        self.outages.append((now, self._outage_until))
        logger.info("fault proxy %s: unreachable for %g s", self.url, seconds)

    def _unreachable(self) -> bool:
        """Whether this connection is to be reset (counted)."""
        with self._lock:
            if time.monotonic() >= self._outage_until:
                return False
            self._counts["outage_resets"] += 1
            return True

    def _draw(self, operation: str) -> str | None:
        """The fault for one request of `operation` (None: none), counted."""
        with self._lock:
            self.operations[operation] = self.operations.get(operation, 0) + 1
            if operation not in self._data_operations:
                return None
            n = self._counts["requests"]
            self._counts["requests"] += 1
            if self._outage_after is not None and n + 1 == self._outage_after:
                self._start_outage(self._outage_seconds)
                self._counts["outage_resets"] += 1
                return "outage"
            if n % 2 == 0 and n // 2 < len(self._first):  # every other request at the start: each kind once
                kind = self._first[n // 2]
            else:
                kind, point = None, self._random.random()
                for candidate, rate in self._rates:
                    if point < rate:
                        kind = candidate
                        break
                    point -= rate
            if kind is not None:
                self._counts[kind] += 1
            return kind

    def _send_upstream(self, method: str, path: str, headers: list[tuple[str, str]],
                       body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        # An uncompressed answer, so that cutting it short cuts the body the client decodes.
        headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"] + [("Accept-Encoding", "identity")]
        return forward(self._upstream, method, path, headers, body, timeout=self._timeout, skip=HOP_BY_HOP)

    def _error_answer(self, kind: str) -> tuple[int, str, list[tuple[str, str]], bytes]:
        with self._lock:
            status, code = self._random.choice(SERVER_ERRORS if kind == "server_error" else THROTTLES)
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                           "message": f"injected by the fault proxy ({kind})"}).encode()
        return status, "Injected", [("Content-Type", "application/x-amz-json-1.0")], body

    def _coin(self) -> bool:
        with self._lock:
            return self._random.random() < 0.5


def _handler_for(proxy: FaultProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def handle(self) -> None:
            if proxy._unreachable():
                self._reset()
                return
            super().handle()

        def _relay(self) -> None:
            body = self._body()
            if proxy._unreachable():
                self._reset()
                return
            target = self.headers.get("X-Amz-Target") or ""
            operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else self.command
            kind = proxy._draw(operation)
            if kind == "outage":
                self._reset()
                return
            if kind in ("server_error", "throttle"):
                self._reply(*proxy._error_answer(kind))
                return
            if kind == "dropped" and proxy._coin():  # dropped before the request reached the server
                self.close_connection = True
                return
            if kind == "slow":
                time.sleep(proxy.slow_seconds)
            if operation == "BatchWriteItem" and proxy.write_delay:
                time.sleep(proxy.write_delay)
            headers = list(self.headers.items())
            try:
                status, reason, response_headers, response_body = proxy._send_upstream(
                    self.command, self.path, headers, body)
            except OSError as exc:
                logger.warning("upstream %s failed: %s", proxy.upstream_url, exc)
                self._reply(502, "Bad Gateway", [("Content-Type", "text/plain")], f"upstream failed: {exc}".encode())
                return
            if kind == "dropped":  # dropped after the server applied the request
                self.close_connection = True
                return
            if kind == "cut_short":
                self._reply_cut_short(status, reason, response_headers, response_body)
                return
            self._reply(status, reason, response_headers, response_body)

        def _reply_cut_short(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
            """Content-Length promises all of `body`: send half, then close."""
            self._send_head(status, reason, headers, len(body))
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True

        def _reset(self) -> None:
            """Close with RST instead of FIN: what a client sees from a host that refuses it."""
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("fault proxy: " + format, *args)  # noqa: G003 - http.server's own format

    return Handler
