"""A stand-in for an Alternator cluster: loopback addresses in front of one local server.

Each "node" listens on the same port of 127.0.0.1, 127.0.0.2 and 127.0.0.3, answers `GET /localnodes` with the
addresses as Alternator does (a stopped node included), and forwards every DynamoDB request to the upstream server.
It records which node got which operation, every request body that carried ReturnConsumedCapacity, and the
capacity each Scan, BatchGetItem and BatchWriteItem used by DynamoDB's rules applied to the JSON that crossed it
(the same rule the migrator's limiter applies when the server reports no ConsumedCapacity). `stop_node(i)` makes a
node stop answering mid-run.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from migrator.codec import dumps
from migrator.dynamo.throttle import get_units, read_units, write_units
from tests.integration.loopback_http import LoopbackServer, RelayHandler, forward

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
SKIP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def common_free_port(addresses: tuple[str, ...] = ADDRESSES) -> int:
    """A port free on all `addresses`."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        sockets = []
        try:
            for address in addresses[1:]:
                s = socket.socket()
                sockets.append(s)
                s.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no port free on all of " + ", ".join(addresses))


class AlternatorNodes:
    def __init__(self, upstream_url: str, addresses: tuple[str, ...] = ADDRESSES) -> None:
        upstream = urlsplit(upstream_url)
        self._upstream = (upstream.hostname, upstream.port)
        self.addresses = addresses
        self.port = common_free_port(addresses)
        self.lock = threading.Lock()
        self.operations: Counter[tuple[str, str]] = Counter()  # (node address, operation) -> requests
        self.consumed_capacity_requests: list[str] = []
        self.localnodes_requests = 0
        self.capacity: list[tuple[float, str, float]] = []  # (monotonic time, operation, capacity units)
        self._servers = [LoopbackServer(_handler(self, address), name=f"node-{address}", address=address,
                                        port=self.port) for address in addresses]
        self._stopped = [False] * len(addresses)
        self._connections: list[set] = [set() for _ in addresses]

    @property
    def seed_url(self) -> str:
        return f"http://{self.addresses[0]}:{self.port}"

    def writes_by_node(self) -> dict[str, int]:
        with self.lock:
            return {a: self.operations[(a, "BatchWriteItem")] for a in self.addresses}

    def rate(self, operation: str) -> tuple[float, float]:
        """(units per second, seconds) of `operation` between 10% and 90% of its total capacity used."""
        with self.lock:
            events = [(t, units) for t, op, units in self.capacity if op == operation]
        total = sum(units for _, units in events)
        cumulative, start, end, between = 0.0, None, None, 0.0
        for t, units in events:
            cumulative += units
            if start is None and cumulative >= 0.1 * total:
                start, between = t, 0.0
            elif start is not None and end is None:
                between += units
                if cumulative >= 0.9 * total:
                    end = t
        if start is None or end is None or end <= start:
            raise AssertionError(f"too few {operation} requests to measure a rate: {len(events)}")
        return between / (end - start), end - start

    def stop_node(self, index: int) -> None:
        """The node stops answering: new connections are refused and open ones are cut, answers unsent."""
        with self.lock:
            if self._stopped[index]:
                return
            self._stopped[index] = True
            open_connections = list(self._connections[index])
        self._servers[index].stop()
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        for index in range(len(self.addresses)):
            self.stop_node(index)

    def __enter__(self) -> AlternatorNodes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        status, _, answer_headers, answer = forward(self._upstream, method, path, headers, body, timeout=120,
                                                    skip=SKIP_HEADERS)
        return status, answer_headers, answer


def _capacity(operation: str, body: bytes, answer: bytes) -> float:
    """Scan: 0.5 RCU per started 4 KB of the answer; BatchGetItem (strongly consistent): 1 RCU per started 4 KB of
    each item found and per key not found; BatchWriteItem: 1 WCU per started KB of each item written."""
    if operation == "Scan":
        return read_units(len(answer))
    if operation == "BatchGetItem":
        asked = sum(len(r["Keys"]) for r in json.loads(body)["RequestItems"].values())
        doc = json.loads(answer)
        found = [dumps(item) for rows in doc.get("Responses", {}).values() for item in rows]
        left = sum(len(r.get("Keys", ())) for r in (doc.get("UnprocessedKeys") or {}).values())
        return get_units([len(item) for item in found], asked - len(found) - left)
    sent = json.loads(body)["RequestItems"]
    left = json.loads(answer).get("UnprocessedItems") or {}
    left_items = {dumps(r["PutRequest"]["Item"]) for requests in left.values() for r in requests}
    return sum(write_units(len(dumps(r["PutRequest"]["Item"]))) for requests in sent.values() for r in requests
               if dumps(r["PutRequest"]["Item"]) not in left_items)


def _handler(nodes: AlternatorNodes, address: str) -> type[RelayHandler]:
    index = nodes.addresses.index(address)

    class Handler(RelayHandler):
        answer_skip = SKIP_HEADERS

        def setup(self) -> None:
            super().setup()
            with nodes.lock:
                nodes._connections[index].add(self.connection)

        def finish(self) -> None:
            with nodes.lock:
                nodes._connections[index].discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/localnodes":
                with nodes.lock:
                    nodes.localnodes_requests += 1
                # A stopped node stays listed, as in a cluster whose gossip has not noticed yet: clients must
                # cope with a listed node that refuses connections.
                self._reply(200, None, [("Content-Type", "application/json")],
                            json.dumps(list(nodes.addresses)).encode())
            else:
                self._reply(200, None, [("Content-Type", "text/plain")], b"healthy")

        def do_POST(self) -> None:
            body = self._body()
            operation = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
            with nodes.lock:
                if nodes._stopped[index]:  # a stopped node answers nothing more, even on an open connection
                    self.close_connection = True
                    return
                nodes.operations[(address, operation)] += 1
                if b"ReturnConsumedCapacity" in body:
                    nodes.consumed_capacity_requests.append(operation)
            status, headers, answer = nodes.forward("POST", self.path, list(self.headers.items()), body)
            if status == 200 and operation in ("Scan", "BatchGetItem", "BatchWriteItem"):
                units = _capacity(operation, body, answer)
                with nodes.lock:
                    nodes.capacity.append((time.monotonic(), operation, units))
            self._reply(status, None, headers, answer)

    return Handler
