"""An HTTP proxy in front of a DynamoDB-compatible server that makes BatchWriteItem partly fail, or slow.

Every request goes upstream byte for byte, headers included (Authorization, X-Amz-Target),
except ``BatchWriteItem``: the proxy forwards only every ``forward_every``-th write request of
each table's list (the first one always) and answers with the upstream's response plus the
held-back requests in ``UnprocessedItems``, exactly as DynamoDB does when it sheds load.
Signatures are not recomputed: moto and dynalite do not check them.

    with UnprocessedProxy(moto.url) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        ...
        assert proxy.items_unprocessed > 0
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
import zlib
from urllib.parse import urlsplit

from tests.integration.loopback_http import HOP_BY_HOP, LoopbackServer, RelayHandler, forward

logger = logging.getLogger(__name__)

BATCH_WRITE_TARGET = "DynamoDB_20120810.BatchWriteItem"


class UnprocessedProxy(LoopbackServer):
    """Threaded proxy on 127.0.0.1; ``forward_every=None`` holds back every write of every batch.

    Counters (read them after the client is done):
      ``batches_seen``      BatchWriteItem requests received
      ``items_forwarded``   write requests the upstream accepted
      ``items_unprocessed`` write requests returned to the client in UnprocessedItems
      ``requests_seen``     requests of any kind received
      ``errors_sent``       scripted error answers sent (``scripted_errors``, first BatchWriteItems only)
      ``batches_lost``      BatchWriteItem requests acknowledged but not forwarded (``lose_every``)
      ``items_lost``        the write requests in them
    """

    def __init__(self, upstream_url: str, forward_every: int | None = 2, timeout: float = 120.0,
                 scripted_errors: list[tuple[int, str]] | None = None, write_delay: float = 0.0,
                 lose_every: int | None = None) -> None:
        if forward_every is not None and forward_every < 1:
            raise ValueError(f"forward_every must be >= 1 or None, got {forward_every}")
        upstream = urlsplit(upstream_url)
        self.upstream_url = upstream_url
        self.forward_every = forward_every
        self._upstream = (upstream.hostname, upstream.port or 80)
        self._timeout = timeout
        self._lock = threading.Lock()
        self.batches_seen = self.items_forwarded = self.items_unprocessed = self.requests_seen = 0
        # The first BatchWriteItem requests get these (HTTP status, DynamoDB error code) answers instead.
        self._scripted_errors = list(scripted_errors or [])
        self.errors_sent = 0
        # Seconds each BatchWriteItem waits before it is forwarded: a slow target, to interrupt a run midway.
        # Set it to 0 at any time to let the rest of a run go at full speed.
        self.write_delay = write_delay
        # Every lose_every-th BatchWriteItem is acknowledged ({"UnprocessedItems": {}}) and never forwarded: a
        # target that loses acknowledged writes, as moto_server can (tests/tools/moto_race.py).
        self.lose_every = lose_every
        self.batches_lost = self.items_lost = 0
        super().__init__(_handler_for(self), name="unprocessed-proxy")

    def script_errors(self, errors: list[tuple[int, str]]) -> None:
        """Answer the next BatchWriteItem requests with these (HTTP status, error code) errors, e.g. mid-run."""
        with self._lock:
            self._scripted_errors.extend(errors)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"batches_seen": self.batches_seen, "items_forwarded": self.items_forwarded,
                    "items_unprocessed": self.items_unprocessed, "requests_seen": self.requests_seen}

    # -------------------------------------------------------------- request handling

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def _send_upstream(self, method: str, path: str, headers: list[tuple[str, str]],
                       body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        return forward(self._upstream, method, path, headers, body, timeout=self._timeout, skip=HOP_BY_HOP)

    def _scripted_error(self):
        """The next scripted error answer, or None once they are used up."""
        with self._lock:
            if not self._scripted_errors:
                return None
            status, code = self._scripted_errors.pop(0)
            self.errors_sent += 1
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected by the test"})
        return status, "Injected", [("Content-Type", "application/x-amz-json-1.0")], body.encode()

    def _split_batch(self, headers: list[tuple[str, str]], body: bytes):
        """Forward part of a BatchWriteItem; return the response the client should see."""
        scripted = self._scripted_error()
        if scripted is not None:
            return scripted
        if self.write_delay:
            time.sleep(self.write_delay)
        request = json.loads(body)
        if self.lose_every is not None:
            with self._lock:
                lose = (self.batches_seen + 1) % self.lose_every == 0
                if lose:
                    self.batches_seen += 1
                    self.batches_lost += 1
                    self.items_lost += sum(map(len, request.get("RequestItems", {}).values()))
            if lose:
                acknowledged = b'{"UnprocessedItems":{}}'
                return 200, "OK", [("Content-Type", "application/x-amz-json-1.0"),
                                   ("x-amzn-RequestId", uuid.uuid4().hex),
                                   ("x-amz-crc32", str(zlib.crc32(acknowledged)))], acknowledged
        forwarded: dict[str, list] = {}
        held_back: dict[str, list] = {}
        for table, writes in request.get("RequestItems", {}).items():
            for index, write in enumerate(writes):
                keep = self.forward_every is not None and index % self.forward_every == 0
                (forwarded if keep else held_back).setdefault(table, []).append(write)
        n_forwarded = sum(map(len, forwarded.values()))

        if forwarded:
            # Ask for an uncompressed answer: the proxy has to read and rewrite it.
            headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
            headers.append(("Accept-Encoding", "identity"))
            status, reason, response_headers, response_body = self._send_upstream(
                "POST", "/", headers, json.dumps({**request, "RequestItems": forwarded}).encode())
            if status != 200:
                self._count(batches_seen=1)
                return status, reason, response_headers, response_body
            response = json.loads(response_body)
        else:
            status, reason, response = 200, "OK", {}
            response_headers = [("Content-Type", "application/x-amz-json-1.0"),
                                ("x-amzn-RequestId", uuid.uuid4().hex)]

        unprocessed = response.get("UnprocessedItems") or {}
        for table, writes in held_back.items():
            unprocessed.setdefault(table, []).extend(writes)
        response["UnprocessedItems"] = unprocessed
        n_unprocessed = sum(map(len, unprocessed.values()))
        upstream_refused = n_unprocessed - sum(map(len, held_back.values()))
        self._count(batches_seen=1, items_forwarded=n_forwarded - upstream_refused,
                    items_unprocessed=n_unprocessed)

        new_body = json.dumps(response).encode()
        # botocore checks x-amz-crc32 against the body it receives, so it must describe the new body.
        response_headers = [(k, v) for k, v in response_headers if k.lower() != "x-amz-crc32"]
        response_headers.append(("x-amz-crc32", str(zlib.crc32(new_body))))
        return status, reason, response_headers, new_body


def _handler_for(proxy: UnprocessedProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def _relay(self) -> None:
            proxy._count(requests_seen=1)
            body = self._body()
            headers = list(self.headers.items())
            try:
                if self.command == "POST" and self.headers.get("X-Amz-Target") == BATCH_WRITE_TARGET:
                    status, reason, response_headers, response_body = proxy._split_batch(headers, body)
                else:
                    status, reason, response_headers, response_body = proxy._send_upstream(
                        self.command, self.path, headers, body)
            except (OSError, http.client.HTTPException) as exc:
                logger.warning("upstream %s failed: %s", proxy.upstream_url, exc)
                self._reply(502, "Bad Gateway", [("Content-Type", "text/plain")],
                            f"upstream failed: {exc}".encode())
                return
            self._reply(status, reason, response_headers, response_body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("proxy: " + format, *args)  # noqa: G003 - http.server's own format

    return Handler
