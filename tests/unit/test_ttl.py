"""TTL: which items count as expired, the copy skipping and counting them, the tables' TTL setting read and copied,
and the validator leaving expired source items unchecked."""

from __future__ import annotations

import json
import logging
import time

import msgspec
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from migrator.codec import raw_scan_page
from migrator.config import Credentials, DynamoSource, DynamoTarget, MigratorConfig
from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import SchemaError
from migrator.jobs.migrate import report as migrate_report
from migrator.readers.scan_source import ScanSegment, ScanSource, TableScan
from migrator.transfer import TaskResult, TransferSettings, transfer
from migrator.transforms import Transform, transform as transform_module, ttl
from migrator.transforms.transform import TTL_HORIZON_SECONDS, expired
from migrator.validation.passes import ValidationSettings, check_source_segments
from migrator.validation.report import report as validation_report
from migrator.writers.table_sink import BatchWriteSink, TableWrite
from tests.unit.fakes import FakeApi, FakeDynamo, both_decoders

NOW = 1_750_000_000.0
FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)


def n(value) -> dict:
    return {"N": str(value)}


# --- which items are expired ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, is_expired", [
    (n(int(NOW) - 3600), True),  # an hour ago
    (n(NOW - 0.5), True),  # half a second ago: fractions count
    (n(int(NOW) + 3600), False),  # in an hour
    (n(NOW), False),  # exactly now: DynamoDB deletes items whose time is less than now
    (n(NOW - TTL_HORIZON_SECONDS), True),  # exactly five years ago: still deleted
    (n(NOW - TTL_HORIZON_SECONDS - 1), False),  # more than five years ago: DynamoDB never deletes those
    (n(-5), False),  # before 1970, far more than five years ago
    (n("1e3"), False),  # 1000 s after the epoch: a number, over five years ago
    (n("1.75e9"), False),  # 1750000000 is NOW itself, not in the past
    (n("1.7e9"), True),  # scientific notation is a number like any other
    (None, False),  # the item lacks the attribute
    ({"S": str(int(NOW) - 3600)}, False),  # a string that looks like a time is not a number
    ({"N": "soon"}, False),  # a bad number
    ({"N": "NaN"}, False),
    ({"N": "-Infinity"}, False),
    ({"NS": [str(int(NOW) - 3600)]}, False),  # a set of numbers is not a number
    ({"N": str(int(NOW) - 3600), "S": "x"}, False),  # not one typed value
    ("1700000000", False),  # not DynamoDB JSON
])
def test_an_item_is_expired_only_when_its_ttl_is_a_number_of_seconds_in_the_last_five_years(value, is_expired):
    """Past (at most five years) numbers expire; the future, now itself, older than five years, a missing
    attribute, strings and bad numbers do not."""
    assert expired(value, NOW) is is_expired


# --- the copy: Transform and transfer ---------------------------------------------------------------------------

HOUR_AGO, IN_AN_HOUR = int(time.time()) - 3600, int(time.time()) + 3600


@pytest.fixture(params=["msgspec", "json"])
def transform_module_variant(request, monkeypatch):
    """transform.py as imported, and as an executor without msgspec runs it."""
    yield from both_decoders(transform_module, request.param, monkeypatch)


def test_a_ttl_only_transform_drops_the_expired_items_and_hands_the_others_back_byte_for_byte(
        transform_module_variant):
    """No renames: the items kept are the very objects that came in, so their bytes are the source's (spacing,
    attribute order and escapes included); only the expired one is gone."""
    module = transform_module_variant
    page = [
        b'{"id":{"S":"old"},  "exp":{"N":"%d"}}' % HOUR_AGO,
        b'{ "exp" : {"N":"%d"}, "id":{"S":"caf\\u00e9"} }' % IN_AN_HOUR,
        b'{"id":{"S":"none"},"n":{"N":"1.50"}}',
        b'{"id":{"S":"text"},"exp":{"S":"%d"}}' % HOUR_AGO,
    ]
    kept = module.Transform(ttl_attribute="exp", key_names=("id",)).apply(page)
    assert kept == page[1:] and all(a is b for a, b in zip(kept, page[1:]))


