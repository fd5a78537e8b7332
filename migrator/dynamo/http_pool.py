"""A small HTTP/1.1 client for one job: POST a bytes body over pooled keep-alive connections, read the whole answer.

The data path sends every Scan and BatchWriteItem through here. urllib3, with http.client's email-based header
parser under it, cost several times more client CPU per request than this does.

What it does: http and https (TLS through `ssl`); at most `max_connections` connections per (scheme, host, port),
reused last-in first-out and checked before reuse (closed by the server, idle or old for too long); answers framed by
Content-Length, chunked coding or the server closing (see `http_connection`); gzip and deflate bodies decoded. A
reused connection that fails before any byte of the answer arrives (the server closed it while it sat idle) is
replaced and the request sent once more; any other failure raises TransportError and closes the connection.

Proxies and CA certificates come from a `transport.Transport`: an https endpoint is reached through an HTTP
CONNECT tunnel, an http one through the proxy with the absolute URL as the request target. `server_name` makes
every https host be verified against one name (Alternator's nodes are IP addresses found through the seed: their
certificates are checked for the seed's host name, and for the node's own address when that name is not in them).

What it does not do: methods other than POST and GET, proxies reached over TLS, redirects, cookies,
authentication (the caller signs), Expect: 100-continue (the body goes out with the headers), pipelining, HTTP/2.
"""

from __future__ import annotations

import functools
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from migrator.dynamo.http_connection import BadAnswer, Connection, ServerClosed, decoded, open_tunnel
from migrator.dynamo.transport import Proxy, Transport

DEFAULT_PORTS = {"http": 80, "https": 443}
# OpenSSL's codes for a certificate that does not name the host (X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_).
NAME_MISMATCH = (62, 64)
# Its codes for a chain that ends in a CA nobody named as trusted (self-signed, unknown issuer).
UNKNOWN_ISSUER = (18, 19, 20, 21)
# What a reused connection raises when the server closed it while it sat idle.
STALE_ERRORS = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError, ServerClosed)


@dataclass(frozen=True, slots=True)
class Url:
    """Where a URL points: the connection key (scheme, host, port), the request target and the Host header."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer."""

    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # decoded when the server sent Content-Encoding gzip or deflate


class TransportError(Exception):
    """No complete answer: could not connect, timed out, connection dropped or answer cut short, malformed answer.

    `retryable` is False only when another attempt cannot help (the TLS certificate failed verification).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class PoolTimeout(TransportError):
    """No connection to the host became free within pool_timeout."""


@functools.lru_cache(maxsize=1024)
def parse_url(url: str) -> Url:
    """Parse an http(s) URL once; ValueError if it is not one. The Host header is the one botocore signs."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Url(scheme, host, port, path, host_header)


