"""migrator.dynamo.http_pool and its wire half, http_connection, against real servers on 127.0.0.1 that send raw
bytes."""

from __future__ import annotations

import gzip
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from migrator.dynamo import http_pool
from migrator.dynamo.http_pool import HttpPool, PoolTimeout, TransportError, parse_url


@dataclass
class Seen:
    """One request as the server read it."""

    conn: int  # which connection, in the order the server accepted them
    index: int  # which request on that connection
    head: bytes  # request line and headers, raw, up to and including the blank line
    body: bytes


@dataclass
class Reply:
    data: bytes = b""  # raw bytes to send
    close: bool = False  # close the connection after sending them
    later: bytes = b""  # raw bytes to send a moment after `data`, unasked


def answer(body: bytes = b"ok", *headers: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    """A raw answer with a Content-Length header and any extra header lines."""
    lines = [f"{version} {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ok(seen: Seen) -> Reply:
    return Reply(answer())


class ScriptedServer(socketserver.ThreadingTCPServer):
    """Reads whole requests and lets `script` decide what goes back; counts connections."""

    daemon_threads = True

    def __init__(self, script: Callable[[Seen], Reply], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.tls = tls
        self.lock = threading.Lock()
        self.connections = 0  # accepted so far
        self.active = 0  # open now
        self.peak = 0  # most open at once
        self.seen: list[Seen] = []
        self.release = threading.Event()  # set at teardown, so scripts that wait give up

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every connection has been closed, by either side."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not self.active


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: ScriptedServer = self.server
        sock = self.request
        if server.tls is not None:
            try:
                sock = server.tls.wrap_socket(sock, server_side=True)
            except OSError:
                return
        with server.lock:
            conn = server.connections
            server.connections += 1
            server.active += 1
            server.peak = max(server.peak, server.active)
        try:
            with sock, sock.makefile("rb") as reader:
                for index in range(10**9):
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            return
                        head += line
                    lengths = [line[15:] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
                    seen = Seen(conn, index, head, reader.read(int(lengths[0]) if lengths else 0))
                    with server.lock:
                        server.seen.append(seen)
                    reply = server.script(seen)
                    if reply.data:
                        sock.sendall(reply.data)
                    if reply.later:
                        time.sleep(0.05)
                        sock.sendall(reply.later)
                    if reply.close:
                        return
        except OSError:
            pass
        finally:
            with server.lock:
                server.active -= 1


@pytest.fixture
def serve():
    """Start a ScriptedServer: serve(script, tls=None); all are shut down after the test."""
    servers: list[ScriptedServer] = []

    def start(script: Callable[[Seen], Reply] = ok, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        server = ScriptedServer(script, tls)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_pool():
    """Build an HttpPool (read_timeout 5 s unless given); all are closed after the test."""
    pools: list[HttpPool] = []

    def make(**kwargs) -> HttpPool:
        pools.append(HttpPool(**{"read_timeout": 5.0, **kwargs}))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key,
         "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(serve, certificate) -> ScriptedServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return serve(lambda seen: Reply(answer(b"secret " + seen.body)), tls=context)


def test_endpoint_parses_once_and_names_the_port_only_when_it_is_not_the_default():
    """Default ports, a bare host's path "/", the query kept, the Host header as botocore signs it."""
    assert parse_url("http://Example.com") == http_pool.Url("http", "example.com", 80, "/", "example.com")
    assert parse_url("https://h:443/a?b=1") == http_pool.Url("https", "h", 443, "/a?b=1", "h")
    assert parse_url("https://h:8043/") == http_pool.Url("https", "h", 8043, "/", "h:8043")
    assert parse_url("http://[::1]:8000/x").host_header == "[::1]:8000"
    assert parse_url("http://h/") is parse_url("http://h/")
    with pytest.raises(ValueError, match="not an http"):
        parse_url("ftp://h/")


def test_keep_alive_reuses_one_connection(serve, make_pool):
    """Twenty posts in a row travel over the same connection."""
    server = serve()
    pool = make_pool()
    for n in range(20):
        assert pool.post(server.url, [], b"%d" % n).body == b"ok"
    assert server.connections == 1
    assert [(s.conn, s.index, s.body) for s in server.seen] == [(0, n, b"%d" % n) for n in range(20)]


def test_request_line_host_content_length_and_headers_reach_the_server_exactly(serve, make_pool):
    """The pool writes request line, Host with the port, Content-Length, then the caller's headers in order."""
    server = serve()
    headers = [("X-Amz-Target", "DynamoDB_20120810.Scan"), ("Content-Type", "application/x-amz-json-1.0"), ("x-b", "1")]
    make_pool().post(f"http://127.0.0.1:{server.port}/a/b?c=d", headers, b'{"k":1}')
    assert server.seen[0].head == (
        b"POST /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 7\r\nX-Amz-Target: DynamoDB_20120810.Scan\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nx-b: 1\r\n\r\n" % server.port
    )
    assert server.seen[0].body == b'{"k":1}'


def test_host_header_has_no_port_when_the_url_uses_the_default_one(serve, make_pool, monkeypatch):
    """http://localhost sends "Host: localhost" and path "/" (the connection is steered to the test server)."""
    server = serve()
    connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda address, **kw: connect(("127.0.0.1", server.port), **kw))
    make_pool().post("http://localhost", [], b"")
    assert server.seen[0].head == b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"


def test_headers_with_line_breaks_are_refused(make_pool):
    """A CR or LF in a caller's header would split the request: ValueError, nothing sent."""
    with pytest.raises(ValueError, match="CR or LF"):
        make_pool().post("http://127.0.0.1:1/", [("X-A", "1\r\nX-B: 2")], b"")


def test_answer_headers_are_lower_cased_and_repeats_joined(serve, make_pool):
    """Names lower-cased, values stripped, a repeated header joined with ", ", a folded line continued."""
    extra = ("X-Amz-Crc32:  123 ", "Set-Thing: a", "set-thing: b", "X-F: one", "  two")
    server = serve(lambda seen: Reply(answer(b"{}", *extra)))
    response = make_pool().post(server.url, [], b"")
    assert response.status == 200
    assert response.headers == {"content-length": "2", "x-amz-crc32": "123", "set-thing": "a, b", "x-f": "one two"}


def test_idle_connections_are_reused_last_in_first_out(serve, make_pool):
    """Of two idle connections, the one given back last is taken first (the other may then time out unused)."""
    go = threading.Event()

    def slow_waits(seen: Seen) -> Reply:
        if seen.body == b"slow":
            go.wait(5)
        return Reply(answer(seen.body))

    server = serve(slow_waits)
    pool = make_pool(max_connections=2)
    slow = threading.Thread(target=lambda: pool.post(server.url, [], b"slow"))
    slow.start()
    while not server.seen:
        time.sleep(0.005)
    pool.post(server.url, [], b"fast")
    go.set()
    slow.join()
    pool.post(server.url, [], b"next")
    conn_of = {s.body: s.conn for s in server.seen}
    assert conn_of[b"next"] == conn_of[b"slow"] != conn_of[b"fast"]


def test_max_connections_is_respected_by_concurrent_threads(serve, make_pool):
    """Twelve threads posting at once through a 3-connection pool: the server never sees more than 3."""

    def slow(seen: Seen) -> Reply:
        time.sleep(0.02)
        return Reply(answer(seen.body))

    server = serve(slow)
    pool = make_pool(max_connections=3)
    answers: list[bytes] = []

    def work(n: int) -> None:
        answers.extend(pool.post(server.url, [], b"%d-%d" % (n, i)).body for i in range(5))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == sorted(b"%d-%d" % (n, i) for n in range(12) for i in range(5))
    assert server.peak == 3
    assert server.connections == 3


def test_pool_timeout_when_every_connection_is_busy(serve, make_pool):
    """With its one connection held by a slow request, a second post gives up after pool_timeout."""
    go = threading.Event()

    def first_waits(seen: Seen) -> Reply:
        if seen.body == b"slow":
            go.wait(5)
        return Reply(answer(seen.body))

    server = serve(first_waits)
    pool = make_pool(max_connections=1, pool_timeout=0.2)
    slow = threading.Thread(target=lambda: pool.post(server.url, [], b"slow"))
    slow.start()
    while not server.seen:
        time.sleep(0.005)
    started = time.monotonic()
    with pytest.raises(PoolTimeout, match=f"POST {server.url}: none of the 1 connections.*within 0.2 s") as info:
        pool.post(server.url, [], b"fast")
    assert 0.15 < time.monotonic() - started < 2
    assert info.value.retryable
    go.set()
    slow.join()
    assert pool.post(server.url, [], b"after").body == b"after"
    assert server.connections == 1


def test_content_length_body(serve, make_pool):
    """The body is read by Content-Length, and the connection stays usable."""
    server = serve(lambda seen: Reply(answer(b"x" * 1000, status="400 Bad Request")))
    pool = make_pool()
    response = pool.post(server.url, [], b"")
    assert (response.status, response.body) == (400, b"x" * 1000)
    pool.post(server.url, [], b"")
    assert server.connections == 1


def test_bytes_beyond_the_answer_make_the_connection_unusable(serve, make_pool):
    """A server that sends more than it framed is out of step: the pool closes that connection."""
    server = serve(lambda seen: Reply(answer(seen.body) + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"))
    pool = make_pool()
    assert pool.post(server.url, [], b"one").body == b"one"
    assert pool.post(server.url, [], b"two").body == b"two"
    assert [s.conn for s in server.seen] == [0, 1]


def test_chunked_body_with_several_chunks_and_a_trailer(serve, make_pool):
    """Chunks (one with an extension) are joined, the trailer is read past, the connection reused."""
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nX-Checksum: 1\r\n\r\n"
    )
    server = serve(lambda seen: Reply(chunked))
    pool = make_pool()
    assert pool.post(server.url, [], b"").body == b"hello 0123456789"
    assert pool.post(server.url, [], b"").body == b"hello 0123456789"
    assert server.connections == 1


def test_body_until_close_when_there_is_no_length(serve, make_pool):
    """Without Content-Length or chunking the body runs until the server closes; the next post reconnects."""
    server = serve(lambda seen: Reply(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it", close=True))
    pool = make_pool()
    assert pool.post(server.url, [], b"").body == b"all of it"
    assert pool.post(server.url, [], b"").body == b"all of it"
    assert [s.conn for s in server.seen] == [0, 1]


def test_connection_close_answer_makes_the_next_post_open_a_new_connection(serve, make_pool):
    """The pool closes a connection whose answer said Connection: close, though the server kept it open."""
    server = serve(lambda seen: Reply(answer(b"bye", "Connection: close")))
    pool = make_pool()
    assert pool.post(server.url, [], b"").body == b"bye"
    assert pool.post(server.url, [], b"").body == b"bye"
    assert [s.conn for s in server.seen] == [0, 1]


@pytest.mark.parametrize(("extra", "connections"), [((), [0, 1]), (("Connection: Keep-Alive",), [0, 0])])
def test_http_1_0_answer_closes_unless_keep_alive(serve, make_pool, extra, connections):
    """An HTTP/1.0 answer closes the connection after reading, unless it says Connection: keep-alive."""
    server = serve(lambda seen: Reply(answer(b"old", *extra, version="HTTP/1.0")))
    pool = make_pool()
    assert pool.post(server.url, [], b"").body == b"old"
    assert pool.post(server.url, [], b"").body == b"old"
    assert [s.conn for s in server.seen] == connections


def test_interim_1xx_answers_are_skipped(serve, make_pool):
    """100 Continue and 102 Processing (with a header) come before the real answer and are not returned."""
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-Progress: 1\r\n\r\n"
    server = serve(lambda seen: Reply(interim + answer(b"final", status="201 Created")))
    pool = make_pool()
    response = pool.post(server.url, [], b"")
    assert (response.status, response.body, "x-progress" in response.headers) == (201, b"final", False)
    pool.post(server.url, [], b"")
    assert server.connections == 1


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))],
)
def test_compressed_answer_is_decoded(serve, make_pool, encoding, encode):
    """Content-Encoding gzip and deflate (zlib-wrapped or raw) bodies come back decoded."""
    payload = b'{"Items": []}' * 500
    server = serve(lambda seen: Reply(answer(encode(payload), f"Content-Encoding: {encoding}")))
    assert make_pool().post(server.url, [], b"").body == payload


def test_undecodable_gzip_body_raises(serve, make_pool):
    """A body that claims gzip but is not raises TransportError."""
    server = serve(lambda seen: Reply(answer(b"plain", "Content-Encoding: gzip")))
    with pytest.raises(TransportError, match="gzip body does not decode"):
        make_pool().post(server.url, [], b"")


def test_answer_cut_short_names_the_url_and_byte_counts(serve, make_pool):
    """40 of 100 promised body bytes, then the server closes: TransportError with both counts."""
    server = serve(lambda seen: Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40, close=True))
    with pytest.raises(TransportError, match=f"POST {server.url}: answer cut short: 40 of 100 body bytes arrived"):
        make_pool().post(server.url, [], b"")
    assert server.connections == 1


def test_broken_chunked_answer_names_the_bytes_that_arrived(serve, make_pool):
    """A chunked body cut off inside a chunk, or with a bad chunk size, raises TransportError."""
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n9\r\nwor"
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0x3\r\nabc\r\n0\r\n\r\n"
    answers = iter([Reply(cut, close=True), Reply(bad)])
    server = serve(lambda seen: next(answers))
    pool = make_pool()
    with pytest.raises(TransportError, match="chunked answer cut short after 8 body bytes"):
        pool.post(server.url, [], b"")
    with pytest.raises(TransportError, match=r"broken chunked answer after 5 body bytes: bad chunk size b'0x3'"):
        pool.post(server.url, [], b"")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "malformed status line 'SSH-2.0-OpenSSH'"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed header line 'No colon here'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx", "bad Content-Length '1, 2'"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "unexpected 101 Switching Protocols"),
    ],
)
def test_malformed_answer_raises(serve, make_pool, raw, message):
    """An answer that is not well-formed HTTP/1.1 raises TransportError saying what is wrong."""
    server = serve(lambda seen: Reply(raw))
    with pytest.raises(TransportError, match=f"POST {server.url}: {message}"):
        make_pool().post(server.url, [], b"")