def test_a_ttl_only_transform_keeps_the_raw_fragments_a_scan_page_is_cut_into():
    """Scan pages hold msgspec.Raw fragments pointing into the answer: those kept are the same fragments."""
    answer = (b'{"Items":[{"id":{"S":"a"},"exp":{"N":"%d"}},{"id":{"S":"b"} ,"exp":{"N":"%d"}}],"Count":2}'
              % (HOUR_AGO, IN_AN_HOUR))
    page = raw_scan_page(answer).items
    kept = Transform(ttl_attribute="exp").apply(page)
    assert len(kept) == 1 and kept[0] is page[1] and isinstance(kept[0], msgspec.Raw)
    assert bytes(kept[0]) == b'{"id":{"S":"b"} ,"exp":{"N":"%d"}}' % IN_AN_HOUR


def test_without_a_ttl_attribute_every_item_is_kept_whatever_its_values():
    """skipExpiredItems: false (or no TTL on the source): the page itself comes back."""
    page = [b'{"id":{"S":"old"},"exp":{"N":"%d"}}' % HOUR_AGO]
    assert Transform().apply(page) is page


def test_a_rename_and_ttl_together_drop_by_the_source_name_and_rename_the_rest():
    """The TTL attribute is looked up under its source name, before the renames."""
    page = [b'{"id":{"S":"a"},"exp":{"N":"%d"}}' % HOUR_AGO, b'{"id":{"S":"b"},"exp":{"N":"%d"}}' % IN_AN_HOUR]
    kept = Transform(renames=(("exp", "expires_at"),), ttl_attribute="exp", key_names=("id",)).apply(page)
    assert [json.loads(bytes(k)) for k in kept] == [{"id": {"S": "b"}, "expires_at": {"N": str(IN_AN_HOUR)}}]


def scan_settings(transform: Transform) -> TransferSettings:
    return TransferSettings(
        source=ScanSource(Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), "src", retry=FAST),
        sink=BatchWriteSink(Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), "dst",
                            batch_size=10, retry=FAST),
        transform=transform)


def ttl_items(segment: int) -> list[dict]:
    """Per segment: 2 expired, 1 future, 1 without the attribute, 1 string, 1 older than five years."""
    values = [n(HOUR_AGO), n(HOUR_AGO - 60), n(IN_AN_HOUR), None, {"S": str(HOUR_AGO)},
              n(HOUR_AGO - TTL_HORIZON_SECONDS - 86400)]
    return [{"id": {"S": f"{segment}-{i}"}, **({"exp": v} if v else {})} for i, v in enumerate(values)]


def test_the_task_skips_expired_items_and_counts_them_per_segment_and_in_its_result(monkeypatch, caplog):
    """Through transfer(): expired items are not written, each segment's line and the task's summary line say how
    many were skipped, and scanned = written + expired."""
    source = FakeApi(lambda op, doc: {"Items": ttl_items(doc["Segment"])})
    target = FakeApi(lambda op, doc: {"UnprocessedItems": {}})
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: {"source": source, "target": target}[self.side])
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(scan_settings(Transform(ttl_attribute="exp", key_names=("id",))),
                          [ScanSegment(1, 4), ScanSegment(3, 4)], task=2)
    assert (result.scanned, result.written, result.expired) == (12, 8, 4)
    written = sorted(r["PutRequest"]["Item"]["id"]["S"] for _, doc in target.calls
                     for r in doc["RequestItems"]["dst"])
    assert written == sorted(f"{s}-{i}" for s in (1, 3) for i in (2, 3, 4, 5))
    assert "migrator task 2: segment 1/4 transferred 4 items, 2 expired (TTL) skipped" in caplog.messages
    assert any(m.startswith("migrator task 2: segments [1, 3] transferred 8 items in ") and
               m.endswith("; 4 expired (TTL) skipped") for m in caplog.messages), caplog.messages


def task(number: int, scanned: int, written: int, expired: int) -> TaskResult:
    return TaskResult(task=number, segments=(number,), scanned=scanned, written=written, seconds=1.0,
                      cpu_seconds=0.1, expired=expired)


def test_the_verdict_is_ok_when_scanned_equals_written_plus_expired(caplog):
    """The driver's task lines, the TTL total line and the verdict all count the expired items."""
    with caplog.at_level(logging.INFO, logger="migrator"):
        status = migrate_report([task(0, 10, 7, 3), task(1, 5, 5, 0)], "15 items scanned", "src", "dst", 1.0)
    assert status == 0
    assert "task 0: 1 segments, 7 items in 1.0 s, 3 expired (TTL) skipped" in caplog.messages
    assert "task 1: 1 segments, 5 items in 1.0 s" in caplog.messages
    assert ("migrator TTL: 3 expired items skipped (their TTL attribute is in the past: DynamoDB deletes them within "
            "days); 15 scanned = 12 written + 3 expired") in caplog.messages
    assert ("migrator verdict: OK - all 15 scanned items were written or skipped as expired (12 written, 3 expired)"
            in caplog.messages)


