"""TLS and proxies end to end: https endpoints whose CA the test makes, and an HTTP CONNECT proxy, through
./submit.sh. Each endpoint is a TLS-terminating forwarder on 127.0.0.1 in front of dynalite."""

from __future__ import annotations

import contextlib
import re

import pytest

from migrator.dynamo.api import USER_AGENT
from migrator.demo.sample_data import count_items, create_table, fill_table
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.alternator_nodes import ADDRESSES, common_free_port
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.tls_servers import ConnectProxy, TlsForwarder, make_pki

pytestmark = pytest.mark.integration

ITEMS = 600
HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
INHERITED = ("AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_inherited_tls_or_proxy_settings(monkeypatch):
    """Each run gets exactly the CA and proxy settings its test names, none from the machine."""
    for name in INHERITED:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(source, target): two dynalite servers, each behind a TLS forwarder with a certificate for localhost and
    127.0.0.1 from a CA the test made; and that CA."""
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder / "pki")
    with start_dynalite(folder) as source, start_dynalite(folder) as target, \
            TlsForwarder(source.url, pki) as source_tls, TlsForwarder(target.url, pki) as target_tls:
        yield source, target, source_tls, target_tls, pki


def source_table_of(source) -> str:
    """A new source table of ITEMS items."""
    table = fresh_table_name("tls")
    client = client_for(source)
    create_table(client, table, **HASH_KEY)
    fill_table(client, table, [{"id": {"S": f"item-{i:05d}"}, "n": {"N": str(i)}} for i in range(ITEMS)])
    return table


def data_path_connections(forwarder: TlsForwarder) -> list:
    """The connections the forwarder accepted from the data path (its User-Agent), not from boto3."""
    return [a for a in forwarder.accepted if a.user_agent == USER_AGENT]


def test_aws_ca_bundle_lets_the_data_path_read_an_https_source(servers, tmp_path):
    """AWS_CA_BUNDLE names the test CA: control plane and every task verify the https source; all items copied."""
    source, target, source_tls, _, pki = servers
    table, copy = source_table_of(source), fresh_table_name("tls-copy")
    before = len(data_path_connections(source_tls))
    config = write_config(tmp_path / "env.yaml", source_tls.url("localhost"), table, target.url, copy,
                          source_extra={"scanSegments": 4})
    run = run_submit(config, "--master", "local[2]", env={"AWS_CA_BUNDLE": str(pki.ca)})
    assert run.returncode == 0, describe(run.stdout)
    assert count_items(client_for(target), copy) == ITEMS
    assert len(data_path_connections(source_tls)) > before  # the scans went over TLS through the forwarder


def test_ca_bundle_keys_verify_https_source_and_alternator_target(servers, tmp_path):
    """source.caBundle and target.caBundle, no environment: both https sides verified, all items copied."""
    source, target, source_tls, target_tls, pki = servers
    table, copy = source_table_of(source), fresh_table_name("tls-copy")
    before = len(data_path_connections(target_tls))
    config = write_config(tmp_path / "keys.yaml", source_tls.url("localhost"), table, target_tls.url("localhost"),
                          copy, source_extra={"scanSegments": 4, "caBundle": str(pki.ca)},
                          target_extra={"caBundle": str(pki.ca)})
    run = run_submit(config, "--master", "local[2]")
    assert run.returncode == 0, describe(run.stdout)
    assert count_items(client_for(target), copy) == ITEMS
    assert len(data_path_connections(target_tls)) > before  # the writes went over TLS through the forwarder


def test_without_the_ca_the_run_fails_naming_certificate_verification(servers, tmp_path):
    """No CA named: the run fails (exit 1) with a message about certificate verification; nothing is copied."""
    source, target, source_tls, _, _ = servers
    table, copy = source_table_of(source), fresh_table_name("tls-copy")
    failures = source_tls.handshake_failures
    config = write_config(tmp_path / "none.yaml", source_tls.url("localhost"), table, target.url, copy)
    run = run_submit(config, "--master", "local[2]")
    assert run.returncode == 1, describe(run.stdout)
    assert re.search(r"certificate verif", run.stdout, re.IGNORECASE), describe(run.stdout)
    assert "Traceback" not in run.stdout
    assert source_tls.handshake_failures > failures
    assert copy not in client_for(target).list_tables()["TableNames"]


@pytest.mark.parametrize("bypass", [False, True], ids=["HTTPS_PROXY", "NO_PROXY"])
def test_https_proxy_carries_every_connection_unless_no_proxy_names_the_host(servers, tmp_path, bypass):
    """HTTPS_PROXY: every data-path connection to the https source is a CONNECT tunnel of the proxy.
    NO_PROXY=localhost as well: no tunnel at all. Either way every item arrives."""
    source, target, source_tls, _, pki = servers
    table, copy = source_table_of(source), fresh_table_name("tls-copy")
    seen = len(source_tls.accepted)
    config = write_config(tmp_path / "proxy.yaml", source_tls.url("localhost"), table, target.url, copy,
                          source_extra={"scanSegments": 4, "caBundle": str(pki.ca)})
    with ConnectProxy() as proxy:
        env = {"HTTPS_PROXY": proxy.url, **({"NO_PROXY": "example.com,localhost"} if bypass else {})}
        run = run_submit(config, "--master", "local[2]", env=env)
    assert run.returncode == 0, describe(run.stdout)
    assert count_items(client_for(target), copy) == ITEMS
    data_path = [a for a in source_tls.accepted[seen:] if a.user_agent == USER_AGENT]
    assert data_path, [a.user_agent for a in source_tls.accepted[seen:]]
    if bypass:
        assert proxy.tunnels == 0 and proxy.targets == []
    else:
        assert proxy.tunnels >= len(data_path) > 0
        assert all(a.peer_port in proxy.upstream_ports for a in data_path)
        assert set(proxy.targets) == {f"localhost:{source_tls.port}"}


def test_alternator_nodes_found_by_address_are_verified_for_the_seed_name(servers, tmp_path):
    """Seed https://localhost; /localnodes lists 127.0.0.1-3, whose certificate names only localhost: all three
    nodes take writes over verified TLS, no handshake fails, every item arrives."""
    source, target, _, _, _ = servers
    pki = make_pki(tmp_path / "pki", dns_names=("localhost",), ip_addresses=())
    table, copy = source_table_of(source), fresh_table_name("tls-copy")
    port = common_free_port(ADDRESSES)
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(TlsForwarder(target.url, pki, address=a, port=port, localnodes=list(ADDRESSES)))
                 for a in ADDRESSES]
        config = write_config(tmp_path / "nodes.yaml", source.url, table, f"https://localhost:{port}", copy,
                              source_extra={"scanSegments": 6, "maxMapTasks": 3},
                              target_extra={"caBundle": str(pki.ca)})
        run = run_submit(config, "--master", "local[3]")
    assert run.returncode == 0, describe(run.stdout)
    assert "3 nodes discovered through /localnodes: 127.0.0.1, 127.0.0.2, 127.0.0.3" in run.stdout
    assert count_items(client_for(target), copy) == ITEMS
    assert [len(data_path_connections(node)) > 0 for node in nodes] == [True] * 3
    assert [node.handshake_failures for node in nodes] == [0] * 3