def test_server_closing_an_idle_connection_between_posts_is_noticed(serve, make_pool):
    """The server times out a kept-alive connection (a stray 408, then close): the next post goes out once, anew."""
    timeout = answer(b"", "Connection: close", status="408 Request Timeout")
    server = serve(lambda seen: Reply(answer(seen.body), later=timeout, close=True))
    pool = make_pool()
    assert pool.post(server.url, [], b"one").body == b"one"
    server.wait_idle()
    assert pool.post(server.url, [], b"two").body == b"two"
    assert [(s.conn, s.body) for s in server.seen] == [(0, b"one"), (1, b"two")]


def test_reused_connection_closed_as_the_request_arrives_is_retried_once_on_a_new_one(serve, make_pool):
    """The race a readability check cannot catch: the server drops the reused connection unanswered."""

    def drop_second_on_first(seen: Seen) -> Reply:
        if (seen.conn, seen.index) == (0, 1):
            return Reply(close=True)
        return Reply(answer(seen.body))

    server = serve(drop_second_on_first)
    pool = make_pool()
    assert pool.post(server.url, [], b"one").body == b"one"
    assert pool.post(server.url, [], b"two").body == b"two"
    answered = [(s.conn, s.body) for s in server.seen if (s.conn, s.index) != (0, 1)]
    assert answered == [(0, b"one"), (1, b"two")]
    assert server.connections == 2


