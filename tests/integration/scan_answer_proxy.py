"""An HTTP proxy in front of a DynamoDB-compatible server that answers chosen Scan requests itself with a 200
whose body is not a Scan answer (an error `__type`, no Items), as a broken proxy or an overloaded node might.

Everything else goes upstream byte for byte (see unprocessed_proxy.forward).

    with ScanAnswerProxy(dynalite.url, {1: [ERROR_BODY]}) as proxy:   # the first Scan of segment 1
        ...
        assert proxy.mangled == 1
"""

from __future__ import annotations

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.integration.unprocessed_proxy import HOP_BY_HOP, forward

SCAN_TARGET = "DynamoDB_20120810.Scan"
ERROR_BODY = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test"}'
NO_ITEMS_BODY = b'{"Count":0,"ScannedCount":0}'


class ScanAnswerProxy:
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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scan-answer-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScanAnswerProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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


def _handler_for(proxy: ScanAnswerProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the client went away
                pass

        def do_POST(self) -> None:
            self._relay()

        def do_GET(self) -> None:
            self._relay()

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
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
            self.send_response(status, reason)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP and name.lower() not in ("server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
