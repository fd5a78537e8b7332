"""CA certificates and proxies on the data path (migrator.dynamo.transport, http_pool), against real servers on
127.0.0.1."""

from __future__ import annotations

import json
import pickle
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migrator.dynamo.alternator_nodes import NodeRouter
from migrator.dynamo.database import Database
from migrator.errors import ConfigError
from migrator.dynamo.http_pool import HttpPool, TransportError
from migrator.dynamo.transport import Transport, bypasses, resolve
from tests.integration.tls_servers import ConnectProxy, make_pki

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No proxy or CA settings of the machine running the tests leak in."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with its own method, path and Host as JSON; /localnodes lists 127.0.0.1."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/localnodes"):
            body = json.dumps(["127.0.0.1"]).encode()
        else:
            body = json.dumps({"method": self.command, "path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def start_server():
    """start_server(pki=None): an _Echo server on 127.0.0.1, TLS with the Pki's certificate when given."""
    servers = []

    def start(pki=None) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.daemon_threads = True
        server.handle_error = lambda *args: None  # refused handshakes are what some tests expect
        if pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.cert, pki.key)
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy():
    with ConnectProxy() as running:
        yield running


def port_of(server: ThreadingHTTPServer) -> int:
    return server.server_address[1]


# ---- which requests go through a proxy ---------------------------------------------------------------------------


@pytest.mark.parametrize("no_proxy, host, port, bypassed", [
    ("localhost", "localhost", 8000, True),
    ("127.0.0.1", "127.0.0.1", 8000, True),
    ("example.com", "db.example.com", 443, True),
    (".example.com", "db.example.com", 443, True),
    ("EXAMPLE.com", "db.Example.COM", 443, True),
    ("example.com", "example.com", 443, True),
    ("ample.com", "example.com", 443, False),
    ("db.example.com:8000", "db.example.com", 8000, True),
    ("db.example.com:8000", "db.example.com", 9000, False),
    ("other, 10.0.0.7 ,localhost", "10.0.0.7", 8000, True),
    ("*", "anything.at.all", 443, True),
    ("localhost", "127.0.0.1", 8000, False),
    ("", "localhost", 8000, False),
])
def test_no_proxy_bypasses_exact_hosts_addresses_suffixes_and_star_as_botocore_does(no_proxy, host, port, bypassed):
    """NO_PROXY: exact names and addresses, host:port, domain suffixes with or without a dot, `*`; nothing else."""
    assert bypasses(no_proxy, host, port) is bypassed


def test_https_endpoints_use_https_proxy_and_http_endpoints_http_proxy(monkeypatch):
    """Each scheme takes its own variable; NO_PROXY names hosts that go direct; lower-case names win."""
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy:3128")
    monkeypatch.setenv("http_proxy", "plain-proxy:8080")
    monkeypatch.setenv("HTTP_PROXY", "http://ignored:1")
    monkeypatch.setenv("NO_PROXY", "internal.example, 127.0.0.1")
    transport = resolve("source", None)
    assert (transport.proxy_for("https", "dynamodb.us-east-1.amazonaws.com", 443).host, transport.https_proxy.port) \
        == ("tls-proxy", 3128)
    assert (transport.proxy_for("http", "scylla", 8000).host, transport.http_proxy.port) == ("plain-proxy", 8080)
    assert transport.proxy_for("https", "db.internal.example", 8043) is None
    assert transport.proxy_for("http", "127.0.0.1", 8000) is None


def test_no_proxy_variables_means_direct_connections():
    """Without proxy variables every endpoint is reached directly."""
    transport = resolve("target", None)
    assert transport.proxy_for("https", "example.com", 443) is None
    assert transport.proxy_for("http", "example.com", 80) is None


def test_proxy_credentials_become_a_header_and_never_show_in_repr_or_messages(monkeypatch):
    """user:password in the proxy URL (percent-decoded) make a Basic Proxy-Authorization; repr hides them."""
    monkeypatch.setenv("HTTPS_PROXY", "http://us%40er:s3cr%3At@proxy.example:3128")
    transport = resolve("source", None)
    assert transport.https_proxy.authorization == "Basic dXNAZXI6czNjcjp0"  # base64 of "us@er:s3cr:t"
    connection = Database("source", "dynamodb", "us-east-1", transport=transport)
    assert transport.describe() == "trusts the system's CAs; https through proxy proxy.example:3128"
    for text in (repr(transport), repr(connection), transport.https_proxy.name, transport.describe()):
        assert "s3cr" not in text and "dXNAZXI6" not in text
    assert pickle.loads(pickle.dumps(connection)).transport == transport


def test_an_https_proxy_url_is_refused_naming_the_variable_without_the_password(monkeypatch):
    """A proxy reached over TLS is not supported: ConfigError naming HTTPS_PROXY and the fix, no password."""
    monkeypatch.setenv("HTTPS_PROXY", "https://user:hunter2@proxy.example:3129")
    with pytest.raises(ConfigError, match=r"^HTTPS_PROXY: .*https:// proxy at proxy.example:3129; write http://") \
            as info:
        resolve("source", None)
    assert "hunter2" not in str(info.value)


def test_an_https_proxy_url_is_refused_only_for_a_side_that_would_use_it(monkeypatch):
    """An http endpoint, or one NO_PROXY names, never uses HTTPS_PROXY, so its value does not stop the job."""
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3129")
    monkeypatch.setenv("NO_PROXY", "scylla.internal")
    assert resolve("target", None, "http://scylla:8000").proxy_for("http", "scylla", 8000) is None
    assert resolve("target", None, "https://scylla.internal:8043").https_proxy is None
    with pytest.raises(ConfigError, match="^HTTPS_PROXY: "):
        resolve("source", None, "https://dynamodb.us-east-1.amazonaws.com")


# ---- which CA certificates are trusted ---------------------------------------------------------------------------


def test_ca_bundle_key_wins_over_aws_ca_bundle_and_the_pem_itself_is_shipped(tmp_path, monkeypatch):
    """caBundle is read on the driver and its PEM text travels in the Transport; AWS_CA_BUNDLE is the fallback."""
    key_pki, env_pki = make_pki(tmp_path / "key"), make_pki(tmp_path / "env")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(env_pki.ca))
    assert resolve("source", str(key_pki.ca)).ca_pem == key_pki.ca.read_text()
    assert resolve("source", str(key_pki.ca)).ca_origin == f"source.caBundle: {key_pki.ca}"
    assert resolve("target", None).ca_pem == env_pki.ca.read_text()
    assert resolve("target", None, "http://scylla:8000").ca_pem is None  # plain http: the bundle is not shipped
    monkeypatch.delenv("AWS_CA_BUNDLE")
    assert resolve("target", None).ca_pem is None


