import datetime
import time

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials

from migrator.dynamo.sigv4 import Signer

UTC = datetime.UTC
INSTANT = datetime.datetime(2024, 5, 17, 13, 45, 9, tzinfo=UTC)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STATIC = Credentials("AKIDEXAMPLE", SECRET)
SESSION = Credentials("ASIAEXAMPLE", SECRET, "FwoGZXIvYXdzEXAMPLE//token+with/slashes==")
BASE_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.Scan"}
SIGNED_NAMES = ("X-Amz-Date", "X-Amz-Security-Token", "Authorization")


def botocore_signed(monkeypatch, credentials, region, url, headers, body, instant=INSTANT) -> dict[str, str]:
    """The headers botocore's SigV4Auth adds, with its clock frozen at `instant`."""
    frozen_now = instant.astimezone(UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: frozen_now)
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials.get_frozen_credentials(), "dynamodb", region).add_auth(request)
    assert request.headers["X-Amz-Date"] == frozen_now.strftime("%Y%m%dT%H%M%SZ"), "botocore's clock is not frozen"
    return {name: request.headers[name] for name in SIGNED_NAMES if name in request.headers}


def assert_parity(monkeypatch, credentials=STATIC, region="us-east-1", *, host="127.0.0.1:8000",
                  url="http://127.0.0.1:8000/", headers=BASE_HEADERS, body=b'{"TableName":"t"}', instant=INSTANT):
    ours = Signer(credentials, region).sign(host, list(headers.items()), body, now=instant)
    expected = botocore_signed(monkeypatch, credentials, region, url, headers, body, instant)
    assert ours == list(expected.items())
    return ours


def test_static_credentials_sign_like_botocore(monkeypatch):
    """Access key and secret only: X-Amz-Date then Authorization, as botocore writes them."""
    signed = assert_parity(monkeypatch, STATIC)
    assert [name for name, _ in signed] == ["X-Amz-Date", "Authorization"]


def test_session_token_is_sent_and_signed_like_botocore(monkeypatch):
    """A session token adds X-Amz-Security-Token between the date and the Authorization header."""
    signed = assert_parity(monkeypatch, SESSION)
    assert [name for name, _ in signed] == list(SIGNED_NAMES)
    assert "x-amz-security-token" in dict(signed)["Authorization"]


def test_refreshed_credentials_are_used_on_the_next_request(monkeypatch):
    """When refreshable credentials rotate between two sign() calls, the second uses the new keys."""
    clock = [INSTANT]
    new_keys = {"access_key": "ASIANEWKEY", "secret_key": "n3w/SecretKeyAfterRefresh", "token": "new-token",
                "expiry_time": (INSTANT + datetime.timedelta(hours=2)).isoformat()}
    credentials = RefreshableCredentials(
        "ASIAOLDKEY", "0ld/SecretKeyBeforeRefresh", "old-token", INSTANT + datetime.timedelta(hours=1),
        lambda: new_keys, "test", time_fetcher=lambda: clock[0],
    )
    signer = Signer(credentials, "eu-west-1")
    headers = list(BASE_HEADERS.items())
    before = signer.sign("127.0.0.1:8000", headers, b"{}", now=INSTANT)
    expected = botocore_signed(monkeypatch, Credentials("ASIAOLDKEY", "0ld/SecretKeyBeforeRefresh", "old-token"),
                               "eu-west-1", "http://127.0.0.1:8000/", BASE_HEADERS, b"{}")
    assert before == list(expected.items())

    clock[0] = INSTANT + datetime.timedelta(minutes=55)  # inside the mandatory refresh window
    after = signer.sign("127.0.0.1:8000", headers, b"{}", now=INSTANT)
    expected = botocore_signed(monkeypatch, Credentials("ASIANEWKEY", "n3w/SecretKeyAfterRefresh", "new-token"),
                               "eu-west-1", "http://127.0.0.1:8000/", BASE_HEADERS, b"{}")
    assert after == list(expected.items())
    assert "Credential=ASIANEWKEY/" in dict(after)["Authorization"]
    assert dict(after)["Authorization"] != dict(before)["Authorization"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"])
def test_every_region_signs_like_botocore(monkeypatch, region):
    """The region is part of the scope and of the derived key."""
    assert_parity(monkeypatch, SESSION, region)


@pytest.mark.parametrize("host, url", [
    ("dynamodb.us-east-1.amazonaws.com", "https://dynamodb.us-east-1.amazonaws.com/"),
    ("dynamodb.us-east-1.amazonaws.com", "https://dynamodb.us-east-1.amazonaws.com:443/"),
    ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
    ("scylla-node-3.internal:8043", "https://scylla-node-3.internal:8043/"),
])
def test_host_with_and_without_port_signs_like_botocore(monkeypatch, host, url):
    """The Host value (port only when not the scheme's default) matches what botocore derives from the URL."""
    assert_parity(monkeypatch, STATIC, host=host, url=url)


def test_content_encoding_header_is_signed(monkeypatch):
    """A gzip-compressed request's Content-Encoding header is signed like the others."""
    signed = assert_parity(monkeypatch, headers={**BASE_HEADERS, "Content-Encoding": "gzip"})
    assert "content-encoding;content-type;host;x-amz-date;x-amz-target" in dict(signed)["Authorization"]


def test_header_names_any_case_and_values_with_whitespace_sign_like_botocore(monkeypatch):
    """Names are lowercased; values lose leading and trailing whitespace and inner runs become one space."""
    headers = {"CONTENT-type": "  application/x-amz-json-1.0\t", "x-AMZ-target": " DynamoDB_20120810.Scan ",
               "X-Custom-Note": "a   b \t c\n  d", "X-Empty": ""}
    assert_parity(monkeypatch, SESSION, headers=headers)


def test_repeated_header_names_are_joined_like_botocore(monkeypatch):
    """Two headers whose names differ only in case are signed as one comma-joined value."""
    assert_parity(monkeypatch, headers={**BASE_HEADERS, "X-Note": "one", "x-note": " two  words "})


def test_headers_botocore_never_signs_are_skipped(monkeypatch):
    """User-Agent and the other names on botocore's unsigned list stay out of SignedHeaders."""
    signed = assert_parity(monkeypatch, headers={**BASE_HEADERS, "User-Agent": "migrator/0.1", "Expect": "100"})
    assert "user-agent" not in dict(signed)["Authorization"]


@pytest.mark.parametrize("name", ["Host", "Authorization", "X-Amz-Date", "x-amz-security-token", "Date"])
def test_headers_the_signer_sets_are_refused(name):
    """A caller-supplied Host, Date or signature header would make the signature disagree with what is sent."""
    with pytest.raises(ValueError, match=name):
        Signer(STATIC, "us-east-1").sign("h", [(name, "x")], b"", now=INSTANT)


@pytest.mark.parametrize("body", [
    b"",
    b"{",
    b'{"TableName":"t","Item":{"k":{"S":"' + b"x" * (1024 * 1024) + b'"}}}',
    '{"Item":{"k":{"S":"žluťoučký kůň 日本語 🚀"}}}'.encode(),
], ids=["empty", "one-byte", "one-megabyte", "non-ascii"])
def test_bodies_sign_like_botocore(monkeypatch, body):
    """The payload hash covers empty, tiny, large and non-ASCII UTF-8 bodies."""
    assert_parity(monkeypatch, SESSION, body=body)


def test_cached_key_changes_at_midnight_utc(monkeypatch):
    """Requests either side of midnight UTC are signed with each day's key, as botocore does."""
    signer = Signer(SESSION, "us-west-2")
    headers = list(BASE_HEADERS.items())
    for instant in [datetime.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
                    datetime.datetime(2024, 3, 1, 0, 0, 0, tzinfo=UTC),
                    datetime.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)]:
        ours = signer.sign("127.0.0.1:8000", headers, b"{}", now=instant)
        expected = botocore_signed(monkeypatch, SESSION, "us-west-2", "http://127.0.0.1:8000/", BASE_HEADERS,
                                   b"{}", instant)
        assert ours == list(expected.items())


