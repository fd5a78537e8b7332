import pytest

from migrator.dynamo.api import DynamoApi, RetryPolicy
import zlib

from migrator.codec import dumps, loads
from migrator.errors import RequestError, ThrottledError
from migrator.dynamo.http_pool import TransportError
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
    api, _ = api_with([
        TransportError("POST http://127.0.0.1:1: cannot connect: connection refused"),
        TransportError("POST http://127.0.0.1:1: timed out after 60 s"),
        FakeResponse(200, {"ok": 1}),
    ])
    assert api.call("DescribeLimits", {}) == {"ok": 1}


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
            return FakeResponse(200, {"Items": [], "UnprocessedItems": {}})

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
            return FakeResponse(200, {"Items": [], "UnprocessedItems": {}})

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
            return FakeResponse(200, {"Items": [], "UnprocessedItems": {}})

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
    api, _ = api_with([FakeResponse(200, {"Items": items})])
    assert api.call("Scan", {}) == {"Items": items}
    assert gc.isenabled()


def test_default_headers_name_the_client_and_ask_for_no_compressed_answers():
    seen = []

    class Pool:
        def post(self, url, headers, body):
            seen.append(dict(headers))
            return FakeResponse(200, {"Items": [], "UnprocessedItems": {}})

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


def test_an_answer_that_is_not_json_is_retried_then_fails_naming_operation_table_and_endpoint():
    """A 200 answer that does not decode (with dicts or with a Scan page's raw items) is retried, then a
    RequestError naming the operation, the table, the endpoint and the cause."""
    from migrator.codec import raw_scan_page

    for decode in (None, raw_scan_page):
        api, pool = api_with([FakeResponse(200, b'{"Items":[{"a":')] * 4)
        with pytest.raises(RequestError, match=r"^Scan of table 't' to http://127.0.0.1:1 failed 4 times; "
                                               r"last error: the 15-byte answer is malformed"):
            api.call("Scan", {}, decode, table="t")
        assert len(pool.requests) == 4


def test_a_mangled_answer_is_retried_and_the_next_good_one_is_returned():
    """A cut-off body from a proxy is transient: the request is sent again and its good answer used."""
    api, pool = api_with([FakeResponse(200, b'{"UnprocessedItems":{'), FakeResponse(200, {"UnprocessedItems": {}})])
    assert api.call("BatchWriteItem", {}) == {"UnprocessedItems": {}}
    assert (len(pool.requests), api.other_retries, api.throttled_retries) == (2, 1, 0)


def test_a_200_answer_carrying_an_error_type_is_retried_not_read_as_an_empty_page():
    """{"__type": ...InternalServerError} with status 200 is retried (dicts and raw pages alike), never taken for
    an empty last Scan page."""
    from migrator.codec import raw_scan_page

    good = {"Items": [{"id": {"S": "a"}}]}
    for decode in (None, raw_scan_page):
        api, pool = api_with([error("InternalServerError", status=200), FakeResponse(200, good)])
        answer = api.call("Scan", {}, decode)
        items = answer["Items"] if decode is None else [loads(i) for i in answer.items]
        assert items == good["Items"] and len(pool.requests) == 2 and api.other_retries == 1


def test_a_200_answer_carrying_a_throttle_counts_as_throttling():
    """A throttling code in a 200 body is retried as throttling and ends in ThrottledError naming it."""
    from migrator.codec import raw_scan_page

    for decode in (None, raw_scan_page):
        api, _ = api_with([error("ProvisionedThroughputExceededException", status=200)] * 4)
        with pytest.raises(ThrottledError, match="failed 4 times; last error: a 200 answer carries the error "
                                                 "ProvisionedThroughputExceededException: no"):
            api.call("Scan", {}, decode, table="t")
        assert (api.throttled_retries, api.other_retries) == (3, 0)


def test_a_200_answer_with_another_error_type_is_retried_then_names_it():
    """Any error code in a 200 body is a mangled answer: retried, then reported with its code."""
    api, _ = api_with([error("ValidationException", status=200)] * 4)
    with pytest.raises(RequestError, match="BatchWriteItem of table 't' to .* failed 4 times; last error: a 200 "
                                           "answer carries the error ValidationException: no") as info:
        api.call("BatchWriteItem", {}, table="t")
    assert info.value.code == "ValidationException"


def test_a_body_that_is_not_a_json_object_is_retried():
    """A JSON array, string or null is not an answer: retried until an object comes (dicts and raw pages)."""
    from migrator.codec import raw_scan_page

    for decode in (None, raw_scan_page):
        api, pool = api_with([FakeResponse(200, b"[1, 2]"), FakeResponse(200, b"null"), FakeResponse(200, b'"x"'),
                              FakeResponse(200, {"Items": []})])
        answer = api.call("Scan", {}, decode)
        assert (answer["Items"] if decode is None else answer.items) == []
        assert len(pool.requests) == 4


def test_a_scan_answer_without_items_is_an_error_not_an_empty_last_page():
    """A Scan answer with no Items field (dicts or raw) is retried, then fails naming the missing field."""
    from migrator.codec import raw_scan_page

    for decode in (None, raw_scan_page):
        api, _ = api_with([FakeResponse(200, {"Count": 0, "ScannedCount": 0})] * 4)
        with pytest.raises(RequestError, match="^Scan of table 't' to .* failed 4 times; last error: the answer "
                                               "has no Items$"):
            api.call("Scan", {}, decode, table="t")