@pytest.mark.parametrize("content, reason", [(None, "cannot read"), ("not a certificate\n", "no PEM certificate")])
def test_a_ca_bundle_that_is_missing_or_holds_no_certificate_is_a_config_error(tmp_path, content, reason):
    """The key, the path, what is wrong and the fix, in one line."""
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=rf"^target.caBundle: {reason} .*ca.pem.*; give the path of a PEM file"):
        resolve("target", str(path))


def test_the_shipped_ca_verifies_the_endpoint_without_the_file(tmp_path, start_server):
    """An executor that lacks the driver's CA file still verifies: the context is made from the shipped PEM."""
    pki = make_pki(tmp_path / "pki")
    server = start_server(pki)
    transport = resolve("source", str(pki.ca))
    pki.ca.unlink()
    pool = HttpPool(transport=pickle.loads(pickle.dumps(transport)))
    assert pool.post(f"https://localhost:{port_of(server)}/", [], b"x").status == 200
    pool.close()


def test_without_the_ca_the_certificate_fails_verification_and_is_not_retried(tmp_path, start_server):
    """The system's CAs do not know the test CA: TransportError naming certificate verification and the fix."""
    server = start_server(make_pki(tmp_path / "pki"))
    with pytest.raises(TransportError, match="certificate verification failed.*name its PEM file in caBundle") \
            as info:
        HttpPool().post(f"https://localhost:{port_of(server)}/", [], b"x")
    assert info.value.retryable is False


# ---- through a proxy ---------------------------------------------------------------------------------------------


def test_https_goes_through_a_connect_tunnel_and_tls_runs_end_to_end(tmp_path, start_server, proxy):
    """One CONNECT localhost:PORT tunnel carries both requests; the server sees origin-form paths."""
    pki = make_pki(tmp_path / "pki")
    server = start_server(pki)
    transport = Transport(ca_pem=pki.ca.read_text(), https_proxy=resolve_proxy(proxy.url))
    pool = HttpPool(transport=transport)
    url = f"https://localhost:{port_of(server)}/path?q=1"
    answers = [json.loads(pool.post(url, [], b"x").body) for _ in range(2)]
    assert answers == [{"method": "POST", "path": "/path?q=1", "host": f"localhost:{port_of(server)}"}] * 2
    assert (proxy.tunnels, proxy.requests, proxy.targets) == (1, 0, [f"localhost:{port_of(server)}"])
    pool.close()


