"""An S3 export as a source (exports/export_source.py): manifests read and checked, the target's table described
from tableDescription, data files planned into tasks and read as raw items; on moto's S3 (the session's server)."""

from __future__ import annotations

import gzip
import logging
import pickle
from types import SimpleNamespace

import pytest

from migrator.codec import dumps, loads
from migrator.config import Credentials, Endpoint, S3ExportSource
from migrator.dynamo.throttle import Unlimited
from migrator.errors import ConfigError, TransferError
from migrator.exports.bucket import export_bucket
from migrator.exports.export_source import ExportRead, deal, resolve_key, table_description
from tests.integration.export_files import (
    SAMPLE_DESCRIPTION, build_export, data_file, md5_base64, new_bucket, put_sample, s3_client, sample_items,
)

DESCRIPTION = {"attributeDefinitions": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}],
               "keySchema": [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}]}


def items(start: int, count: int) -> list[dict]:
    return [{"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}, "v": {"S": "x" * (i % 13)}}
            for i in range(start, start + count)]


def done(*keys: str) -> SimpleNamespace:
    """The config's part an ExportRead reads: skipFiles."""
    return SimpleNamespace(skip_files=frozenset(keys))


def settings(server, bucket: str, manifest_key: str, description: dict = DESCRIPTION, **extra) -> S3ExportSource:
    host, port = server.url.rsplit(":", 1)
    values = dict(bucket=bucket, manifest_key=manifest_key, table_description=description, region="us-east-1",
                  endpoint=Endpoint(host, int(port)), credentials=Credentials("testing", "testing"),
                  use_path_style_access=True)
    return S3ExportSource(**{**values, **extra})


@pytest.fixture(scope="module")
def s3(moto_source):
    return s3_client(moto_source.url)


@pytest.fixture(scope="module")
def export(moto_source, s3):
    """Five data files, one empty, in the AWS layout (full keys)."""
    bucket = new_bucket(s3)
    return build_export(s3, bucket, [items(0, 40), [], items(40, 5), items(45, 25), items(70, 30)])


def read_all(source, units) -> list[dict]:
    with source.open(Unlimited()) as reader:
        return [loads(bytes(item)) for unit in units for page in reader.pages(unit) for item in page]


def test_describe_reads_both_manifests_and_describes_the_table_to_create(moto_source, export, caplog):
    """The summary and the files are read and checked; the TableInfo is tableDescription in DynamoDB's form."""
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done())
    with caplog.at_level(logging.INFO):
        info = read.describe()
    found = f"found DynamoDB S3 export s3://{export.bucket}/{export.manifest_key}: 100 items in 5 data files"
    assert f"{found} (FULL_EXPORT)" in caplog.text
    assert info.item_count == 100
    assert info.key_schema == (("pk", "HASH"), ("sk", "RANGE"))
    assert info.billing_mode == "PAY_PER_REQUEST"
    assert info.description["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"},
                                                        {"AttributeName": "sk", "AttributeType": "N"}]
    assert [f.key for f in read.files] == [key for key, _ in export.files]
    assert read.files[2].label.startswith("file 2/5 (data/0002-")


def test_every_item_of_every_file_is_read_as_exported(moto_source, export):
    """The executor side, pickled as Spark ships it, reads each file's items in the manifest's order."""
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done())
    read.describe()
    plan = read.plan(2)
    source = pickle.loads(pickle.dumps(read.source(read.budget(plan.partitions))))
    assert read_all(source, plan.units) == export.items
    assert source.unit_kind == "file" and source.units_per_second == 0


def test_keys_relative_to_the_manifest_are_found_beside_it(moto_source, s3):
    """This migrator's own exports write `data/...` keys; they are read from the manifest's directory."""
    export = build_export(s3, new_bucket(s3), [items(0, 3), items(3, 4)], relative=True)
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done())
    assert read.describe().item_count == 7
    assert [f.key for f in read.files] == [key for key, _ in export.files]
    assert read.files[0].file.key.startswith("data/")
    assert read_all(read.source(read.budget(1)), read.plan(4).units) == export.items


