"""Savepoints in S3 (s3://bucket/prefix), against moto's in-process S3; and which paths are accepted."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from migrator.errors import ConfigError
from migrator.savepoints.stores import S3Savepoints, SavepointDir, find_savepoint, open_store

BUCKET = "migrator-savepoints"


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_s3_savepoints_are_objects_whose_last_name_is_the_newest(s3):
    """Each write is a new object under the prefix; names order like the local ones; the probe is cleaned up."""
    store = open_store(f"s3://{BUCKET}/runs/orders/")
    assert isinstance(store, S3Savepoints) and store.location == f"s3://{BUCKET}/runs/orders"
    store.check()
    first = store.write("a: 1\n")
    second = store.write("a: 2\n")
    assert first < second and second.startswith(f"s3://{BUCKET}/runs/orders/savepoint_")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [first.split(f"{BUCKET}/", 1)[1], second.split(f"{BUCKET}/", 1)[1]]
    assert store.newest() == second
    assert S3Savepoints(f"s3a://{BUCKET}/runs/orders").write("a: 3\n").endswith("_0000000003.yaml")


def test_resume_finds_the_newest_s3_savepoint_or_the_one_named(s3):
    """--resume s3://bucket/prefix takes the newest savepoint there; a full object URL takes that one."""
    store = S3Savepoints(f"s3://{BUCKET}/p")
    older = store.write("n: 1\n")
    newest = store.write("n: 2\n")
    assert find_savepoint(f"s3://{BUCKET}/p") == (newest, "n: 2\n")
    assert find_savepoint(older) == (older, "n: 1\n")
    with pytest.raises(ConfigError, match=r"^--resume: no savepoint_\*\.yaml under 's3://migrator-savepoints/q'"):
        find_savepoint(f"s3://{BUCKET}/q")


def test_a_missing_bucket_is_a_config_error_before_the_job(s3):
    """check() names savepoints.path, the URL and the cause."""
    with pytest.raises(ConfigError, match=r"^savepoints\.path: cannot write savepoints to 's3://no-such-bucket-x/p': "
                                          r".*NoSuchBucket.*; check the bucket, the AWS credential chain"):
        open_store("s3://no-such-bucket-x/p").check()


@pytest.mark.parametrize("path, message", [
    ("gs://bucket/p", "savepoints.path: gs:// is not supported, got 'gs://bucket/p'; use a local directory or "
                      "s3://BUCKET/PREFIX"),
    ("s3://", "savepoints.path: no bucket in 's3://'; write s3://BUCKET/PREFIX"),
])
def test_other_destinations_are_refused(path, message):
    """Only a local directory or S3 is accepted, with the fix in the message."""
    with pytest.raises(ConfigError) as info:
        open_store(path)
    assert str(info.value) == message


def test_a_plain_path_is_a_local_directory(tmp_path):
    """Anything without a scheme is a local directory, relative to where spark-submit runs."""
    assert isinstance(open_store(str(tmp_path)), SavepointDir)