def test_aware_and_naive_times_mean_the_same_utc_instant(monkeypatch):
    """`now` in another time zone is converted to UTC; a naive `now` is taken as UTC."""
    tomorrow_in_auckland = INSTANT.astimezone(datetime.timezone(datetime.timedelta(hours=12)))
    assert_parity(monkeypatch, instant=tomorrow_in_auckland)
    signer = Signer(STATIC, "us-east-1")
    naive = signer.sign("h", [], b"", now=INSTANT.replace(tzinfo=None))
    assert naive == signer.sign("h", [], b"", now=INSTANT)


@pytest.fixture
def local_time_zone_far_from_utc(monkeypatch):
    monkeypatch.setenv("TZ", "XST-12")  # POSIX spelling of UTC+12
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_default_clock_signs_like_botocore_at_the_current_time(monkeypatch, local_time_zone_far_from_utc):
    """Without `now` the signer reads the current UTC time, whatever the local time zone."""
    # time.gmtime() reads glibc's time(), a coarse clock that can lag datetime.now() by a tick (a few ms) across a
    # second's boundary: one second of slack, against the 12 hours a local-time mistake would show
    before = (datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)).replace(microsecond=0)
    ours = dict(Signer(STATIC, "us-east-1").sign("127.0.0.1:8000", list(BASE_HEADERS.items()), b"{}"))
    after = datetime.datetime.now(UTC)
    stamped = datetime.datetime.strptime(ours["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamped <= after
    expected = botocore_signed(monkeypatch, STATIC, "us-east-1", "http://127.0.0.1:8000/", BASE_HEADERS, b"{}",
                               stamped)
    assert ours["Authorization"] == expected["Authorization"]


def test_secret_key_is_in_no_header_and_not_in_repr():
    """Only the access key and token leave the signer; repr names region and service alone."""
    signer = Signer(SESSION, "us-east-1")
    signed = signer.sign("127.0.0.1:8000", list(BASE_HEADERS.items()), b"{}", now=INSTANT)
    for name, value in signed:
        assert SECRET not in value and SECRET not in name
    signer.sign("127.0.0.1:8000", [], b"", now=INSTANT)  # the key cache now holds the secret
    assert SECRET not in repr(signer)
    assert SECRET not in str(signer)
    assert repr(signer) == "Signer(region='us-east-1', service='dynamodb')"


def test_missing_credentials_are_refused_without_naming_secrets():
    """A Signer without credentials fails at construction, not on the first request."""
    with pytest.raises(ValueError, match="needs credentials"):
        Signer(None, "us-east-1")