@pytest.mark.parametrize(("manifest", "key", "full"), [
    ("p/AWSDynamoDB/1/manifest-summary.json", "p/AWSDynamoDB/1/data/a.json.gz", "p/AWSDynamoDB/1/data/a.json.gz"),
    ("p/AWSDynamoDB/1/manifest-summary.json", "data/a.json.gz", "p/AWSDynamoDB/1/data/a.json.gz"),
    ("manifest-summary.json", "data/a.json.gz", "data/a.json.gz"),
])
def test_a_key_is_full_when_it_starts_with_the_manifests_directory(manifest, key, full):
    """AWS writes full keys; a key outside the manifest's directory is relative to it."""
    assert resolve_key(manifest, key) == full


def test_the_aws_sample_is_described_and_read(moto_source, s3):
    """The AWS sample, at the keys AWS wrote, reads as its three items."""
    bucket = new_bucket(s3)
    read = ExportRead(settings(moto_source, bucket, put_sample(s3, bucket), SAMPLE_DESCRIPTION), done())
    assert read.describe().item_count == 3
    assert read_all(read.source(read.budget(1)), read.plan(8).units) == sample_items()
    assert read.plan(8).partitions == 1


def test_files_are_dealt_into_at_most_the_parallelism_by_item_count(moto_source, export):
    """Five files into two tasks: the largest first, each to the lightest task; each task's files in order."""
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done())
    read.describe()
    plan = read.plan(2)
    assert plan.partitions == 2 and plan.total == 5
    groups = [[u.id for u in g] for g in plan.assignments()]
    assert groups == [[0, 1, 2], [3, 4]]  # 40+0+5 (+3 files) against 25+30 (+2 files)
    assert sorted(u for g in groups for u in g) == [0, 1, 2, 3, 4]
    assert read.plan(16).partitions == 5


def test_dealing_balances_many_files():
    """A hundred files of uneven sizes land in tasks within one file of each other's item count."""
    class Unit:
        def __init__(self, index, count):
            self.index = index
            self.file = type("F", (), {"item_count": count})()

    units = [Unit(i, (i * 37) % 101) for i in range(100)]
    groups = deal(units, 8)
    weights = [sum(u.file.item_count + 1 for u in g) for g in groups]
    assert len(groups) == 8 and max(weights) - min(weights) <= 101
    assert sorted(u.index for g in groups for u in g) == list(range(100))


def test_skip_files_leave_out_files_done_and_record_gives_their_keys(moto_source, export, caplog):
    """skipFiles by the manifest's keys; a savepoint records finished files the same way."""
    keys = [key for key, _ in export.files]
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done(keys[1], keys[3]))
    read.describe()
    with caplog.at_level(logging.INFO):
        plan = read.plan(8)
    assert [u.id for u in plan.units] == [0, 2, 4] and plan.done == {1, 3} and plan.skipped == 2
    assert "skipping 2 of 5 data files already done (skipFiles); 3 remain" in caplog.text
    assert plan.record(frozenset({1, 3, 4})) == {"skipFiles": [keys[1], keys[3], keys[4]]}
    assert plan.unit_id("4") == 4
    assert read.expected(plan) == (40 + 5 + 30, "the export's manifest", None)  # the files to copy
    with pytest.raises(LookupError):
        plan.unit_id("5")
    with pytest.raises(ValueError):
        plan.unit_id("-1")


def test_a_skip_file_that_is_not_in_the_manifest_is_refused(moto_source, export):
    """A savepoint of another export does not silently copy nothing."""
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done("other/data/x.json.gz"))
    read.describe()
    with pytest.raises(ConfigError, match=r"^skipFiles: 'other/data/x\.json\.gz' not a data file of the export "
                                          rf"s3://{export.bucket}/"):
        read.plan(4)


