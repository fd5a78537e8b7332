import pytest

from migrator.api_client import DynamoApi, RetryPolicy
from migrator.codec import loads
from migrator.errors import RequestError, ThrottledError
from migrator.http_pool import TransportError
from tests.unit.fakes import FakePool, FakeResponse

FAST = RetryPolicy(max_attempts=4, base_delay=0.0001, max_delay=0.001)


def api_with(answers) -> tuple[DynamoApi, FakePool]:
    api = DynamoApi("http://127.0.0.1:1", "us-east-1", None, retry=FAST)
    pool = FakePool(answers)
    api._pool = pool
    return api, pool


def error(code: str, status: int = 400) -> FakeResponse:
    return FakeResponse(status, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "no"})


def test_throttling_and_overload_are_retried_until_success():
    """ProvisionedThroughputExceeded, Alternator's RequestLimitExceeded and 5xx are retried."""
    api, pool = api_with([
        error("ProvisionedThroughputExceededException"),
        error("RequestLimitExceeded"),
        FakeResponse(503, b"busy"),
        FakeResponse(200, {"Items": []}),
    ])
    assert api.call("Scan", {"TableName": "t"}) == {"Items": []}
    assert len(pool.requests) == 4


def test_connection_errors_and_timeouts_are_retried():
    """A refused connection or a read timeout is transient."""
    api, pool = api_with([
        TransportError("POST http://127.0.0.1:1: cannot connect: connection refused"),
        TransportError("POST http://127.0.0.1:1: timed out after 60 s"),
        FakeResponse(200, {"ok": 1}),
    ])
    assert api.call("Scan", {}) == {"ok": 1}


def test_crc_mismatch_is_retried():
    """A body whose CRC32 differs from the x-amz-crc32 header is read again."""
    api, pool = api_with([FakeResponse(200, {"Items": []}, crc=12345), FakeResponse(200, {"Items": [1]})])
    assert api.call("Scan", {}) == {"Items": [1]}
    assert len(pool.requests) == 2


def test_retries_are_bounded_and_name_the_last_throttle():
    """After max_attempts of throttling the call raises ThrottledError with the code."""
    api, pool = api_with([error("ThrottlingException")] * 4)
    with pytest.raises(ThrottledError, match="failed 4 times.*ThrottlingException") as info:
        api.call("BatchWriteItem", {})
    assert info.value.code == "ThrottlingException"
    assert len(pool.requests) == 4


def test_validation_errors_are_not_retried():
    """A request the server refuses as invalid fails at once with its message."""
    api, pool = api_with([error("ValidationException")])
    with pytest.raises(RequestError, match="refused: HTTP 400 ValidationException: no"):
        api.call("BatchWriteItem", {})
    assert len(pool.requests) == 1


def test_requests_are_signed_when_credentials_are_given():
    """SigV4 Authorization and date headers are added; unsigned without credentials."""
    from botocore.credentials import Credentials

    seen = {}

    class Pool:
        def post(self, url, headers, body):
            seen.update(headers)
            return FakeResponse(200, {})

    api = DynamoApi("http://127.0.0.1:1", "eu-west-1", Credentials("AKIDEXAMPLE", "secret"), retry=FAST)
    api._pool = Pool()
    api.call("Scan", {"TableName": "t"})
    assert seen["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in seen["Authorization"]
    assert "secret" not in seen["Authorization"]
    assert seen["X-Amz-Target"] == "DynamoDB_20120810.Scan"


def test_a_retry_goes_to_the_next_node():
    """With a node picker, each attempt asks for a node, so a refused connection is retried elsewhere."""
    nodes = iter(["http://127.0.0.1:1", "http://127.0.0.2:1"])
    urls = []

    class Pool:
        def post(self, url, headers, body):
            urls.append(url)
            if len(urls) == 1:
                raise TransportError(f"POST {url}: cannot connect: connection refused")
            return FakeResponse(200, {})

    api = DynamoApi(lambda: next(nodes), "us-east-1", None, retry=FAST)
    api._pool = Pool()
    api.call("BatchWriteItem", {})
    assert urls == ["http://127.0.0.1:1", "http://127.0.0.2:1"]


def test_compression_and_minimal_headers():
    """compression gzips bodies of 1 KB and more; optimizeHeaders leaves out User-Agent and Accept-Encoding."""
    import gzip

    seen = []

    class Pool:
        def post(self, url, headers, body):
            seen.append((dict(headers), body))
            return FakeResponse(200, {})

    api = DynamoApi("http://127.0.0.1:1", "us-east-1", None, compress=True, minimal_headers=True, retry=FAST)
    api._pool = Pool()
    big = {"TableName": "t", "pad": "x" * 2000}
    api.call("Scan", big)
    api.call("Scan", {"TableName": "t"})
    (headers, body), (small_headers, small_body) = seen
    assert headers["Content-Encoding"] == "gzip" and loads(gzip.decompress(body)) == big
    assert "Content-Encoding" not in small_headers and loads(small_body) == {"TableName": "t"}
    assert "User-Agent" not in headers and "Accept-Encoding" not in headers


def test_large_answers_are_decoded_with_gc_paused_and_gc_is_on_afterwards():
    """A large Scan page decodes to the same items, and the garbage collector is enabled again after it."""
    import gc

    items = [{"id": {"S": f"k{i}"}, "n": {"N": str(i)}} for i in range(5000)]
    api, pool = api_with([FakeResponse(200, {"Items": items})])
    assert api.call("Scan", {}) == {"Items": items}
    assert gc.isenabled()


def test_default_headers_name_the_client_and_ask_for_no_compressed_answers():
    seen = []

    class Pool:
        def post(self, url, headers, body):
            seen.append(dict(headers))
            return FakeResponse(200, {})

    api = DynamoApi("http://127.0.0.1:1", "us-east-1", None, retry=FAST)
    api._pool = Pool()
    api.call("Scan", {"TableName": "t"})
    assert seen[0]["User-Agent"].startswith("scylla-migrator-py/") and seen[0]["Accept-Encoding"] == "identity"
    assert "Authorization" not in seen[0]


def test_a_certificate_that_fails_verification_is_not_retried():
    """A TLS certificate error cannot heal by retrying: it fails at once, naming the endpoint and the cause."""
    api, pool = api_with([TransportError("POST https://h: cannot connect: TLS certificate verification failed: "
                                         "self-signed certificate", retryable=False)])
    with pytest.raises(RequestError, match="Scan to http://127.0.0.1:1 failed: .*certificate verification failed"):
        api.call("Scan", {})
    assert len(pool.requests) == 1


def test_an_answer_that_is_not_json_fails_with_its_operation_and_endpoint():
    """A 200 answer that does not decode (with dicts or with a Scan page's raw items) is a RequestError, once."""
    from migrator.codec import raw_scan_page

    for decode in (loads, raw_scan_page):
        api, pool = api_with([FakeResponse(200, b'{"Items":[{"a":')])
        with pytest.raises(RequestError, match=r"^Scan to http://127.0.0.1:1: the answer is not valid JSON"):
            api.call("Scan", {}, decode)
        assert len(pool.requests) == 1
