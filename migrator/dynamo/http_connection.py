"""One keep-alive HTTP/1.1 connection: send a request's bytes, read one whole answer off the socket.

The wire half of `http_pool` (which picks, checks and retries connections). Answers are framed by Content-Length,
chunked transfer coding (trailers read and dropped) or the server closing; 1xx interim answers are skipped; header
lines are split here rather than by http.client's email parser, which cost more CPU than the rest of a request.
Bare-LF line endings and 101 Switching Protocols are refused as malformed.
"""

from __future__ import annotations

import gzip
import select
import socket
import ssl
import time
import zlib

JOIN_MAX = 256 * 1024  # bodies up to this size go out in one send with the header block
RECV_SIZE = 64 * 1024
MAX_LINE = 64 * 1024  # longest header block (or chunk-size line) accepted
HEX_DIGITS = b"0123456789abcdefABCDEF"


class ServerClosed(Exception):
    """The server closed the connection; args[0] is how many bytes of the awaited read had arrived."""


class BadAnswer(Exception):
    """The answer is malformed or cut short; the message says how, with the byte counts."""


class Connection:
    """A socket and the bytes read from it but not consumed yet (`buf` from `pos` on)."""

    __slots__ = ("sock", "buf", "pos", "received", "born", "idle_since")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf, self.pos = b"", 0
        self.received = 0  # bytes of the current answer so far: none means the request may be sent again
        self.born = self.idle_since = time.monotonic()

    def close(self) -> None:
        self.sock.close()

    def readable(self) -> bool:
        """Whether the idle connection has something to read: the server closed it, or sent bytes unasked."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        if not hasattr(select, "poll"):
            return bool(select.select([self.sock], [], [], 0)[0])
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def exchange(self, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        """Send one request, read its answer: (status, headers, raw body, whether the connection can be reused)."""
        self.received = 0
        if len(body) <= JOIN_MAX:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            self.sock.sendall(body)
        status, version, headers = self._head()
        framed = True
        if status in (204, 304):
            data = b""
        elif "transfer-encoding" in headers:
            framed = "content-length" not in headers  # both at once hint at smuggling: do not reuse
            if headers["transfer-encoding"].rsplit(",", 1)[-1].strip().lower() == "chunked":
                data = self._chunked()
            else:
                data, framed = self._until_close(), False
        elif "content-length" in headers:
            length = _content_length(headers["content-length"])
            try:
                data = self._exact(length)
            except ServerClosed as exc:
                raise BadAnswer(f"answer cut short: {exc.args[0]} of {length} body bytes arrived") from None
        else:
            data, framed = self._until_close(), False
        connection = headers.get("connection")
        tokens = [t.strip() for t in connection.lower().split(",")] if connection else ()
        keep = framed and "close" not in tokens and (version != "HTTP/1.0" or "keep-alive" in tokens)
        keep = keep and self.pos == len(self.buf)  # bytes beyond the answer: the stream is out of step
        self.buf, self.pos = b"", 0
        return status, headers, data, keep

    def _fill(self) -> None:
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise ServerClosed(0)
        self.received += len(data)
        self.buf = self.buf[self.pos :] + data if self.pos < len(self.buf) else data
        self.pos = 0

    def _head(self) -> tuple[int, str, dict[str, str]]:
        while True:  # until the final answer: 1xx interim ones are skipped
            while (end := self.buf.find(b"\r\n\r\n", self.pos)) < 0:
                if len(self.buf) - self.pos > MAX_LINE:
                    raise BadAnswer(f"answer header longer than {MAX_LINE} bytes")
                try:
                    self._fill()
                except ServerClosed:
                    if not self.received:
                        raise
                    raise BadAnswer(f"server closed the connection after {self.received} bytes of the header") from None
            lines = self.buf[self.pos : end].decode("latin-1").split("\r\n")
            self.pos = end + 4
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdecimal() or rest[3:4] not in ("", " "):
                raise BadAnswer(f"malformed status line {lines[0][:100]!r}")
            status = int(rest[:3])
            if status == 101:
                raise BadAnswer("unexpected 101 Switching Protocols")
            if status >= 200:
                break
        headers: dict[str, str] = {}
        name = ""
        for line in lines[1:]:
            if line[0] in " \t" and name:  # obsolete line folding: the value goes on
                headers[name] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name[-1] in " \t":
                raise BadAnswer(f"malformed header line {line[:100]!r}")
            name, value = name.lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return status, version, headers

    def _exact(self, n: int) -> bytes:
        start, avail = self.pos, len(self.buf) - self.pos
        if avail >= n:
            self.pos = start + n
            return self.buf[start : start + n]
        out = bytearray(n)  # a large body is read straight into place
        out[:avail] = memoryview(self.buf)[start:]
        self.buf, self.pos = b"", 0
        view, got = memoryview(out), avail
        while got < n:
            count = self.sock.recv_into(view[got:])
            if not count:
                raise ServerClosed(got)
            got += count
        self.received += n - avail
        return bytes(out)

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n", self.pos)) < 0:
            if len(self.buf) - self.pos > MAX_LINE:
                raise BadAnswer(f"chunked answer has a line longer than {MAX_LINE} bytes")
            self._fill()
        line, self.pos = self.buf[self.pos : end], end + 2
        return line

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        try:
            while True:
                size = self._line().split(b";", 1)[0].strip()  # chunk extensions dropped
                if not size or len(size) > 15 or size.strip(HEX_DIGITS):
                    raise BadAnswer(f"broken chunked answer after {total} body bytes: bad chunk size {size[:20]!r}")
                if not (size := int(size, 16)):
                    break
                parts.append(self._exact(size))
                total += size
                if self._exact(2) != b"\r\n":
                    raise BadAnswer(f"broken chunked answer after {total} body bytes: no CRLF after a chunk")
            while self._line():  # trailer fields, dropped
                pass
        except ServerClosed as exc:
            raise BadAnswer(f"chunked answer cut short after {total + exc.args[0]} body bytes") from None
        return b"".join(parts)

    def _until_close(self) -> bytes:
        parts = [self.buf[self.pos :]]
        self.buf, self.pos = b"", 0
        while data := self.sock.recv(RECV_SIZE):
            parts.append(data)
        return b"".join(parts)


def open_tunnel(sock: socket.socket, authority: str, authorization: str | None) -> int:
    """Ask the HTTP proxy at the other end of `sock` for a CONNECT tunnel to `authority` (host:port).

    Returns the proxy's status; the tunnel is open when it is 2xx, and the socket then carries the
    bytes of the endpoint's TLS handshake. ServerClosed or BadAnswer when the proxy does not answer properly."""
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if authorization:
        head += f"Proxy-Authorization: {authorization}\r\n"
    sock.sendall((head + "\r\n").encode("latin-1"))
    conn = Connection(sock)
    status, _, _ = conn._head()
    if 200 <= status < 300 and conn.pos != len(conn.buf):
        raise BadAnswer("the proxy sent bytes after its CONNECT answer, before the TLS handshake")
    return status


def decoded(data: bytes, encoding: str) -> bytes:
    """The body without its Content-Encoding (gzip or deflate; others are left as they are)."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(data)
        if encoding == "deflate":
            try:
                return zlib.decompress(data)
            except zlib.error:  # some servers send raw deflate without the zlib wrapper
                return zlib.decompress(data, -15)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadAnswer(f"{encoding} body does not decode: {exc}") from None
    return data


def _content_length(value: str) -> int:
    if value.isdecimal():  # headers are decoded as latin-1, where only 0-9 are decimal
        return int(value)
    values = {v.strip() for v in value.split(",")}  # repeated headers must agree: "10, 10"
    if len(values) != 1 or not (single := values.pop()).isdecimal():
        raise BadAnswer(f"bad Content-Length {value[:100]!r}")
    return int(single)