def test_count_line_compares_the_items_read_with_the_manifest(moto_source, export):
    read = ExportRead(settings(moto_source, export.bucket, export.manifest_key), done())
    read.describe()
    assert read.count_line(100, 0) == "100 items read from 5 data files (exact); the manifest says 100"
    assert read.count_line(60, 2).startswith("60 items read from the 3 data files of this run (exact); the 2 skipped")
    assert read.budget(3).units_per_second == 0


def test_a_corrupted_data_file_fails_naming_it(moto_source, s3, export):
    """Bytes changed after the export: the MD5 differs, nothing of the file is written."""
    bucket = new_bucket(s3)
    broken = build_export(s3, bucket, [items(0, 10), items(10, 10)])
    key = broken.files[1][0]
    body = bytearray(data_file(items(10, 10)))
    body[30] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    read = ExportRead(settings(moto_source, bucket, broken.manifest_key), done())
    read.describe()
    source = read.source(read.budget(1))
    with source.open(Unlimited()) as reader, pytest.raises(TransferError, match=rf"^s3://{bucket}/{key}: its MD5"):
        list(reader.pages(read.plan(1).units[1]))


def test_a_missing_manifest_is_named(moto_source, s3):
    bucket = new_bucket(s3)
    read = ExportRead(settings(moto_source, bucket, "nowhere/manifest-summary.json"), done())
    with pytest.raises(TransferError, match=rf"^s3://{bucket}/nowhere/manifest-summary\.json: missing"):
        read.describe()


def test_an_incremental_export_is_read_as_changes(moto_source, s3):
    """An INCREMENTAL_EXPORT's files are read as Changes, the newest change of each key (exports/incremental.py);
    the count line says how many were applied of the changes the manifest lists."""
    bucket = new_bucket(s3)
    a, b = '{"pk":{"S":"a"},"sk":{"N":"1"}}', '{"pk":{"S":"b"},"sk":{"N":"2"}}'
    body = gzip.compress(f"""{{"Metadata":{{"WriteTimestampMicros":{{"N":"2"}}}},"Keys":{a}}}
{{"Metadata":{{"WriteTimestampMicros":{{"N":"1"}}}},"Keys":{a},"NewImage":{a}}}
{{"Metadata":{{"WriteTimestampMicros":{{"N":"3"}}}},"Keys":{b},"NewImage":{b}}}
""".encode())
    s3.put_object(Bucket=bucket, Key="e/data/f.json.gz", Body=body)
    s3.put_object(Bucket=bucket, Key="e/manifest-files.json", Body=dumps(
        {"itemCount": 3, "md5Checksum": md5_base64(body), "dataFileS3Key": "e/data/f.json.gz"}))
    s3.put_object(Bucket=bucket, Key="e/manifest-summary.json", Body=dumps(
        {"itemCount": 3, "manifestFilesS3Key": "e/manifest-files.json", "exportType": "INCREMENTAL_EXPORT"}))
    read = ExportRead(settings(moto_source, bucket, "e/manifest-summary.json"), done())
    read.describe()
    source = pickle.loads(pickle.dumps(read.source(read.budget(1))))
    with source.open(Unlimited()) as reader:
        (page,) = list(reader.pages(read.plan(1).units[0]))
    assert ([bytes(key) for key in page.deletes], [bytes(put) for put in page.puts]) == ([a.encode()], [b.encode()])
    assert read.count_line(2, 0) == ("2 changes applied (the newest of each key) from 1 data files; the manifest "
                                     "lists 3 changes in all, each file's count checked (exact)")