class HttpPool:
    """Thread-safe pool of keep-alive connections; see the module docstring."""

    def __init__(
        self,
        *,
        max_connections: int = 8,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
        pool_timeout: float | None = None,
        max_idle_seconds: float | None = None,
        max_age_seconds: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        transport: Transport | None = None,
        server_name: str | None = None,
    ) -> None:
        """`transport` gives the proxies and the CA certificates (unless `ssl_context` is given); `server_name` is
        the TLS name to verify every https host against first (see the module docstring)."""
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout  # for each wait on the socket, not for the whole answer
        self.pool_timeout = pool_timeout
        self.max_idle_seconds = max_idle_seconds
        self.max_age_seconds = max_age_seconds
        self._ssl_context = ssl_context  # the default one is made at the first https connection
        self._transport = transport or Transport()
        self._server_name = server_name
        self._hosts: dict[tuple[str, str, int], _Host] = {}

    def post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """POST `body` with the caller's `headers` (which must not include Host or Content-Length)."""
        return self.request("POST", url, headers, body)

    def request(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes = b"") -> Response:
        """Send one request and read its whole answer; `post` says what is retried and raised."""
        ep = parse_url(url)
        key = (ep.scheme, ep.host, ep.port)
        host = self._hosts.get(key) or self._hosts.setdefault(key, self._new_host(ep))
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
        if lines.count("\r") != len(headers) or lines.count("\n") != len(headers):
            raise ValueError("a header name or value holds a CR or LF")
        head = (f"{method} {host.target}{ep.path} HTTP/1.1\r\nHost: {ep.host_header}\r\n"
                f"Content-Length: {len(body)}\r\n{host.proxy_header}{lines}\r\n")
        head = head.encode("latin-1")
        conn = host.checkout(self, url)
        reused = conn is not None
        try:
            if conn is None:
                conn = self._connect(method, ep, url, host)
            try:
                status, answer_headers, data, keep = conn.exchange(head, body)
            except STALE_ERRORS:
                if not reused or conn.received:
                    raise
                conn.close()  # closed by the server while idle: the request never reached it
                conn = None
                conn = self._connect(method, ep, url, host)
                status, answer_headers, data, keep = conn.exchange(head, body)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            host.checkin(None)
            if isinstance(exc, (OSError, ServerClosed, BadAnswer)) and not isinstance(exc, TransportError):
                raise TransportError(f"{method} {url}: {_cause(exc, self.read_timeout)}") from exc
            raise
        if not keep:
            conn.close()
        host.checkin(conn if keep else None)
        encoding = answer_headers.get("content-encoding")
        if encoding:
            try:
                data = decoded(data, encoding)
            except BadAnswer as exc:
                raise TransportError(f"{method} {url}: {exc}") from None
        return Response(status, answer_headers, data)

    def close(self) -> None:
        """Close every idle connection; connections in use are kept, and later posts open new ones."""
        for host in list(self._hosts.values()):
            host.close_idle()

    def _new_host(self, ep: Url) -> _Host:
        host = _Host(self.max_connections)
        host.proxy = self._transport.proxy_for(ep.scheme, ep.host, ep.port)
        if host.proxy is not None and ep.scheme == "http":  # absolute-form target; https goes through a tunnel
            host.target = f"http://{ep.host_header}"
            if host.proxy.authorization:
                host.proxy_header = f"Proxy-Authorization: {host.proxy.authorization}\r\n"
        host.tls_names = [self._server_name, ep.host] if self._server_name not in (None, ep.host) else [ep.host]
        return host

    def _connect(self, method: str, ep: Url, url: str, host: _Host) -> Connection:
        via = f" through {host.proxy.name}" if host.proxy is not None else ""
        while True:
            try:
                sock = self._open(ep, host)
                break
            except ssl.SSLCertVerificationError as exc:
                if exc.verify_code in NAME_MISMATCH and len(host.tls_names) > 1:
                    host.tls_names = host.tls_names[1:]  # not the shared name: verify the host's own address
                    continue
                cause = f"{_cause(exc, self.connect_timeout)} (checked for the name {host.tls_names[0]!r})"
                if exc.verify_code in UNKNOWN_ISSUER:
                    cause += "; if a private CA signed it, name its PEM file in caBundle or AWS_CA_BUNDLE"
                raise TransportError(f"{method} {url}: cannot connect{via}: {cause}", retryable=False) from None
            except TransportError as exc:  # the proxy refused the tunnel
                raise TransportError(f"{method} {url}: cannot connect: {exc}", retryable=exc.retryable) from None
            except (OSError, ServerClosed, BadAnswer) as exc:
                cause = _cause(exc, self.connect_timeout)
                raise TransportError(f"{method} {url}: cannot connect{via}: {cause}") from None
        if ep.scheme == "https":
            sock.settimeout(self.read_timeout)
        else:  # the kernel keeps the time: no poll() before each send and receive, as a Python timeout costs
            sock.settimeout(None)
            timeval = struct.pack("ll", int(self.read_timeout), int(self.read_timeout % 1 * 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        return Connection(sock)

    def _open(self, ep: Url, host: _Host) -> socket.socket:
        """A connected socket to the endpoint: directly or through the proxy, TLS handshake done for https."""
        proxy = host.proxy
        sock = socket.create_connection((proxy.host, proxy.port) if proxy else (ep.host, ep.port),
                                        timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ep.scheme != "https":
                return sock
            if proxy is not None:
                _tunnel(sock, ep, proxy)
            self._ssl_context = self._ssl_context or self._transport.ssl_context()
            return self._ssl_context.wrap_socket(sock, server_hostname=host.tls_names[0])  # within connect_timeout
        except BaseException:
            sock.close()
            raise


def _tunnel(sock: socket.socket, ep: Url, proxy: Proxy) -> None:
    """Open a CONNECT tunnel through `proxy` to the endpoint; TransportError if the proxy refuses."""
    name = f"[{ep.host}]" if ":" in ep.host else ep.host
    status = open_tunnel(sock, f"{name}:{ep.port}", proxy.authorization)
    if not 200 <= status < 300:  # 407: no or wrong credentials, 403: not allowed; 5xx: upstream trouble
        raise TransportError(f"{proxy.name} refused the tunnel to {name}:{ep.port}: HTTP {status}",
                             retryable=status >= 500)


class _Host:
    """The connections to one (scheme, host, port): idle ones on a stack, and the count of all open ones."""

    def __init__(self, limit: int) -> None:
        self.limit, self.opened, self.waiting = limit, 0, 0
        self.proxy: Proxy | None = None
        self.target = ""  # before the path in the request line: "http://host:port" through a proxy
        self.proxy_header = ""  # the Proxy-Authorization line, for http through a proxy
        self.tls_names: list[str] = []  # names to verify the certificate against, in order; the first one works
        self.idle: list[Connection] = []
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)

    def checkout(self, pool: HttpPool, url: str) -> Connection | None:
        """An idle connection fit for reuse, or None when the caller may open a new one."""
        deadline = None
        with self.lock:
            while True:
                now = time.monotonic()
                while self.idle:
                    conn = self.idle.pop()
                    if not (
                        (pool.max_idle_seconds is not None and now - conn.idle_since > pool.max_idle_seconds)
                        or (pool.max_age_seconds is not None and now - conn.born > pool.max_age_seconds)
                        or conn.readable()
                    ):
                        return conn
                    conn.close()
                    self.opened -= 1
                if self.opened < self.limit:
                    self.opened += 1
                    return None
                if deadline is None and pool.pool_timeout is not None:
                    deadline = now + pool.pool_timeout
                if deadline is not None and now >= deadline:
                    raise PoolTimeout(
                        f"POST {url}: none of the {self.limit} connections to the host was free "
                        f"within {pool.pool_timeout:g} s"
                    )
                self.waiting += 1
                try:
                    self.freed.wait(None if deadline is None else deadline - now)
                finally:
                    self.waiting -= 1

    def checkin(self, conn: Connection | None) -> None:
        """Give back a connection for reuse, or None for one that was closed."""
        with self.lock:
            if conn is None:
                self.opened -= 1
            else:
                conn.idle_since = time.monotonic()
                self.idle.append(conn)
            if self.waiting:
                self.freed.notify()

    def close_idle(self) -> None:
        with self.lock:
            for conn in self.idle:
                conn.close()
            self.opened -= len(self.idle)
            self.idle.clear()
            self.freed.notify_all()


def _cause(exc: BaseException, timeout: float) -> str:
    """One line on why a connection or an exchange failed."""
    if isinstance(exc, (TimeoutError, BlockingIOError)):  # BlockingIOError: a kernel timeout (SO_RCVTIMEO) ran out
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, BrokenPipeError):
        return "the server closed the connection while the request was sent"
    if isinstance(exc, ServerClosed):
        return "the server closed the connection before answering"
    return str(exc) if isinstance(exc, BadAnswer) else f"{type(exc).__name__}: {exc}"
