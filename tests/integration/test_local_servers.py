"""Local servers start and stop cleanly, sample data survives them, and the proxy sheds writes."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import zlib

import boto3
import pytest

from migrator.demo.sample_data import create_demo_table, create_table, fill_table, scan_all
from migrator.demo.sample_items import ALL_BYTES, canonical, demo_items, edge_items, from_boto3, key_of, to_boto3
from migrator.demo import servers
from migrator.demo.servers import (
    LocalServer, client_for, dynalite_executable, free_port, start_dynalite, start_moto,
)
from tests.integration.unprocessed_proxy import UnprocessedProxy

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])


needs_dynalite = pytest.mark.skipif(dynalite_executable() is None,
                                    reason="dynalite not installed: npm install dynalite@4")


def sorted_by_id(items):
    return sorted(items, key=lambda item: key_of(item, ["id"]))


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def dynalite(tmp_path_factory):
    if dynalite_executable() is None:
        pytest.skip("dynalite not installed: npm install dynalite@4")
    with start_dynalite(tmp_path_factory.mktemp("dynalite")) as server:
        yield server


# ------------------------------------------------------------------ servers


@pytest.mark.parametrize("start", [start_moto, pytest.param(start_dynalite, marks=needs_dynalite)])
def test_server_starts_answers_and_is_gone_after_stop(start, tmp_path):
    """The server answers ListTables on 127.0.0.1; after stop() its PID no longer exists; stop() twice is fine."""
    server = start(tmp_path)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.log_path.parent == tmp_path
        assert client_for(server).list_tables()["TableNames"] == []
        assert process_exists(server.pid)
    finally:
        server.stop()
    assert not process_exists(server.pid)
    server.stop()


def test_server_context_manager_stops_it(tmp_path):
    """Leaving the with block stops the server."""
    with start_moto(tmp_path) as server:
        assert isinstance(server, LocalServer) and server.running
    assert not server.running and not process_exists(server.pid)


def test_start_failure_names_the_log_file(tmp_path):
    """A server that cannot bind its port raises RuntimeError quoting its log."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match="moto-.*log") as error:
            start_moto(tmp_path, port=busy.getsockname()[1])
    assert str(tmp_path) in str(error.value)


