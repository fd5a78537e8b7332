"""DynamoDB exports made for tests: gzip JSON-lines data files and both manifests, put into a moto S3 bucket.

`build_export` lays them out as AWS does (full keys, `PREFIX/AWSDynamoDB/ID/...`) or as this migrator's own
export target does (keys relative to the manifest's directory: `data/...`).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "aws-export-sample"
SAMPLE_PREFIX = "dynamodb-export/AWSDynamoDB/01715685260608-c488b4e1"  # where AWS wrote the sample
SAMPLE_DESCRIPTION = {"attributeDefinitions": [{"name": "id", "type": "S"}], "keySchema": [{"name": "id",
                                                                                             "type": "HASH"}]}


@dataclass(frozen=True)
class Export:
    """An export put into `bucket`: its manifest's key and, per data file, its full key and items."""

    bucket: str
    manifest_key: str
    files: tuple[tuple[str, tuple[dict, ...]], ...]

    @property
    def items(self) -> list[dict]:
        return [item for _, items in self.files for item in items]


def s3_client(url: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def new_bucket(s3) -> str:
    name = f"export-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def data_file(items) -> bytes:
    """A data file's bytes: one `{"Item": ...}` line per item, gzipped."""
    return gzip.compress(b"".join(json.dumps({"Item": item}).encode() + b"\n" for item in items), mtime=0)


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def build_export(s3, bucket: str, files: list[list[dict]], *, relative: bool = False,
                 prefix: str = "exports") -> Export:
    """An export of `files` (the items of each data file) put into `bucket`; `relative` writes the manifests'
    keys relative to the manifest's directory, as this migrator's export target does."""
    directory = f"{prefix}/AWSDynamoDB/{uuid.uuid4().hex[:12]}"
    placed, lines = [], []
    for number, items in enumerate(files):
        name = f"data/{number:04d}-{uuid.uuid4().hex[:8]}.json.gz"
        body = data_file(items)
        s3.put_object(Bucket=bucket, Key=f"{directory}/{name}", Body=body)
        placed.append((f"{directory}/{name}", tuple(items)))
        lines.append({"itemCount": len(items), "md5Checksum": md5_base64(body),
                      "dataFileS3Key": name if relative else f"{directory}/{name}"})
    s3.put_object(Bucket=bucket, Key=f"{directory}/manifest-files.json",
                  Body="".join(json.dumps(line) + "\n" for line in lines).encode())
    summary = {"version": "2020-06-30", "itemCount": sum(len(f) for f in files), "outputFormat": "DYNAMODB_JSON",
               "exportType": "FULL_EXPORT",
               "manifestFilesS3Key": "manifest-files.json" if relative else f"{directory}/manifest-files.json"}
    s3.put_object(Bucket=bucket, Key=f"{directory}/manifest-summary.json", Body=json.dumps(summary).encode())
    return Export(bucket, f"{directory}/manifest-summary.json", tuple(placed))


def put_sample(s3, bucket: str) -> str:
    """The AWS sample's three files put at the keys AWS wrote them to; returns the manifest's key."""
    for path in SAMPLE.rglob("*"):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=f"{SAMPLE_PREFIX}/{path.relative_to(SAMPLE).as_posix()}",
                          Body=path.read_bytes())
    return f"{SAMPLE_PREFIX}/manifest-summary.json"


def sample_items() -> list[dict]:
    """The sample's items, as DynamoDB JSON."""
    (data,) = (SAMPLE / "data").iterdir()
    return [json.loads(line)["Item"] for line in gzip.decompress(data.read_bytes()).splitlines() if line.strip()]
