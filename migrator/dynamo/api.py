"""The data path's DynamoDB client: signed JSON over pooled keep-alive HTTP connections.

Scan and BatchWriteItem carry every item, so they skip botocore's model-driven parser and serializer (the bulk
of the client CPU per item) and move the wire format as it is: bytes in, bytes or dicts of {"S": ...} out. The
per-request costs are cut too: `sigv4` signs in ~13 us what botocore's signer does in ~90, and `http_pool` posts
in ~50 us what urllib3 did in ~230. botocore still resolves and refreshes credentials, and control-plane calls
use boto3 (`database.py`).
"""

from __future__ import annotations

import datetime
import email.utils
import gzip
import logging
import random
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator import __version__
from migrator.codec import AnswerError, checked, dumps, loads
from migrator.errors import RequestError, ThrottledError
from migrator.dynamo.http_pool import HttpPool, TransportError, parse_url
from migrator.dynamo.sigv4 import Signer
from migrator.dynamo.transport import Transport

logger = logging.getLogger(__name__)

TARGET_PREFIX = "DynamoDB_20120810."
STREAMS_TARGET_PREFIX = "DynamoDBStreams_20120810."  # the Streams API: same protocol, same signing service
CONTENT_TYPE = "application/x-amz-json-1.0"
COMPRESS_MIN_BYTES = 1024  # smaller bodies gain nothing from gzip
USER_AGENT = f"scylla-migrator-py/{__version__}"