def test_dynalite_is_looked_up_in_the_repo_before_path(repo_root, tmp_path, monkeypatch):
    """<repo>/node_modules/.bin/dynalite wins over PATH; the repo root is found from the module file."""
    assert repo_root == servers.REPO_ROOT
    fake_bin = tmp_path / "node_modules" / ".bin"
    fake_bin.mkdir(parents=True)
    (fake_bin / "dynalite").write_text("#!/bin/sh\n")
    monkeypatch.setattr(servers, "REPO_ROOT", tmp_path)
    assert servers.dynalite_executable() == str(fake_bin / "dynalite")
    monkeypatch.setattr(servers, "REPO_ROOT", tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", str(fake_bin))
    (fake_bin / "dynalite").chmod(0o755)
    assert servers.dynalite_executable() == str(fake_bin / "dynalite")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert servers.dynalite_executable() is None


def test_free_port_can_be_bound():
    """free_port returns a loopback port nobody holds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


def test_source_and_target_are_independent_databases(moto_source, moto_target, fresh_table_name):
    """A table created in the source moto does not exist in the target moto."""
    name = fresh_table_name("independent")
    create_table(client_for(moto_source), name, **HASH_KEY)
    assert name in client_for(moto_source).list_tables()["TableNames"]
    assert name not in client_for(moto_target).list_tables()["TableNames"]


@pytest.mark.parametrize("server_name", ["moto_source", pytest.param("dynalite", marks=needs_dynalite)])
def test_server_does_not_check_signatures(server_name, request):
    """A client with the wrong secret key is served: proxies need not re-sign modified requests."""
    server = request.getfixturevalue(server_name)
    wrong = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="not-the-secret")
    assert "TableNames" in wrong.list_tables()


# ------------------------------------------------------------------ data round trips


def test_edge_items_round_trip_through_moto_unchanged(moto_source, fresh_table_name):
    """Every edge item, written with to_boto3 and read with from_boto3, equals its wire form exactly."""
    client = client_for(moto_source)
    table = fresh_table_name("edge")
    create_table(client, table, **HASH_KEY)
    items = edge_items()
    assert fill_table(client, table, items) == len(items)
    assert scan_all(client, table) == sorted_by_id(items)


def test_all_256_byte_values_come_back_exact(moto_source, fresh_table_name):
    """GetItem returns the 256-byte binary byte for byte, both as bytes and as base64 wire form."""
    client = client_for(moto_source)
    table = fresh_table_name("bytes")
    create_table(client, table, **HASH_KEY)
    item = next(i for i in edge_items() if i["id"]["S"] == "binary-all-bytes")
    client.put_item(TableName=table, Item=to_boto3(item))
    got = client.get_item(TableName=table, Key={"id": item["id"]}, ConsistentRead=True)["Item"]
    assert got["data"]["B"] == ALL_BYTES
    assert from_boto3(got)["data"]["B"] == base64.b64encode(ALL_BYTES).decode()


@needs_dynalite
def test_edge_items_round_trip_through_dynalite_up_to_number_spelling(dynalite, fresh_table_name):
    """dynalite keeps every value but prints numbers in plain notation (1E+125 -> 1000...0)."""
    client = client_for(dynalite)
    table = fresh_table_name("edge")
    create_table(client, table, **HASH_KEY)
    items = edge_items()
    fill_table(client, table, items)
    back = scan_all(client, table)
    assert [canonical(i) for i in back] == [canonical(i) for i in sorted_by_id(items)]
    exponent = next(i for i in back if i["id"]["S"] == "number-exponent-large")
    assert exponent["value"]["N"] == "1" + "0" * 125


@pytest.mark.parametrize("server_name", ["moto_source", pytest.param("dynalite", marks=needs_dynalite)])
def test_demo_table_has_indexes_and_scans_back_in_segments(server_name, request, fresh_table_name):
    """create_demo_table builds the GSI and LSI; 300 demo items scan back whole with 1 or 4 segments."""
    client = client_for(request.getfixturevalue(server_name))
    table = fresh_table_name("demo")
    description = create_demo_table(client, table)
    assert [g["IndexName"] for g in description["GlobalSecondaryIndexes"]] == ["by_gsi_pk"]
    assert [i["IndexName"] for i in description["LocalSecondaryIndexes"]] == ["by_lsi_sk"]
    items = list(demo_items(300))
    assert fill_table(client, table, items) == 300
    expected = [canonical(i) for i in sorted(items, key=lambda i: key_of(i, ["pk", "sk"]))]
    assert [canonical(i) for i in scan_all(client, table)] == expected
    assert [canonical(i) for i in scan_all(client, table, segments=4)] == expected
    gsi_pk = items[0]["gsi_pk"]
    by_gsi = client.query(TableName=table, IndexName="by_gsi_pk", KeyConditionExpression="gsi_pk = :g",
                          ExpressionAttributeValues={":g": gsi_pk})["Items"]
    assert len(by_gsi) == sum(1 for i in items if i["gsi_pk"] == gsi_pk)


# ------------------------------------------------------------------ unprocessed proxy


def raw_post(url: str, target: str, body: dict) -> tuple[int, dict, bytes]:
    """POST to a DynamoDB endpoint without signing (dummy Authorization header)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/", json.dumps(body), {
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0000",
        })
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_proxy_returns_every_second_write_unprocessed_and_forwards_the_rest(moto_source, fresh_table_name):
    """Of 10 puts the proxy forwards 5 (indexes 0,2,4,...) and returns the other 5 in UnprocessedItems."""
    table = fresh_table_name("proxy")
    create_table(client_for(moto_source), table, **HASH_KEY)
    items = [{"id": {"S": f"item-{i}"}, "blob": {"B": base64.b64encode(bytes([i])).decode()}} for i in range(10)]
    with UnprocessedProxy(moto_source.url) as proxy:
        status, headers, body = raw_post(proxy.url, "BatchWriteItem",
                                         {"RequestItems": {table: [{"PutRequest": {"Item": i}} for i in items]}})
        assert status == 200
        assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
        unprocessed = json.loads(body)["UnprocessedItems"][table]
        assert [w["PutRequest"]["Item"] for w in unprocessed] == items[1::2]
        assert proxy.counts() == {"batches_seen": 1, "items_forwarded": 5, "items_unprocessed": 5,
                                  "requests_seen": 1}
    assert scan_all(client_for(moto_source), table) == items[0::2]