def test_the_retry_on_a_new_connection_happens_only_once(serve, make_pool):
    """If the new connection is dropped unanswered too, the post fails: two sends in all, no loop."""
    server = serve(lambda seen: Reply(answer()) if (seen.conn, seen.index) == (0, 0) else Reply(close=True))
    pool = make_pool()
    pool.post(server.url, [], b"")
    with pytest.raises(TransportError, match="the server closed the connection before answering"):
        pool.post(server.url, [], b"")
    assert [(s.conn, s.index) for s in server.seen] == [(0, 0), (0, 1), (1, 0)]


def test_reused_connection_failing_after_part_of_the_answer_is_not_retried(serve, make_pool):
    """Once a byte of the answer arrived, the request may have run: TransportError, no second send."""

    def cut_second(seen: Seen) -> Reply:
        return Reply(b"HTTP/1.1 200", close=True) if seen.index == 1 else Reply(answer())

    server = serve(cut_second)
    pool = make_pool()
    pool.post(server.url, [], b"")
    with pytest.raises(TransportError, match="closed the connection after 12 bytes of the header"):
        pool.post(server.url, [], b"")
    assert len(server.seen) == 2


def test_fresh_connection_closed_before_answering_raises_without_retrying(serve, make_pool):
    """On a new connection, a server that closes without answering is an error, sent exactly once."""
    server = serve(lambda seen: Reply(close=True))
    with pytest.raises(TransportError, match=f"POST {server.url}: the server closed the connection before answering"):
        make_pool().post(server.url, [], b"x")
    assert server.connections == 1
    assert len(server.seen) == 1