def test_batch_answers_without_their_unprocessed_map_are_errors():
    """BatchWriteItem without UnprocessedItems, BatchGetItem without Responses or UnprocessedKeys: retried, then
    a RequestError naming what is missing; never read as "all written"."""
    cases = [("BatchWriteItem", {}, "UnprocessedItems"),
             ("BatchGetItem", {"Responses": {}}, "UnprocessedKeys"),
             ("BatchGetItem", {"UnprocessedKeys": {}}, "Responses")]
    for operation, answer, missing in cases:
        api, pool = api_with([FakeResponse(200, answer)] * 4)
        with pytest.raises(RequestError, match=f"^{operation} of table 't' to .* failed 4 times; last error: the "
                                               f"answer has no {missing}$"):
            api.call(operation, {}, table="t")
        assert len(pool.requests) == 4


def test_a_malformed_crc32_header_is_retried_like_a_mismatch():
    """An x-amz-crc32 header that is not a number is retried, not a ValueError crash."""
    from migrator.dynamo.http_pool import Response

    body = b'{"Items":[]}'
    api, pool = api_with([Response(200, {"x-amz-crc32": "not-a-number"}, body), FakeResponse(200, {"Items": [1]})])
    assert api.call("Scan", {}) == {"Items": [1]}
    assert (len(pool.requests), api.other_retries) == (2, 1)


def test_retries_are_counted_by_kind():
    """Throttling and load shedding count as throttled retries; 5xx, connection errors and CRC errors as others;
    the final success is not a retry."""
    api, _ = api_with([
        error("ThrottlingException"), error("RequestLimitExceeded"),
        FakeResponse(500, b"oops"), TransportError("POST x: connection reset"),
        FakeResponse(200, {"Items": []}),
    ])
    api.retry = RetryPolicy(max_attempts=6, base_delay=0.0001, max_delay=0.001)
    api.call("Scan", {})
    assert (api.throttled_retries, api.other_retries) == (2, 2)


def _skew_answer(code: str, message: str, date: str | None):
    from migrator.dynamo.http_pool import Response

    body = dumps({"__type": f"com.amazon.coral.service#{code}", "message": message})
    headers = {"x-amz-crc32": str(zlib.crc32(body))}
    if date is not None:
        headers["date"] = date
    return Response(400, headers, body)


def test_clock_skew_is_corrected_from_the_servers_date_and_the_request_retried():
    """A signature-expired or too-skewed answer sets the signer's clock from the answer's Date; the retry is
    signed with the server's time."""
    import calendar
    import email.utils
    import time

    from botocore.credentials import Credentials

    for code, message in [("InvalidSignatureException", "Signature expired: 20250101T000000Z is now earlier "
                                                         "than 20250101T001000Z"),
                          ("RequestTimeTooSkewed", "The difference between the request time and the current time "
                                                   "is too large")]:
        server_now = time.time() + 3600
        dates = []

        class Pool:
            answers = [_skew_answer(code, message, email.utils.formatdate(server_now, usegmt=True)),  # noqa: RUF012
                       FakeResponse(200, {"Items": []})]

            def post(self, url, headers, body):
                dates.append(dict(headers)["X-Amz-Date"])  # noqa: B023 - called within this loop turn
                return self.answers.pop(0)

        api = DynamoApi("http://127.0.0.1:1", "us-east-1", Credentials("AKID", "secret"), retry=FAST)
        api._pool = Pool()
        assert api.call("Scan", {"TableName": "t"}) == {"Items": []}
        assert 3590 < api._signer.clock_offset < 3610
        signed = [calendar.timegm(time.strptime(d, "%Y%m%dT%H%M%SZ")) for d in dates]
        assert abs(signed[0] - time.time()) < 60 and abs(signed[1] - server_now) < 60
        assert api.other_retries == 1


def test_a_skew_answer_without_a_date_or_a_real_signature_error_is_not_retried():
    """Without a Date to correct from, or for a signature that is simply wrong, the request fails at once."""
    from botocore.credentials import Credentials

    from migrator.dynamo.sigv4 import Signer

    for answer in [_skew_answer("InvalidSignatureException", "Signature expired: ...", None),
                   _skew_answer("InvalidSignatureException", "The request signature we calculated does not match",
                                "Mon, 01 Jan 2035 00:00:00 GMT")]:
        api, pool = api_with([answer])
        api._signer = Signer(Credentials("AKID", "s"), "us-east-1")
        with pytest.raises(RequestError, match="refused: HTTP 400 InvalidSignatureException"):
            api.call("Scan", {})
        assert len(pool.requests) == 1 and api._signer.clock_offset == 0


def test_credential_failures_are_request_errors_naming_the_operation_and_table():
    """A botocore credential refresh that fails (assume-role, SSO, IMDS) surfaces as the migrator's RequestError."""
    from botocore.exceptions import CredentialRetrievalError

    class Failing:
        def get_frozen_credentials(self):
            raise CredentialRetrievalError(provider="assume-role", error_msg="AccessDenied")

    api = DynamoApi("http://127.0.0.1:1", "us-east-1", Failing(), retry=FAST)
    api._pool = FakePool([])
    with pytest.raises(RequestError, match="^Scan of table 't': the AWS credentials could not be resolved or "
                                           "refreshed: CredentialRetrievalError: .*assume-role.*AccessDenied"):
        api.call("Scan", {}, table="t")


def test_node_routing_failures_are_request_errors_naming_the_operation_and_table():
    """A node picker that fails (no Alternator node in scope) gives a RequestError with the operation's context."""
    def no_node():
        raise RequestError("Alternator node routing from http://n:8000 failed: NoNodesAvailableError: none")

    api = DynamoApi(no_node, "us-east-1", None, retry=FAST)
    with pytest.raises(RequestError, match="^BatchWriteItem of table 't': Alternator node routing from "
                                           "http://n:8000 failed"):
        api.call("BatchWriteItem", b"{}", table="t")