def test_proxy_forwards_a_single_write_so_retries_progress(moto_source, fresh_table_name):
    """A one-item batch always goes through: a writer that retries eventually writes everything."""
    table = fresh_table_name("proxy-one")
    create_table(client_for(moto_source), table, **HASH_KEY)
    with UnprocessedProxy(moto_source.url) as proxy:
        item = {"id": {"S": "solo"}}
        status, _, body = raw_post(proxy.url, "BatchWriteItem",
                                   {"RequestItems": {table: [{"PutRequest": {"Item": item}}]}})
        assert status == 200 and json.loads(body)["UnprocessedItems"] == {}
    assert scan_all(client_for(moto_source), table) == [item]


def test_fill_table_through_proxy_writes_everything_after_retries(moto_source, fresh_table_name):
    """boto3 accepts the rewritten responses as sent (no crc32 retries) and fill_table re-sends until done."""
    table = fresh_table_name("proxy-fill")
    create_table(client_for(moto_source), table, **HASH_KEY)
    items = edge_items()
    calls = []
    with UnprocessedProxy(moto_source.url) as proxy:
        client = client_for(proxy.url)
        # after-call fires once per API call, after botocore's own retries (which a bad x-amz-crc32 triggers).
        client.meta.events.register("after-call.dynamodb.BatchWriteItem", lambda **kw: calls.append(1))
        assert fill_table(client, table, items, threads=2) == len(items)
        counts = proxy.counts()
    assert counts["batches_seen"] == len(calls) > 2
    assert counts["items_forwarded"] == len(items)
    assert counts["items_unprocessed"] >= len(items) // 2
    assert scan_all(client_for(moto_source), table) == sorted_by_id(items)


def test_proxy_can_hold_back_every_write(moto_source, fresh_table_name):
    """With forward_every=None nothing reaches the server and every write comes back unprocessed."""
    table = fresh_table_name("proxy-none")
    create_table(client_for(moto_source), table, **HASH_KEY)
    writes = [{"PutRequest": {"Item": {"id": {"S": str(i)}}}} for i in range(3)]
    with UnprocessedProxy(moto_source.url, forward_every=None) as proxy:
        status, headers, body = raw_post(proxy.url, "BatchWriteItem", {"RequestItems": {table: writes}})
        assert status == 200 and int(headers["x-amz-crc32"]) == zlib.crc32(body)
        assert json.loads(body) == {"UnprocessedItems": {table: writes}}
        assert proxy.items_forwarded == 0 and proxy.items_unprocessed == 3
    assert scan_all(client_for(moto_source), table) == []


def test_proxy_passes_other_requests_and_errors_through_unchanged(moto_source, fresh_table_name):
    """Non-batch calls, and the server's error responses, reach the client as the server sent them."""
    table = fresh_table_name("proxy-pass")
    create_table(client_for(moto_source), table, **HASH_KEY)
    with UnprocessedProxy(moto_source.url) as proxy:
        direct = raw_post(moto_source.url, "DescribeTable", {"TableName": table})
        proxied = raw_post(proxy.url, "DescribeTable", {"TableName": table})
        assert proxied[0] == direct[0] == 200
        assert json.loads(proxied[2]) == json.loads(direct[2])
        assert int(proxied[1]["x-amz-crc32"]) == zlib.crc32(proxied[2])
        client = client_for(proxy.url)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_table(TableName=fresh_table_name("missing"))
        assert proxy.batches_seen == 0 and proxy.requests_seen >= 2


def test_proxy_stop_closes_its_port(moto_source):
    """After stop() nothing listens on the proxy's port; stop() twice is fine."""
    proxy = UnprocessedProxy(moto_source.url)
    port = int(proxy.url.rsplit(":", 1)[1])
    proxy.stop()
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
