"""An HTTP proxy in front of a DynamoDB-compatible server that answers chosen Scan requests itself with a 200
whose body is not a Scan answer (an error `__type`, no Items), as a broken proxy or an overloaded node might.

Everything else goes upstream byte for byte (see loopback_http.forward).

    with ScanAnswerProxy(dynalite.url, {1: [ERROR_BODY]}) as proxy:   # the first Scan of segment 1
        ...
        assert proxy.mangled == 1
"""

from __future__ import annotations

import json
import threading
import zlib
from urllib.parse import urlsplit

from tests.integration.loopback_http import HOP_BY_HOP, LoopbackServer, RelayHandler, forward

SCAN_TARGET = "DynamoDB_20120810.Scan"
ERROR_BODY = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test"}'
NO_ITEMS_BODY = b'{"Count":0,"ScannedCount":0}'


class ScanAnswerProxy(LoopbackServer):
    """Threaded proxy on 127.0.0.1. `script` maps a segment to the bodies its next Scans get instead of the
    server's answer, one per Scan; `always` maps a segment to a body every one of its Scans gets."""

    def __init__(self, upstream_url: str, script: dict[int, list[bytes]] | None = None,
                 always: dict[int, bytes] | None = None) -> None:
        upstream = urlsplit(upstream_url)
        self._upstream = (upstream.hostname, upstream.port or 80)
        self._script = {segment: list(bodies) for segment, bodies in (script or {}).items()}
        self._always = dict(always or {})
        self._lock = threading.Lock()
        self.mangled = 0  # Scan answers replaced
        super().__init__(_handler_for(self), name="scan-answer-proxy")

    def replacement(self, body: bytes) -> bytes | None:
        """The body to answer this Scan request with instead of forwarding it, or None."""
        segment = json.loads(body).get("Segment")
        with self._lock:
            if segment in self._always:
                self.mangled += 1
                return self._always[segment]
            bodies = self._script.get(segment)
            if bodies:
                self.mangled += 1
                return bodies.pop(0)
        return None


def _handler_for(proxy: ScanAnswerProxy) -> type[RelayHandler]:
    class Handler(RelayHandler):
        def _relay(self) -> None:
            body = self._body()
            fake = None
            if self.command == "POST" and self.headers.get("X-Amz-Target") == SCAN_TARGET:
                fake = proxy.replacement(body)
            if fake is not None:  # a well-formed HTTP answer with a correct CRC: only its content is wrong
                status, reason = 200, "OK"
                headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amz-crc32", str(zlib.crc32(fake)))]
                answer = fake
            else:
                status, reason, headers, answer = forward(proxy._upstream, self.command, self.path,
                                                          list(self.headers.items()), body, timeout=120,
                                                          skip=HOP_BY_HOP)
            self._reply(status, reason, headers, answer)

    return Handler
