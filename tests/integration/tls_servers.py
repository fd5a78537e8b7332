"""Loopback TLS and proxy servers for the TLS and proxy tests: a CA the test makes, a TLS-terminating forwarder in
front of a plain DynamoDB-compatible server, and an HTTP proxy that counts CONNECT tunnels.

    pki = make_pki(tmp_path)                               # ca.pem, and a certificate for localhost and 127.0.0.1
    with TlsForwarder(server.url, pki) as tls, ConnectProxy() as proxy:
        ... https://localhost:{tls.port} ... HTTPS_PROXY=proxy.url ...
        assert proxy.tunnels > 0
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.loopback_http import forward


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate, PEM: what a client is told to trust
    cert: Path  # the server's certificate, signed by the CA
    key: Path  # its private key


def make_pki(folder: Path, dns_names: tuple[str, ...] = ("localhost",),
             ip_addresses: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    """A fresh CA and a server certificate it signs for these names and addresses, as PEM files in `folder`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"migrator test CA {folder.name}")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (dns_names or ip_addresses)[0])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pki


def _pump(one: socket.socket, other: socket.socket, first: bytearray | None = None) -> None:
    """Copy bytes both ways until either side closes; the first bytes from `one` are also kept in `first`."""
    socks = [one, other]
    try:
        while True:
            pending = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
            ready = pending or select.select(socks, [], [], 120)[0]
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is one and first is not None and len(first) < 4096:
                    first += data
                (other if sock is one else one).sendall(data)
    except OSError:
        return
    finally:
        one.close()
        other.close()


class _Listener:
    """A thread accepting connections on `address` and handing each to `self._serve` in its own thread."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.create_server((address, port))
        self.port = self._sock.getsockname()[1]
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name=type(self).__name__)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class Accepted:
    peer_port: int  # the client's port: matches a proxy's upstream_ports when it came through the proxy
    head: bytearray = field(default_factory=bytearray)  # the first bytes the client sent after the handshake

    @property
    def user_agent(self) -> str:
        """The User-Agent of the connection's first request."""
        for line in bytes(self.head).split(b"\r\n\r\n")[0].split(b"\r\n"):
            if line.lower().startswith(b"user-agent:"):
                return line.split(b":", 1)[1].strip().decode("latin-1")
        return ""


class TlsForwarder(_Listener):
    """Terminates TLS with the Pki's certificate and forwards the plain bytes to `upstream_url` (http).

    With `localnodes`, a connection whose first request is `GET /localnodes` gets that list (as an Alternator node
    answers) instead, and is closed."""

    def __init__(self, upstream_url: str, pki: Pki, *, address: str = "127.0.0.1", port: int = 0,
                 localnodes: list[str] | None = None) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname, parts.port)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(pki.cert, pki.key)
        self._localnodes = localnodes
        self.accepted: list[Accepted] = []  # connections whose handshake succeeded
        self.handshake_failures = 0  # connections whose client refused the certificate (or the handshake failed)
        self.localnodes_answered = 0
        super().__init__(address, port)

    def url(self, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}"

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        conn.settimeout(30)
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            with self.lock:
                self.handshake_failures += 1
            return
        tls.settimeout(None)
        record = Accepted(peer[1])
        with self.lock:
            self.accepted.append(record)
        if self._localnodes is not None:
            try:
                first = tls.recv(65536)
            except OSError:
                tls.close()
                return
            if first.startswith(b"GET /localnodes"):
                body = json.dumps(self._localnodes).encode()
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                with self.lock:
                    self.localnodes_answered += 1
                tls.close()
                return
            record.head += first
        try:
            upstream = socket.create_connection(self._upstream, timeout=30)
        except OSError:
            tls.close()
            return
        upstream.settimeout(None)
        if record.head:
            upstream.sendall(bytes(record.head))
        _pump(tls, upstream, record.head)


class ConnectProxy(_Listener):
    """An HTTP proxy: CONNECT tunnels (counted) and absolute-form http requests (counted, forwarded one by one).

    With `credentials` ("user:password") set, a request without that Basic Proxy-Authorization gets 407."""

    def __init__(self, credentials: str | None = None) -> None:
        import base64

        self._expected = None if credentials is None else "Basic " + base64.b64encode(credentials.encode()).decode()
        self.tunnels = 0  # CONNECT requests answered 200
        self.requests = 0  # absolute-form requests forwarded
        self.refused = 0  # answered 407
        self.targets: list[str] = []  # request targets seen (CONNECT authority or absolute URL)
        self.upstream_ports: set[int] = set()  # local ports of the tunnels' upstream connections
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        conn.settimeout(60)
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline(65536).decode("latin-1").rstrip("\r\n")
                if not line:
                    return
                headers = []
                while (header := reader.readline(65536).decode("latin-1").rstrip("\r\n")):
                    name, _, value = header.partition(":")
                    headers.append((name.strip(), value.strip()))
                method, target, _ = line.split(" ", 2)
                with self.lock:
                    self.targets.append(target)
                auth = next((v for n, v in headers if n.lower() == "proxy-authorization"), None)
                length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
                body = reader.read(length) if length else b""
                if self._expected is not None and auth != self._expected:
                    with self.lock:
                        self.refused += 1
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                    continue
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
                    upstream.settimeout(None)
                    with self.lock:
                        self.tunnels += 1
                        self.upstream_ports.add(upstream.getsockname()[1])
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    conn.settimeout(None)
                    _pump(conn, upstream)
                    return
                self._forward(conn, method, target, headers, body)
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            conn.close()

    def _forward(self, conn: socket.socket, method: str, target: str, headers: list, body: bytes) -> None:
        parts = urlsplit(target)
        status, reason, answer_headers, data = forward(
            (parts.hostname, parts.port or 80), method, parts.path + (f"?{parts.query}" if parts.query else ""),
            headers, body, timeout=60, skip={"proxy-authorization", "content-length", "connection"})
        with self.lock:
            self.requests += 1
        head = [f"HTTP/1.1 {status} {reason}"]
        head += [f"{n}: {v}" for n, v in answer_headers
                 if n.lower() not in ("content-length", "transfer-encoding", "connection")]
        head.append(f"Content-Length: {len(data)}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