def test_http_goes_through_the_proxy_with_the_absolute_url_as_target(start_server, proxy):
    """A plain-http endpoint: the request line carries the whole URL, and the proxy forwards it."""
    server = start_server()
    pool = HttpPool(transport=Transport(http_proxy=resolve_proxy(proxy.url)))
    url = f"http://127.0.0.1:{port_of(server)}/p"
    assert json.loads(pool.post(url, [], b"x").body)["path"] == "/p"
    assert (proxy.tunnels, proxy.requests, proxy.targets) == (0, 1, [url])
    pool.close()


def test_no_proxy_host_is_reached_directly(tmp_path, start_server, proxy):
    """With the endpoint's host in NO_PROXY the proxy sees no request at all."""
    pki = make_pki(tmp_path / "pki")
    server = start_server(pki)
    transport = Transport(ca_pem=pki.ca.read_text(), https_proxy=resolve_proxy(proxy.url), no_proxy="localhost")
    pool = HttpPool(transport=transport)
    assert pool.post(f"https://localhost:{port_of(server)}/", [], b"x").status == 200
    assert proxy.targets == []
    pool.close()


def test_proxy_credentials_reach_the_proxy_and_a_refusal_names_the_proxy_not_the_password(tmp_path, start_server):
    """Right credentials: the tunnel opens. Wrong ones: 407, not retried, message without the password."""
    pki = make_pki(tmp_path / "pki")
    server = start_server(pki)
    url = f"https://localhost:{port_of(server)}/"
    with ConnectProxy(credentials="mig:pa55") as proxy:
        good = Transport(ca_pem=pki.ca.read_text(), https_proxy=resolve_proxy(f"http://mig:pa55@127.0.0.1:{proxy.port}"))
        assert HttpPool(transport=good).post(url, [], b"x").status == 200
        bad = Transport(ca_pem=pki.ca.read_text(), https_proxy=resolve_proxy(f"http://mig:wrong@127.0.0.1:{proxy.port}"))
        with pytest.raises(TransportError, match=rf"cannot connect: proxy 127.0.0.1:{proxy.port} refused the tunnel "
                                                 r"to localhost:\d+: HTTP 407") as info:
            HttpPool(transport=bad).post(url, [], b"x")
        assert (proxy.tunnels, proxy.refused) == (1, 1)
    assert info.value.retryable is False and "wrong" not in str(info.value) and "mig" not in str(info.value)


def resolve_proxy(url: str):
    from migrator.dynamo.transport import _proxy

    return _proxy(url, "HTTPS_PROXY")


# ---- Alternator: nodes are addresses, certificates name the seed -------------------------------------------------


def test_a_node_reached_by_address_is_verified_against_the_seed_name(tmp_path, start_server):
    """A certificate for scylla.test only: reached at 127.0.0.1 it verifies for the seed's name, not without it."""
    pki = make_pki(tmp_path / "pki", dns_names=("scylla.test",), ip_addresses=())
    server = start_server(pki)
    url = f"https://127.0.0.1:{port_of(server)}/"
    transport = Transport(ca_pem=pki.ca.read_text())
    assert HttpPool(transport=transport, server_name="scylla.test").post(url, [], b"x").status == 200
    with pytest.raises(TransportError, match="certificate verification failed: IP address mismatch.*"
                                             "checked for the name '127.0.0.1'"):
        HttpPool(transport=transport).post(url, [], b"x")
    with pytest.raises(TransportError, match="certificate verification failed.*checked for the name '127.0.0.1'"):
        HttpPool(transport=transport, server_name="other.test").post(url, [], b"x")


def test_a_node_certificate_naming_its_own_address_is_accepted_too(tmp_path, start_server):
    """Per-node certificates for the node's address: the seed's name does not match, the address does."""
    pki = make_pki(tmp_path / "pki", dns_names=(), ip_addresses=("127.0.0.1",))
    server = start_server(pki)
    pool = HttpPool(transport=Transport(ca_pem=pki.ca.read_text()), server_name="scylla.test")
    for _ in range(2):
        assert pool.post(f"https://127.0.0.1:{port_of(server)}/", [], b"x").status == 200
    pool.close()


def test_alternator_discovery_and_requests_over_https_verify_nodes_by_the_seed_name(tmp_path, start_server):
    """Seed https://localhost; /localnodes lists 127.0.0.1, whose certificate names only localhost: both work."""
    pki = make_pki(tmp_path / "pki", dns_names=("localhost",), ip_addresses=())
    server = start_server(pki)
    seed = f"https://localhost:{port_of(server)}"
    transport = Transport(ca_pem=pki.ca.read_text())
    router = NodeRouter(seed, None, transport)
    try:
        assert router.nodes == ("127.0.0.1",)
    finally:
        router.close()
    connection = Database("target", "alternator", "us-east-1", endpoint_url=seed, transport=transport)
    with connection.api() as api:
        assert api.call("DescribeEndpoints", {})["host"] == f"127.0.0.1:{port_of(server)}"
