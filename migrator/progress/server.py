"""The driver's progress server: a thread with a TCP socket that records each finished unit a task reports, counts
the tasks that run now (for the throughput budgets' shares) and hands on the tasks' live counts (`prog` lines)."""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable

from migrator.progress import MAX_LINE, RUN, ProgressAddress, UnitId, parse_counts, parse_report, parse_running
from migrator.progress.counts import Counts

logger = logging.getLogger(__name__)


class ProgressServer:
    """Listens on `bind_host` (the driver's address: executors must reach the driver anyway), port chosen freely.

    Every valid report calls `on_done(unit_id, items)`; a line with a wrong token, a malformed line or a unit that
    `unit_id` (the run's UnitPlan.unit_id) does not know is refused, logged with its cause, and its connection
    closed. Every valid `prog` line calls `on_counts(task, attempt, counts)`. `running` is the
    number of task attempts registered now (`run` lines whose `end` has not come and whose connection is open),
    `peak_running` the most at any time. Use as a context manager, or `start()` and `stop()`.
    """

    def __init__(self, bind_host: str, advertised_host: str, unit_id: Callable[[str], UnitId] | None = None,
                 on_done: Callable[[UnitId, int], None] | None = None,
                 on_counts: Callable[[int, int, Counts], None] | None = None) -> None:
        self.unit_id = unit_id
        self.on_done = on_done
        self.on_counts = on_counts
        self._token = secrets.token_hex(16)
        family = socket.getaddrinfo(bind_host, 0, type=socket.SOCK_STREAM)[0][0]
        server_class = type("_Server", (_Server,), {"address_family": family})
        self._server = server_class((bind_host, 0), _handler_for(self))
        self._advertised_host = advertised_host
        self._thread = threading.Thread(target=self._server.serve_forever, name="progress-server", daemon=True)
        self.reports = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self.peak_running = 0

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def address(self) -> ProgressAddress:
        return ProgressAddress(self._advertised_host, self._server.server_address[1], self._token)

    def start(self) -> ProgressServer:
        self._thread.start()
        host, port = self._server.server_address[:2]
        logger.info("progress server listening on %s:%d for unit reports (segments, files), budget shares and live "
                    "counts", host, port)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ProgressServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self, line: bytes, attempts: set[str]) -> tuple[bytes | None, str | None]:
        """Act on one line: (answer, None) if accepted, else (None, why it was refused). `attempts`: those started
        on this connection."""
        try:
            counts = parse_counts(line)
            running = None if counts else parse_running(line)
            token, unit, items = ("", 0, 0) if counts or running else parse_report(line, self.unit_id or str)
        except (ValueError, UnicodeDecodeError) as exc:
            return None, f"malformed report ({exc})"
        except LookupError as exc:  # a well-formed id of no unit of this run
            return None, str(exc)
        token = counts[0] if counts else running[0] if running else token
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            return None, "wrong token"
        if counts:
            if self.on_counts is None:
                return None, "this run keeps no live counts (progress.intervalSeconds is 0)"
            self.on_counts(*counts[1:])
            return b"ok\n", None
        if running:
            return self._count(running[1], running[2], attempts), None
        if self.on_done is None:
            return None, "this run records no unit reports (no savepoints)"
        self.on_done(unit, items)
        with self._lock:
            self.reports += 1
        return b"ok\n", None

    def _count(self, verb: str, attempt: str, attempts: set[str]) -> bytes:
        with self._lock:
            if verb == RUN:
                attempts.add(attempt)
                self._running.add(attempt)
                self.peak_running = max(self.peak_running, len(self._running))
                return f"tasks {len(self._running)}\n".encode("ascii")
            attempts.discard(attempt)
            self._running.discard(attempt)
            return b"ok\n"

    def _forget(self, attempts: set[str]) -> None:
        """A connection closed: the attempts it started no longer run (their worker ended or died)."""
        with self._lock:
            self._running.difference_update(attempts)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True  # a task's connection never keeps the driver from exiting
    allow_reuse_address = True


def _handler_for(progress: ProgressServer) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            attempts: set[str] = set()
            try:
                self._serve(attempts)
            finally:
                progress._forget(attempts)

        def _serve(self, attempts: set[str]) -> None:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                answer, refused = progress._accept(line, attempts) if line.endswith(b"\n") else (None, "line too long")
                if refused is None:
                    self.wfile.write(answer)
                    continue
                with progress._lock:
                    progress.refused += 1
                logger.warning("progress server: refused a report from %s:%d: %s", *self.client_address[:2], refused)
                self.wfile.write(b"refused\n")
                return

    return Handler