# Error codes that mean "slow down": DynamoDB's throttles and Alternator's load shedding.
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
     "LimitExceededException"}  # the last: GetRecords over its per-shard rate
)
# Other error codes that a later attempt may not hit.
TRANSIENT_CODES = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable"})
# Codes that say the request's signing time is too far from the server's clock (as the AWS SDKs read them).
CLOCK_SKEW_CODES = frozenset({"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture"})
CLOCK_SKEW_MESSAGES = ("Signature expired", "Signature not yet current")  # of an InvalidSignatureException
# Fields these operations always return, even empty: an answer without them is not what it claims to be.
REQUIRED_FIELDS = {
    "Scan": ("Items",),
    "BatchWriteItem": ("UnprocessedItems",),
    "BatchGetItem": ("Responses", "UnprocessedKeys"),
    "GetRecords": (),  # Records and NextShardIterator may both be absent (a shard read to its end)
}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `max_attempts` counts the first try."""

    max_attempts: int = 12
    base_delay: float = 0.05
    max_delay: float = 20.0

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number `attempt` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))


class DynamoApi:
    """Calls DynamoDB JSON-protocol operations on one endpoint and retries what is transient.

    `credentials` is a botocore credentials object (refreshable ones are refreshed before each request) or None
    for unsigned requests, which an Alternator cluster without authorization accepts.
    """

    def __init__(
        self,
        endpoint: str | Callable[[], str],
        region: str,
        credentials: Any,
        *,
        max_connections: int = 8,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
        pool_timeout: float | None = None,
        max_idle_seconds: float | None = None,
        max_age_seconds: float | None = None,
        compress: bool = False,
        minimal_headers: bool = False,
        retry: RetryPolicy = RetryPolicy(),
        transport: Transport | None = None,
        server_name: str | None = None,
        target_prefix: str = TARGET_PREFIX,
    ) -> None:
        """`endpoint` is a URL, or a callable that names the node for the next request (Alternator).

        `max_connections` is per node. `minimal_headers` leaves out User-Agent and Accept-Encoding, which
        Alternator does not need (its `optimizeHeaders`). `target_prefix` names the API in X-Amz-Target:
        STREAMS_TARGET_PREFIX for DynamoDB Streams."""
        self._next_url = endpoint if callable(endpoint) else (lambda url=endpoint: url)
        self._router = endpoint if hasattr(endpoint, "close") else None  # stopped by close()
        self.url = endpoint if isinstance(endpoint, str) else "the Alternator cluster"
        self.region = region
        self.retry = retry
        self._target_prefix = target_prefix
        self._closed = threading.Event()  # set by close(): a retry wait in another thread ends at once
        self._signer = Signer(credentials, region) if credentials is not None else None
        self._compress = compress
        self._extra_headers = [] if minimal_headers else [("User-Agent", USER_AGENT), ("Accept-Encoding", "identity")]
        self._lock = threading.Lock()
        self.throttled_retries = 0  # requests retried after throttling or load shedding
        self.other_retries = 0  # requests retried after any other transient failure
        self._pool = HttpPool(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_timeout=pool_timeout,
            max_idle_seconds=max_idle_seconds,
            max_age_seconds=max_age_seconds,
            transport=transport,  # CA certificates and proxies
            server_name=server_name,  # the TLS name of Alternator's nodes
        )

    def close(self) -> None:
        """Stop the node router's refresh thread, if any, and close pooled connections; a request retrying in
        another thread (a scan's read-ahead) gives up instead of sending its next attempt."""
        self._closed.set()
        if self._router is not None:
            self._router.close()
        self._pool.close()

    def __enter__(self) -> DynamoApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, operation: str, request: dict | bytes, decode: Callable[[bytes], Any] | None = None, *,
             table: str | None = None) -> Any:
        """Send `request` (a dict, or JSON already encoded) and return the answer as `decode` reads it: by default
        a dict, checked to be the operation's answer (an object, no error `__type`, its `REQUIRED_FIELDS`); or
        e.g. a Scan page cut into raw items (`codec.raw_scan_page`, which checks the same). `table` names the
        table in error messages.

        Throttling, 5xx answers, timeouts, connection errors, CRC mismatches, clock skew and 200 answers that do
        not decode or are not the operation's answer are retried with backoff; other errors and the last of the
        retried ones raise RequestError (ThrottledError when the last one was throttling).
        """
        body = request if isinstance(request, bytes) else dumps(request)
        if self._compress and len(body) >= COMPRESS_MIN_BYTES:
            body, encoding = gzip.compress(body, compresslevel=1), "gzip"
        else:
            encoding = None
        what = f"{operation} of table {table!r}" if table else operation
        attempt = 0
        while True:
            attempt += 1
            try:
                url = self._next_url()
            except RequestError as exc:  # node routing (alternator_nodes.NodeRouter)
                raise RequestError(f"{what}: {exc}") from exc
            try:
                return self._decode(operation, self._send(url, what, operation, body, encoding), decode)
            except _Retryable as exc:
                if attempt >= self.retry.max_attempts:
                    error = ThrottledError if exc.throttled else RequestError
                    raise error(
                        f"{what} to {url} failed {attempt} times; last error: {exc}",
                        code=exc.code,
                        status=exc.status,
                    ) from None
                with self._lock:
                    if exc.throttled:
                        self.throttled_retries += 1
                    else:
                        self.other_retries += 1
                pause = self.retry.delay(attempt)
                logger.debug("%s to %s: %s; retrying in %.2fs", what, url, exc, pause)
                if self._closed.wait(pause):
                    raise RequestError(f"{what} to {url}: stopped retrying after {attempt} attempts, the client "
                                       f"was closed; last error: {exc}", code=exc.code, status=exc.status) from None

    @staticmethod
    def _decode(operation: str, data: bytes, decode: Callable[[bytes], Any] | None) -> Any:
        """The answer decoded and checked; a 200 answer that is not the operation's is retried, as a mangled
        answer from a proxy or an overloaded node may heal."""
        try:
            if decode is None:
                return checked(loads(data), REQUIRED_FIELDS.get(operation, ()))
            return decode(data)
        except AnswerError as exc:
            raise _Retryable(str(exc), code=exc.code, status=200, throttled=exc.code in THROTTLE_CODES) from None
        except ValueError as exc:
            raise _Retryable(f"the {len(data)}-byte answer is malformed ({exc})", status=200) from None

    def _send(self, url: str, what: str, operation: str, body: bytes, encoding: str | None) -> bytes:
        headers = [("Content-Type", CONTENT_TYPE), ("X-Amz-Target", self._target_prefix + operation)]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        if self._signer is not None:
            headers += self._sign(url, what, headers, body)
        try:
            response = self._pool.post(url, headers + self._extra_headers, body)
        except TransportError as exc:
            if exc.retryable:
                raise _Retryable(str(exc)) from None
            raise RequestError(f"{what} to {url} failed: {exc}") from None
        data = response.body
        expected_crc = response.headers.get("x-amz-crc32")
        if expected_crc is not None and _crc_differs(expected_crc, data):
            raise _Retryable(f"CRC32 mismatch on a {len(data)}-byte answer (x-amz-crc32: {expected_crc[:40]!r})")
        if response.status == 200:
            return data
        code, message = _error_of(data)
        if code in THROTTLE_CODES:
            raise _Retryable(f"{code}: {message}", code=code, status=response.status, throttled=True)
        if code in TRANSIENT_CODES or response.status >= 500:
            raise _Retryable(f"HTTP {response.status} {code}: {message}", code=code, status=response.status)
        if self._signer is not None and _is_clock_skew(code, message):
            skew = _skew_of(response.headers.get("date"))
            if skew is not None:
                self._signer.clock_offset = skew  # later requests, retries included, sign with the server's time
                raise _Retryable(f"HTTP {response.status} {code}: {message}; signing clock corrected by "
                                 f"{skew:+.0f} s from the server's Date", code=code, status=response.status)
        raise RequestError(
            f"{what} to {url} was refused: HTTP {response.status} {code}: {message}",
            code=code,
            status=response.status,
        )

    def _sign(self, url: str, what: str, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        try:
            return self._signer.sign(parse_url(url).host_header, headers, body)
        except RequestError as exc:  # credentials that could not be refreshed
            raise RequestError(f"{what}: {exc}") from None


def _crc_differs(expected: str, data: bytes) -> bool:
    """True when the x-amz-crc32 header is not the CRC32 of `data`, or is not a number at all."""
    try:
        return int(expected) != zlib.crc32(data)
    except ValueError:
        return True


def _is_clock_skew(code: str, message: str) -> bool:
    return code in CLOCK_SKEW_CODES or (
        code == "InvalidSignatureException" and any(m in message for m in CLOCK_SKEW_MESSAGES))


def _skew_of(date_header: str | None) -> float | None:
    """Seconds the server's clock (its answer's Date header) is ahead of ours; None without a readable Date."""
    if not date_header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:  # "-0000" in the header; HTTP dates are always GMT
        server = server.replace(tzinfo=datetime.UTC)
    return server.timestamp() - time.time()


class _Retryable(Exception):
    def __init__(self, message: str, *, code: str = "", status: int = 0, throttled: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.throttled = throttled


def _error_of(data: bytes) -> tuple[str, str]:
    """(short error code, message) from a DynamoDB error body; tolerant of non-JSON bodies."""
    try:
        doc = loads(data)
    except ValueError:
        return "", data[:200].decode("utf-8", "replace")
    if not isinstance(doc, dict):
        return "", str(doc)[:200]
    code = str(doc.get("__type", "")).rsplit("#", 1)[-1]
    message = doc.get("message") or doc.get("Message") or ""
    return code, str(message)


def names_table(name: str, table: str) -> bool:
    """True when `name`, as an answer files things under it, is `table`: its name or its ARN."""
    return name == table or (name.startswith("arn:") and name.endswith(":table/" + table))


def for_table(operation: str, answer: dict, field: str, table: str) -> list:
    """The values of the answer's per-table map `field` (UnprocessedItems, UnprocessedKeys, Responses) for
    `table`, which the server may name by its ARN (`arn:...:table/<name>`). A missing map, or a value under any
    other name, is a RequestError: those requests cannot be accounted for."""
    entries = answer.get(field)
    if not isinstance(entries, dict):
        raise RequestError(f"{operation} of table {table!r}: the answer's {field} is "
                           f"{'missing' if entries is None else 'not a map'}")
    values = []
    for name, value in entries.items():
        if not names_table(name, table):
            raise RequestError(f"{operation} of table {table!r}: the answer's {field} names another table, "
                               f"{name[:200]!r}")
        values.append(value)
    return values
