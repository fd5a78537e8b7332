"""AWS Signature Version 4 for the data path's one request shape: a POST of a JSON body to "/".

botocore's `SigV4Auth.add_auth` costs ~90 us of CPU per request (it builds an `AWSRequest`, parses the URL,
copies headers into an email-style map and derives the signing key with four HMACs every time); on the data
path that is paid for every Scan page and BatchWriteItem. This signer handles only what the data path sends
(no query string, path "/", payload hashed) and caches the derived key per day, so a request costs one SHA-256
of the body, one of the canonical request and one HMAC. Tests check its headers against botocore's, byte for byte.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time

from migrator.errors import RequestError

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP = "%Y%m%dT%H%M%SZ"
# botocore never signs these (hop-by-hop or rewritten by proxies); skipping them keeps the signatures identical.
UNSIGNED_HEADERS = frozenset({
    "baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
})
# The signer sets these itself; botocore would treat a caller's Date or X-Amz-Content-SHA256 specially.
RESERVED_HEADERS = frozenset({
    "host", "authorization", "date", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
})


class Signer:
    """Signs POSTs to "/" for one region and service with a botocore credentials object."""

    def __init__(self, credentials, region: str, service: str = "dynamodb") -> None:
        """`credentials`: a botocore credentials object (Credentials, RefreshableCredentials,
        DeferredRefreshableCredentials); it is asked for frozen keys on every sign(), so refreshes take effect."""
        if credentials is None:
            raise ValueError("Signer needs credentials; send unsigned requests without a Signer")
        self._credentials = credentials
        self.region = region
        self.service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key = ("", "", b"")  # (secret key, date stamp, derived signing key) of the last request
        # Seconds the server's clock is ahead of ours, set from its Date header when it refuses a signature as
        # expired or too skewed (as the AWS SDKs correct clock skew); added to the signing time.
        self.clock_offset = 0.0

    def __repr__(self) -> str:
        return f"Signer(region={self.region!r}, service={self.service!r})"

    def sign(
        self, host: str, headers: list[tuple[str, str]], body: bytes, *, now: datetime.datetime | None = None
    ) -> list[tuple[str, str]]:
        """The headers to add to a POST of `body` to "/" on `host` (the exact Host header value, e.g.
        "127.0.0.1:8000" or "dynamodb.us-east-1.amazonaws.com"): X-Amz-Date, X-Amz-Security-Token when the
        credentials carry a token, then Authorization.

        Signed: host, each of `headers` (names case-insensitive; values trimmed and inner whitespace collapsed;
        repeated names joined with ","; botocore's unsigned names such as User-Agent skipped), x-amz-date and
        x-amz-security-token. `now` (UTC if naive) is for tests; it defaults to the current time.
        """
        try:
            frozen = self._credentials.get_frozen_credentials()
        except Exception as exc:  # noqa: BLE001 - botocore's refreshers (assume-role, SSO, IMDS...) raise many kinds
            raise RequestError(f"the AWS credentials could not be resolved or refreshed: "
                               f"{type(exc).__name__}: {exc}") from None
        if now is None:  # time.strftime: a third of datetime.now().strftime()'s cost
            offset = self.clock_offset
            amz_date = time.strftime(TIMESTAMP, time.gmtime(time.time() + offset) if offset else time.gmtime())
        else:
            amz_date = (now.astimezone(datetime.UTC) if now.tzinfo else now).strftime(TIMESTAMP)
        date_stamp = amz_date[:8]

        canonical = {"host": " ".join(host.split()), "x-amz-date": amz_date}
        token = frozen.token
        if token:
            canonical["x-amz-security-token"] = " ".join(token.split())
        for name, value in headers:
            lname = name.lower()
            if lname in UNSIGNED_HEADERS:
                continue
            if lname in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the signer; leave it out of `headers`")
            value = " ".join(value.split())
            canonical[lname] = f"{canonical[lname]},{value}" if lname in canonical else value
        names = sorted(canonical)
        signed_headers = ";".join(names)
        canonical_headers = "\n".join([f"{n}:{canonical[n]}" for n in names])
        canonical_request = f"POST\n/\n\n{canonical_headers}\n\n{signed_headers}\n{hashlib.sha256(body).hexdigest()}"
        scope = date_stamp + self._scope_tail
        string_to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = hmac.digest(self._signing_key(frozen.secret_key, date_stamp), string_to_sign.encode(), "sha256")

        signed = [("X-Amz-Date", amz_date)]
        if token:
            signed.append(("X-Amz-Security-Token", token))
        signed.append((
            "Authorization",
            f"{ALGORITHM} Credential={frozen.access_key}/{scope}, SignedHeaders={signed_headers}, "
            f"Signature={signature.hex()}",
        ))
        return signed

    def _signing_key(self, secret_key: str, date_stamp: str) -> bytes:
        cached_secret, cached_date, key = self._key  # one tuple, read once: safe across threads
        if cached_secret == secret_key and cached_date == date_stamp:
            return key
        key = hmac.digest(f"AWS4{secret_key}".encode(), date_stamp.encode(), "sha256")
        for part in (self.region, self.service, "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        self._key = (secret_key, date_stamp, key)
        return key
