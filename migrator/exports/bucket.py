"""The S3 bucket an export lives in, as the source's settings name it: where, with which credentials, path style.

Picklable: the driver reads the manifests through it and each task builds its own client to read its data files.
Credentials are the source's (`credentials`, with `assumeRole`, or the AWS default chain), resolved the way the
DynamoDB sides resolve theirs (dynamo/database.py), and refreshed with each new client.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from migrator.dynamo.database import Database
from migrator.errors import TransferError

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
BODY_ATTEMPTS = 3  # a body cut off while it is read is asked for again this many times in all


@dataclass(frozen=True)
class ExportBucket:
    database: Database  # the source's region, endpoint, credentials and transport
    bucket: str
    path_style: bool = False  # usePathStyleAccess: http://host/bucket/key, as MinIO and moto need

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def client(self):
        """A boto3 S3 client (standard retries); build one per task, on the executor."""
        import boto3

        creds = self.database.botocore_credentials()
        keys = {}
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            keys = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key,
                    "aws_session_token": frozen.token}
        config = Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=15, read_timeout=120,
                        s3={"addressing_style": "path"} if self.path_style else None)
        return boto3.client("s3", region_name=self.database.region, endpoint_url=self.database.endpoint_url,
                            config=config, **keys)

    def read(self, key: str, client=None) -> bytes:
        """The object's bytes; TransferError naming it when it is missing or cannot be read."""
        client = client or self.client()
        last: Exception | None = None
        for _ in range(BODY_ATTEMPTS):
            try:
                return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                if code in MISSING_CODES:
                    raise TransferError(f"{self.where(key)}: missing from the bucket; the export is incomplete, or "
                                        "source.bucket or manifestKey names another one") from None
                raise TransferError(f"{self.where(key)}: cannot be read: {code}: {error.get('Message')}") from None
            except BotoCoreError as exc:  # connection cut while the body was read: boto3 does not retry that
                last = exc
        raise TransferError(f"{self.where(key)}: cannot be read after {BODY_ATTEMPTS} attempts: {last}")
