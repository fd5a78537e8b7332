"""The export's bucket read through moto's S3 (the session's moto server): objects, missing keys, path style."""

from __future__ import annotations

import uuid

import boto3
import pytest

from migrator.config import Credentials
from migrator.dynamo.database import Database
from migrator.errors import TransferError
from migrator.exports.bucket import ExportBucket


@pytest.fixture
def bucket(moto_source):
    name = f"export-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_source.url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=name)
    database = Database("source", "dynamodb", "us-east-1", endpoint_url=moto_source.url,
                        credentials=Credentials("testing", "testing"))
    return ExportBucket(database, name, path_style=True), s3


def test_an_object_is_read_whole(bucket):
    export, s3 = bucket
    body = bytes(range(256)) * 4096
    s3.put_object(Bucket=export.bucket, Key="AWSDynamoDB/1/data/a.json.gz", Body=body)
    assert export.read("AWSDynamoDB/1/data/a.json.gz") == body


def test_a_missing_object_names_itself_and_the_likely_cause(bucket):
    export, _ = bucket
    with pytest.raises(TransferError, match=rf"^s3://{export.bucket}/AWSDynamoDB/1/manifest-files\.json: missing "
                                            "from the bucket; the export is incomplete"):
        export.read("AWSDynamoDB/1/manifest-files.json")