@pytest.mark.parametrize(("description", "message"), [
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "RANGE"}]},
     r"keySchema\[0\]\.type: the first key must be the HASH key, got RANGE"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": []},
     r"keySchema\[0\]\.type: the first key must be the HASH key, got no key"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "HASH"},
                                                                          {"name": "pk", "type": "HASH"}]},
     r"keySchema: a HASH key and at most one RANGE key, got \['HASH', 'HASH'\]"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "KEY"}]},
     r"keySchema\[0\]\.type: must be one of HASH, RANGE, got 'KEY'"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "HASH"},
                                                                          {"name": "sk", "type": "RANGE"}]},
     r"keySchema\[1\]\.name: key attribute 'sk' is not in attributeDefinitions"),
    ({"attributeDefinitions": [{"name": "pk", "type": "BOOL"}], "keySchema": [{"name": "pk", "type": "HASH"}]},
     r"attributeDefinitions\[0\]\.type: must be one of S, N, B, got 'BOOL'"),
    ({"attributeDefinitions": [{"name": "pk", "tipe": "S"}], "keySchema": [{"name": "pk", "type": "HASH"}]},
     r"attributeDefinitions\[0\]: unknown key 'tipe'"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "HASH"}],
      "billingMode": "PROVISIONED"}, r"provisionedThroughput: required with billingMode PROVISIONED"),
    ({"attributeDefinitions": [{"name": "pk", "type": "S"}], "keySchema": [{"name": "pk", "type": "HASH"}],
      "provisionedThroughput": {"readCapacityUnits": 0, "writeCapacityUnits": 5}},
     r"provisionedThroughput\.readCapacityUnits: must be a positive integer, got 0"),
])
def test_a_wrong_table_description_names_the_key(description, message):
    with pytest.raises(ConfigError, match=r"^source\.tableDescription\." + message):
        table_description(description)


def test_a_table_description_in_the_api_form_keys_only_with_its_billing():
    """Non-key attribute definitions are left out (no indexes are created); throughput alone means PROVISIONED."""
    desc = table_description({
        "attributeDefinitions": [{"name": "gsi", "type": "S"}, {"name": "pk", "type": "B"}],
        "keySchema": [{"name": "pk", "type": "HASH"}],
        "provisionedThroughput": {"readCapacityUnits": 5, "writeCapacityUnits": 7}})
    assert desc == {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "B"}],
                    "BillingModeSummary": {"BillingMode": "PROVISIONED"},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}}
    assert table_description(DESCRIPTION)["BillingModeSummary"] == {"BillingMode": "PAY_PER_REQUEST"}


def test_the_region_defaults_to_us_east_1_for_a_local_s3_only(moto_source, monkeypatch, tmp_path):
    """No region and none in the AWS config: us-east-1 with an endpoint, a ConfigError for AWS S3."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    local = settings(moto_source, "b", "m/manifest-summary.json", region=None)
    assert export_bucket(local).database.region == "us-east-1"
    assert export_bucket(settings(moto_source, "b", "m", region="eu-west-3")).database.region == "eu-west-3"
    with pytest.raises(ConfigError, match=r"^source\.region: required for AWS S3, none set"):
        export_bucket(settings(moto_source, "b", "m", region=None, endpoint=None))


def test_a_missing_data_file_fails_naming_it(moto_source, s3):
    """A data file the manifest lists but the bucket lacks: the export is incomplete."""
    bucket = new_bucket(s3)
    export = build_export(s3, bucket, [items(0, 3), items(3, 3)])
    s3.delete_object(Bucket=bucket, Key=export.files[0][0])
    read = ExportRead(settings(moto_source, bucket, export.manifest_key), done())
    read.describe()
    with read.source(read.budget(1)).open(Unlimited()) as reader, \
            pytest.raises(TransferError, match=rf"^s3://{bucket}/{export.files[0][0]}: missing from the bucket"):
        list(reader.pages(read.plan(1).units[0]))


def test_proxies_resolved_on_the_driver_reach_the_s3_client(moto_source, monkeypatch):
    """HTTP_PROXY (with its credentials) goes to botocore's proxies; NO_PROXY for the endpoint leaves it out."""
    monkeypatch.setenv("HTTP_PROXY", "http://us%40er:p%3Ass@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = export_bucket(settings(moto_source, "b", "m")).client()
    assert client.meta.config.proxies == {"http": "http://us%40er:p%3Ass@proxy.example:3128"}
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert export_bucket(settings(moto_source, "b", "m")).client().meta.config.proxies is None