def test_the_verdict_fails_when_the_counts_do_not_add_up(caplog):
    """An item neither written nor skipped as expired fails the job."""
    with caplog.at_level(logging.INFO, logger="migrator"):
        status = migrate_report([task(0, 10, 6, 3)], "10 items scanned", "src", "dst", 1.0)
    assert status == 1
    assert "migrator verdict: FAILED - 10 items scanned but 6 written and 3 skipped as expired" in caplog.messages


# --- the tables' TTL setting --------------------------------------------------------------------------------------


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeTimeToLive")


class FakeTtlClient:
    """Answers DescribeTimeToLive with `describe` and UpdateTimeToLive with `update` (an exception is raised)."""

    def __init__(self, describe=None, update=None) -> None:
        self.describe, self.update = describe, update
        self.updates: list[dict] = []

    def describe_time_to_live(self, TableName):
        if isinstance(self.describe, Exception):
            raise self.describe
        return {"TimeToLiveDescription": self.describe}

    def update_time_to_live(self, TableName, TimeToLiveSpecification):
        if isinstance(self.update, Exception):
            raise self.update
        self.updates.append({"TableName": TableName, **TimeToLiveSpecification})
        return {"TimeToLiveSpecification": TimeToLiveSpecification}


@pytest.mark.parametrize("answer, attribute, text", [
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}, "exp", "enabled on 'exp'"),
    ({"TimeToLiveStatus": "ENABLING", "AttributeName": "exp"}, "exp", "enabled on 'exp' (ENABLING)"),
    ({"TimeToLiveStatus": "DISABLING", "AttributeName": "exp"}, None, "not enabled (DISABLING)"),
    ({"TimeToLiveStatus": "DISABLED"}, None, "not enabled"),
])
def test_ttl_counts_as_on_while_enabled_or_enabling(answer, attribute, text):
    """ENABLING: the owner turned TTL on and DynamoDB is about to delete; DISABLING: it has stopped."""
    setting = ttl.describe(FakeTtlClient(answer), "src")
    assert (setting.attribute, setting.text) == (attribute, text)


def test_a_server_without_the_ttl_api_has_no_ttl_and_says_so(caplog):
    """UnknownOperationException (ScyllaDB without Alternator TTL): nothing is skipped, one line says why."""
    client = FakeTtlClient(client_error("UnknownOperationException"))
    with caplog.at_level(logging.INFO, logger="migrator"):
        assert ttl.source_attribute(client, "src", "http://127.0.0.1:1", skip_expired=True) is None
    assert ("source TTL: the server at http://127.0.0.1:1 has no TTL API (DescribeTimeToLive: "
            "UnknownOperationException), so table 'src' expires nothing; no item is skipped as expired"
            in caplog.messages)


def test_the_source_line_says_what_happens_to_expired_items(caplog):
    """Skipped by default; copied with skipExpiredItems: false; the validator's line says they are not checked."""
    client = FakeTtlClient({"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"})
    with caplog.at_level(logging.INFO, logger="migrator"):
        assert ttl.source_attribute(client, "src", "aws", skip_expired=True) == "expires"
        assert ttl.source_attribute(client, "src", "aws", skip_expired=False) == "expires"
        assert ttl.source_attribute(client, "src", "aws", skip_expired=True, validating=True) == "expires"
        ttl.source_attribute(FakeTtlClient({"TimeToLiveStatus": "DISABLED"}), "src", "aws", skip_expired=True)
    assert caplog.messages == [
        "source TTL: enabled on 'expires' (table 'src'); items whose TTL has passed are skipped "
        "(source.skipExpiredItems: false copies them)",
        "source TTL: enabled on 'expires' (table 'src'); items whose TTL has passed are copied too "
        "(source.skipExpiredItems: false)",
        "source TTL: enabled on 'expires' (table 'src'); items whose TTL has passed are not checked, as the copy "
        "skips them (source.skipExpiredItems: false checks them)",
        "source TTL: not enabled on table 'src'; no item is skipped as expired",
    ]


