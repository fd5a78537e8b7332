"""The plumbing the tests' loopback HTTP servers share: a threaded server on 127.0.0.1, a request handler that
relays, and `forward`, which sends one request upstream unchanged.

    class MyProxy(LoopbackServer):
        def __init__(self, upstream_url: str) -> None:
            self._upstream = ...
            super().__init__(_handler_for(self), name="my-proxy")   # serving from here on

A handler subclasses `RelayHandler` and writes `_relay` (both GET and POST come there) with `_body` and `_reply`.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

# Per-connection headers that must not be copied from one hop to the next.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length"}
# An answer relayed to the client: the sending server writes its own Server and Date.
ANSWER_SKIP = HOP_BY_HOP | {"server", "date"}


def forward(upstream: tuple[str, int], method: str, path: str, headers: list[tuple[str, str]], body: bytes, *,
            timeout: float, skip: set[str]) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """Send one request upstream unchanged but for the `skip` headers; (status, reason, headers, body)."""
    connection = http.client.HTTPConnection(*upstream, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in skip:
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    finally:
        connection.close()


class LoopbackServer:
    """A ThreadingHTTPServer on `address` (127.0.0.1, any free port by default) serving `handler` from a daemon
    thread until `stop`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, address: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._server = ThreadingHTTPServer((address, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        """Stop serving and close the listening socket; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RelayHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive (as botocore and the migrator's pool expect); GET and POST go to `_relay`."""

    protocol_version = "HTTP/1.1"
    answer_skip = ANSWER_SKIP  # headers of a relayed answer that `_reply` leaves out

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the client went away, e.g. a stopped Spark task
            pass

    def do_POST(self) -> None:
        self._relay()

    def do_GET(self) -> None:
        self._relay()

    def _relay(self) -> None:
        raise NotImplementedError

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send_head(self, status: int, reason: str | None, headers: list[tuple[str, str]], length: int) -> None:
        """The status line and `headers` but the `answer_skip` ones, with a Content-Length of `length`."""
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in self.answer_skip:
                self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _reply(self, status: int, reason: str | None, headers: list[tuple[str, str]], body: bytes) -> None:
        """Answer with `body`; `reason` None: the standard phrase of `status`."""
        self._send_head(status, reason, headers, len(body))
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a test's output is no place for a line per request; a handler that wants them logs them