def test_connection_refused_names_the_url(make_pool):
    """Nothing listening: TransportError naming the URL and the refusal, retryable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(TransportError, match=f"POST {url}: cannot connect: connection refused") as info:
        make_pool().post(url, [], b"")
    assert info.value.retryable


def test_read_timeout_raises_within_about_read_timeout(serve, make_pool):
    """A server that never answers: TransportError after about read_timeout; the next post reconnects."""
    silent = threading.Event()

    def hang_first(seen: Seen) -> Reply:
        if not silent.is_set():
            silent.set()
            server.release.wait(5)
            return Reply(close=True)
        return Reply(answer())

    server = serve(hang_first)
    pool = make_pool(read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransportError, match=f"POST {server.url}: timed out after 0.3 s"):
        pool.post(server.url, [], b"")
    assert 0.25 < time.monotonic() - started < 1.5
    assert pool.post(server.url, [], b"").status == 200
    assert server.connections == 2


def test_connection_idle_longer_than_max_idle_seconds_is_replaced(serve, make_pool):
    """Reused while fresh; after max_idle_seconds without use a new connection is opened."""
    server = serve()
    pool = make_pool(max_idle_seconds=0.15)
    pool.post(server.url, [], b"")
    pool.post(server.url, [], b"")
    time.sleep(0.3)
    pool.post(server.url, [], b"")
    assert [s.conn for s in server.seen] == [0, 0, 1]


def test_connection_older_than_max_age_seconds_is_replaced(serve, make_pool):
    """A connection in steady use is still replaced once it is older than max_age_seconds."""
    server = serve()
    pool = make_pool(max_age_seconds=0.3)
    for _ in range(8):
        pool.post(server.url, [], b"")
        time.sleep(0.06)
    conns = [s.conn for s in server.seen]
    assert conns[0] == 0 and conns[-1] == 1 and conns == sorted(conns)


def test_close_closes_idle_connections_and_the_pool_still_works(serve, make_pool):
    """After close() the server sees its connection closed; the next post opens a new one."""
    server = serve()
    pool = make_pool()
    pool.post(server.url, [], b"")
    pool.close()
    server.wait_idle()
    pool.post(server.url, [], b"")
    assert [s.conn for s in server.seen] == [0, 1]


def test_large_request_and_answer_bodies(serve, make_pool):
    """2 MB each way, by Content-Length and by chunks, byte for byte."""
    body = os.urandom(2 * 1024 * 1024)

    def echo(seen: Seen) -> Reply:
        if seen.index == 0:
            return Reply(answer(seen.body[::-1]))
        parts = [seen.body[i : i + 70000] for i in range(0, len(seen.body), 70000)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
        return Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")

    server = serve(echo)
    pool = make_pool()
    assert pool.post(server.url, [], body).body == body[::-1]
    assert pool.post(server.url, [], body).body == body
    assert [s.body == body for s in server.seen] == [True, True]
    assert server.connections == 1


def test_https_with_a_trusted_self_signed_certificate(tls_server, make_pool, certificate):
    """TLS to 127.0.0.1 with a context that trusts the test certificate; the connection is reused."""
    pool = make_pool(ssl_context=ssl.create_default_context(cafile=certificate[0]))
    url = f"https://127.0.0.1:{tls_server.port}/"
    assert pool.post(url, [], b"one").body == b"secret one"
    assert pool.post(url, [], b"two" * 100_000).body == b"secret " + b"two" * 100_000
    assert tls_server.connections == 1


def test_https_with_an_untrusted_certificate_is_not_retryable(tls_server, make_pool):
    """The default context does not trust a self-signed certificate: TransportError, retryable False."""
    url = f"https://127.0.0.1:{tls_server.port}/"
    with pytest.raises(TransportError, match=f"POST {url}: cannot connect: TLS certificate verification fail") as info:
        make_pool().post(url, [], b"")
    assert info.value.retryable is False
    assert not tls_server.seen


def test_https_connection_closed_as_the_request_arrives_is_retried_once(serve, make_pool, certificate):
    """The idle-close race over TLS: the dropped request goes out again on a new TLS connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    def drop_second_on_first(seen: Seen) -> Reply:
        return Reply(close=True) if (seen.conn, seen.index) == (0, 1) else Reply(answer(seen.body))

    server = serve(drop_second_on_first, tls=context)
    pool = make_pool(ssl_context=ssl.create_default_context(cafile=certificate[0]))
    url = f"https://127.0.0.1:{server.port}/"
    assert pool.post(url, [], b"one").body == b"one"
    assert pool.post(url, [], b"two").body == b"two"
    assert [(s.conn, s.body) for s in server.seen] == [(0, b"one"), (0, b"two"), (1, b"two")]