def test_a_source_ttl_that_cannot_be_read_stops_the_job_when_expired_items_are_to_be_skipped():
    """AccessDenied: one line naming the table, the permission and the key that copies everything instead."""
    client = FakeTtlClient(client_error("AccessDeniedException", "not authorized to perform DescribeTimeToLive"))
    with pytest.raises(SchemaError) as info:
        ttl.source_attribute(client, "src", "aws", skip_expired=True)
    assert str(info.value) == (
        "source table 'src': DescribeTimeToLive failed (AccessDeniedException: not authorized to perform "
        "DescribeTimeToLive); the migrator reads the TTL setting to skip expired items: grant "
        "dynamodb:DescribeTimeToLive on the table, or set source.skipExpiredItems: false to copy every item")


def test_a_source_ttl_that_cannot_be_read_is_a_warning_when_every_item_is_copied_anyway(caplog):
    """skipExpiredItems: false needs the setting only for the target: the copy goes on, the loss is said."""
    client = FakeTtlClient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    with caplog.at_level(logging.WARNING, logger="migrator"):
        assert ttl.source_attribute(client, "src", "aws", skip_expired=False) is None
    assert caplog.messages == [
        "source TTL: cannot read the TTL setting of table 'src' (Could not connect to the endpoint URL: "
        "\"http://127.0.0.1:1\"); every item is copied (source.skipExpiredItems: false), and a target table the "
        "migrator creates gets no TTL: grant dynamodb:DescribeTimeToLive to copy the setting"]


def test_a_created_target_gets_ttl_on_the_attribute(caplog):
    client = FakeTtlClient()
    with caplog.at_level(logging.INFO, logger="migrator"):
        ttl.enable_on_target(client, "dst", "expires_at", "src", "http://scylla:8000")
    assert client.updates == [{"TableName": "dst", "Enabled": True, "AttributeName": "expires_at"}]
    assert caplog.messages == ["target TTL: enabled on 'expires_at' of the new table 'dst', as on source table 'src'"]


def test_a_created_target_on_a_server_without_ttl_gets_a_warning(caplog):
    """dynalite has no UpdateTimeToLive: the copy goes on, and the warning says the items will not expire."""
    client = FakeTtlClient(update=client_error("UnknownOperationException"))
    with caplog.at_level(logging.WARNING, logger="migrator"):
        ttl.enable_on_target(client, "dst", "exp", "src", "http://127.0.0.1:2")
    assert caplog.messages == [
        "target TTL: the server at http://127.0.0.1:2 has no TTL API (UpdateTimeToLive: UnknownOperationException): "
        "the items copied into target table 'dst' will not expire, although source table 'src' expires them by "
        "'exp'; delete expired items yourself, or use a server with TTL (ScyllaDB: Alternator TTL)"]


def test_a_created_target_whose_ttl_cannot_be_set_stops_the_job_before_the_copy():
    client = FakeTtlClient(update=client_error("AccessDeniedException", "denied"))
    with pytest.raises(SchemaError) as info:
        ttl.enable_on_target(client, "dst", "exp", "src", "aws")
    assert str(info.value) == (
        "target table 'dst': UpdateTimeToLive failed (AccessDeniedException: denied); the migrator created the table "
        "and gives it the TTL of source table 'src': grant dynamodb:UpdateTimeToLive, or enable TTL on 'exp' "
        "yourself (aws dynamodb update-time-to-live --table-name dst --time-to-live-specification "
        "Enabled=true,AttributeName=exp), and run again")


FIX = "aws dynamodb update-time-to-live --table-name dst --time-to-live-specification Enabled=true,AttributeName=exp"


@pytest.mark.parametrize("answer, level, line", [
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}, logging.INFO,
     "target TTL: target table 'dst': enabled on 'exp', as on source table 'src'"),
    ({"TimeToLiveStatus": "DISABLED"}, logging.WARNING,
     "target TTL: target table 'dst' has no TTL (DISABLED), but source table 'src' expires items by 'exp': the items "
     f"copied will never expire on the target; enable TTL on 'exp' ({FIX})"),
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "other"}, logging.WARNING,
     "target TTL: target table 'dst' expires items by 'other', but source table 'src' by 'exp': the items copied "
     f"expire by the wrong attribute; disable TTL on the target and enable TTL on 'exp' ({FIX})"),
    (client_error("UnknownOperationException"), logging.WARNING,
     "target TTL: the server at http://127.0.0.1:2 has no TTL API (DescribeTimeToLive: UnknownOperationException): "
     "the items copied into target table 'dst' will not expire, although source table 'src' expires them by 'exp'"),
    (client_error("AccessDeniedException", "denied"), logging.WARNING,
     "target TTL: cannot read the TTL setting of target table 'dst' (AccessDeniedException: denied); source table "
     "'src' expires items by 'exp': make sure the target does too, or grant dynamodb:DescribeTimeToLive"),
])
def test_an_existing_targets_ttl_is_checked_never_changed(answer, level, line, caplog):
    """One line naming both tables and the attribute; a warning with the fix when the target differs."""
    client = FakeTtlClient(answer)
    with caplog.at_level(logging.INFO, logger="migrator"):
        ttl.check_target(client, "dst", "exp", "src", "http://127.0.0.1:2")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, line)]
    assert client.updates == []


# --- the driver sides against a moto server ---------------------------------------------------------------------


def moto_database(server, side: str) -> Database:
    return Database(side=side, kind="dynamodb", region="us-east-1", endpoint_url=server.url,
                    credentials=Credentials("testing", "testing"))


def make_table(client, table: str) -> None:
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")


def test_the_source_scan_reads_the_ttl_attribute_and_a_created_target_gets_it(moto_source, fresh_table_name,
                                                                               monkeypatch):
    """TableScan.describe fills TableInfo.ttl_attribute; TableWrite.prepare gives a table it creates the same TTL,
    and leaves an existing one as it is."""
    source_table, target_table = fresh_table_name("ttl-src"), fresh_table_name("ttl-dst")
    database = moto_database(moto_source, "source")
    client = database.boto3_client()
    make_table(client, source_table)
    client.update_time_to_live(TableName=source_table,
                               TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    monkeypatch.setattr("migrator.readers.scan_source.database_for", lambda side, settings: database)
    monkeypatch.setattr("migrator.writers.table_sink.database_for", lambda side, settings: database)
    scan = TableScan(DynamoSource(type="dynamodb", table=source_table, region="us-east-1"),
                     MigratorConfig(source=None, target=None))
    info = scan.describe()
    assert info.ttl_attribute == "expires" and scan.info is info

    write = TableWrite(DynamoTarget(type="alternator", table=target_table, region="us-east-1"))
    assert write.prepare(info) is True
    assert client.describe_time_to_live(TableName=target_table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert write.prepare(info) is False  # exists now: checked, and it matches


# --- the validator --------------------------------------------------------------------------------------------------


def test_the_validator_leaves_expired_source_items_unchecked_and_counts_them(monkeypatch, caplog, tmp_path):
    """Expired source items absent from the target are not missing: they are counted as expired, per task, in
    the totals, the verdict and the JSON report."""
    source_items = [item for s in range(3) for item in ttl_items(s)]
    target_items = [item for item in source_items if not expired(item.get("exp"), time.time())]
    fake = FakeDynamo({"src": (("id",), source_items), "dst": (("id",), target_items)})
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: fake)
    settings = ValidationSettings(
        source=Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), source_table="src",
        target=Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), target_table="dst",
        key_names=("id",), retry=FAST, ttl_attribute="exp")
    with caplog.at_level(logging.INFO, logger="migrator"):
        result = check_source_segments(settings, range(2), 0, 2)
        status = validation_report([result], context={"source": {"table": "src"}, "target": {"table": "dst"}},
                                   failures_to_fetch=5, report_path=tmp_path / "r.json", seconds=1.0, sample=False)
    assert (result.checked, result.missing, result.expired) == (12, 0, 6)
    assert status == 0
    assert any(m.startswith("validator task 0: source segments [0, 1] checked 12 items in ") and
               m.endswith(": 0 missing, 0 differing, 6 expired (TTL) not checked") for m in caplog.messages)
    assert ("validator total: source 'src': 12 items checked: 0 missing on the target, 0 differing; 6 expired (TTL) "
            "not checked") in caplog.messages
    assert ("validator verdict: IDENTICAL - all 12 source items are on the target with equal values, and all 0 "
            "target items exist on the source; 6 expired (TTL) not checked") in caplog.messages
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["expired"] == 6


def test_without_a_ttl_attribute_the_validator_checks_expired_items_too(monkeypatch):
    """skipExpiredItems: false: the copy wrote them, so they are expected on the target."""
    source_items = ttl_items(0)
    fake = FakeDynamo({"src": (("id",), source_items), "dst": (("id",), [])})
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: fake)
    settings = ValidationSettings(
        source=Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), source_table="src",
        target=Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), target_table="dst",
        key_names=("id",), retry=FAST)
    result = check_source_segments(settings, range(1), 0, 1)
    assert (result.checked, result.missing, result.expired) == (6, 6, 0)
